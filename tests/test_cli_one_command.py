"""``rainset CMD`` runs a copy of the app cut to CMD (typer then inspects one command, not ~45)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from rainset.cli import app
from rainset.cli.shell import app_for, command_name

NAMES = sorted({command_name(i) for i in app.registered_commands + app.registered_groups})


def _run(the_app, args: list[str]) -> tuple[int, str]:
    result = CliRunner().invoke(the_app, args, prog_name="rainset")
    return result.exit_code, result.output


def test_every_command_and_group_is_found_alone() -> None:
    assert {"ingest", "status", "labels", "pairs", "suggest"} <= set(NAMES)
    for name in NAMES:
        one = app_for([name, "--help"])
        assert one is not app
        assert [command_name(i) for i in one.registered_commands + one.registered_groups] == [name]
    assert app.registered_commands and len(app.registered_commands) > 1  # the real app is left whole


@pytest.mark.parametrize("args", [[], ["--help"], ["--version"], ["no-such-command"], ["ingst", "x"]])
def test_no_command_or_an_unknown_one_gets_the_whole_app(args: list[str]) -> None:
    assert app_for(args) is app


@pytest.mark.parametrize("name", NAMES)
def test_help_and_errors_are_the_same_as_the_whole_apps(name: str) -> None:
    for args in ([name, "--help"], [name, "--no-such-option"]):
        assert _run(app_for(args), args) == _run(app, args)
