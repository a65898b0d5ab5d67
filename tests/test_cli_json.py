"""Every ``--json`` output is one object carrying the JSON format version (issue 17): lists sit under
a key, never bare. The commands come from the typer app itself, so a new command with ``--json``
fails here until it is run below (or named, with the test that parses its output, in ELSEWHERE)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from rainset.cli import app
from rainset.cli.shell import JSON_FORMAT, JSON_FORMAT_KEY, print_json
from rainset.synth import generate_dataset

CLI = Path(__file__).resolve().parents[1] / "rainset" / "cli"

# Commands whose --json is parsed by another test (they need torch, trained weights or minutes);
# they print through the same print_json/emit, which the static test below pins.
ELSEWHERE = {
    "demo": "tests/test_cli.py::test_demo_runs_end_to_end",
    "evaluate": "tests/test_nlcl_infer.py::test_evaluate_command_on_pairs_and_without_truth",
    "derain": "tests/test_nlcl_tiled.py (a checkpoint to derain with)",
    "nlcl import-released": "tests/test_nlcl_released.py (the released NLCL weights)",
    "nlcl intrinsic-dim": "tests/test_nlcl_intrinsic_dim.py::test_cli_measures_pairs_and_a_checkpoint_and_prints_the_rule",
    "pairs build": "tests/test_pairs_build.py (needs ingested videos)",
    "pairs show": "tests/test_pairs_build.py::test_list_show_remove",
}


def json_commands() -> set[str]:
    """Every command (and group with its own callback) that takes ``--json``, as typed."""
    found: set[str] = set()

    def walk(cmd, path: list[str]) -> None:  # noqa: ANN001
        if any("--json" in getattr(p, "opts", ()) for p in cmd.params):
            found.add(" ".join(path))
        for name, sub in getattr(cmd, "commands", {}).items():
            walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    return found


def test_print_json_prints_one_versioned_object(capsys: pytest.CaptureFixture[str]) -> None:
    print_json({"items": [1, 2]})
    assert json.loads(capsys.readouterr().out) == {JSON_FORMAT_KEY: JSON_FORMAT, "items": [1, 2]}
    for bad in ([1, 2], "text", {JSON_FORMAT_KEY: 1}):
        with pytest.raises(TypeError):
            print_json(bad)  # type: ignore[arg-type]


def test_cli_modules_print_json_only_through_print_json() -> None:
    """No command writes JSON or raw stdout by itself; the lines of ``labels export`` that write the tasks
    (a Label Studio file, not --json output) say so with a ``# not --json`` comment."""
    offenders = [f"{p.name}:{n}: {line.strip()}" for p in sorted(CLI.glob("*.py")) if p.name != "shell.py"
                 for n, line in enumerate(p.read_text().splitlines(), 1)
                 if re.search(r"json\.dumps?\(|typer\.echo|(?<![\w.])print\(|sys\.stdout", line)
                 and "# not --json" not in line]
    assert offenders == []


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("cli-json")
    generate_dataset(base / "caps", 8, seed=5, size=(160, 120), raw_pairs=0, bursts=1, near_duplicates=1,
                     exact_copies=0, corrupt=True)
    return base


@pytest.mark.slow
def test_every_json_command_prints_one_object_with_the_version(store: Path) -> None:
    runner = CliRunner()
    s = ["--store", str(store / "s")]
    ran: dict[str, dict] = {}

    def run(*args: str, codes: tuple[int, ...] = (0,)) -> dict:
        words = [a for a in args if not a.startswith("-")]
        name = next((" ".join(words[:n]) for n in (2, 1) if " ".join(words[:n]) in commands), None)
        assert name, f"{args}: not a --json command"
        res = runner.invoke(app, [*args, "--json"])
        assert res.exit_code in codes, f"{args}: {res.output}"
        data = json.loads(res.stdout)
        assert isinstance(data, dict) and data[JSON_FORMAT_KEY] == JSON_FORMAT, args
        ran[name] = data
        return data

    commands = json_commands()
    run("init", str(store / "s"))
    run("ingest", str(store / "caps"), *s, "--workers", "0", "-q")
    run("status", *s)
    run("verify", *s, "-q")
    assert run("rejects", *s)["rejects"]
    run("dedupe", *s, "-q")
    groups = run("groups", *s)["groups"]
    cluster = next(g for g in groups if len(g["members"]) >= 2)
    a, b = (m["capture_id"] for m in cluster["members"][:2])
    run("groups", "representative", b, *s)
    run("groups", "not-duplicate", a, b, *s)
    run("groups", "merge", a, b, *s)
    run("groups", "split", a, *s)
    assert len(run("groups", "corrections", *s)["corrections"]) == 4
    run("users", "add", "cur", "--role", "admin", *s)
    run("users", "token", "cur", *s)
    run("users", "set-email", "cur", "cur@example.org", *s)
    assert [u["name"] for u in run("users", "list", *s)["users"]] == ["cur"]
    run("labels", "set", "heavy", "--where", "iso >= 0", "--as", "cur", *s, "-q")
    run("labels", "export", "--out", str(store / "tasks.json"), *s)
    run("labels", "import", str(store / "tasks.json"), *s)
    run("labels", "release", *s)
    run("labels", "agreement", *s)
    run("labels", "review", *s)
    run("suggest", *s, "-q")
    run("suggest", "show", a, *s)
    run("suggest", "model", *s)
    run("export", "v1", "--include-unlabelled", *s, "-q")
    run("export", "v2", "--include-unlabelled", "--seed", "3", *s, "-q")
    assert [v["name"] for v in run("versions", *s)["versions"]] == ["v1", "v2"]
    run("diff", "v1", "v2", *s)
    run("leakage", "v2", *s, codes=(0, 2))
    run("shards", "v2", "--name", "sh", "--workers", "1", *s, "-q")
    run("report", "v2", "--out", str(store / "r.html"), *s, "-q")
    run("remove", a, "--reason", "a face", *s, "-q")
    run("gc", "--yes", *s)
    assert run("pairs", "list", *s)["pairsets"] == []
    run("train", "nlcl", "--preset", "cpu-smoke", "--show-config")
    run("nlcl", "train", "--preset", "cpu-smoke", "--show-config")
    run("users", "disable", "cur", *s)
    assert set(ran) | set(ELSEWHERE) == commands, "a --json command is neither run here nor listed in ELSEWHERE"
