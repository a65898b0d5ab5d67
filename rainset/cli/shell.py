"""The shell every ``rainset`` command registers on: the typer app, the shared options and helpers.

Library errors (``rainset.errors.RainsetError``) become one-line messages and exit code 1 (:func:`edge`);
results print as JSON or as their ``lines()`` (:func:`emit`). This module imports no stage module, so
stage modules import it and nothing imports back.
"""

from __future__ import annotations

import copy
import json
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Iterator, Optional, Protocol, Sequence

import typer
from rich.console import Console

from rainset import __version__
from rainset.errors import RainsetError
from rainset.store import Store, find_store

# rich_markup_mode=None: typer's rich help prints a type column for every option, flags included
# ("--link <bool>"); click's plain help shows a flag as a flag. Sub-apps inherit the mode.
app = typer.Typer(help="Curate real rainy captures into a versioned deraining dataset.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  rich_markup_mode=None)
err = Console(stderr=True)
out = Console(soft_wrap=True)

StoreOpt = Annotated[Optional[Path], typer.Option("--store", help="The store (else $RAINSET_STORE, else the "
                                                  "current folder or its parents).", show_default=False)]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON (stable keys, docs/cli.md).")]
QuietOpt = Annotated[bool, typer.Option("-q", "--quiet", help="No progress bar, no summary.")]


def _print_version(value: bool) -> None:
    if value:
        sys.stdout.write(f"rainset {__version__}\n")
        raise typer.Exit()


@app.callback()
def _root(version: Annotated[bool, typer.Option("--version", help="Print the rainset version and exit.",
                                                callback=_print_version, is_eager=True)] = False) -> None:
    """Curate real rainy captures into a versioned deraining dataset."""


def command_name(info: Any) -> str | None:
    """The name a registered typer command or sub-app is called by (typer's own rule)."""
    if getattr(info, "name", None):
        return info.name
    callback = getattr(info, "callback", None)
    return callback.__name__.lower().replace("_", "-") if callback is not None else None


def app_for(args: Sequence[str]) -> typer.Typer:
    """The app to run for these arguments: a copy holding only the command or sub-app they name.

    Typer inspects the signature of every registered command when it builds the command line
    (~0.25 s for rainset's ~45 commands); a copy with one command starts that much sooner and
    parses, helps and fails the same way (the root callback and settings are the same objects).
    Anything else (no command, a root option, an unknown name) gets the whole app.
    """
    if not args or args[0].startswith("-"):
        return app
    commands = [c for c in app.registered_commands if command_name(c) == args[0]]
    groups = [g for g in app.registered_groups if command_name(g) == args[0]]
    if len(commands) + len(groups) != 1:
        return app
    one = copy.copy(app)
    one.registered_commands, one.registered_groups = commands, groups
    return one


class Result(Protocol):
    """What :func:`emit` prints: a library result with stable JSON keys and human-readable lines."""

    def to_dict(self) -> Any: ...

    def lines(self) -> list[str]: ...


def fail(message: str, code: int = 1) -> None:
    """Print ``error: message`` on stderr and exit with ``code``."""
    err.print(f"[red]error:[/red] {message}", highlight=False, markup=True, soft_wrap=True)
    raise typer.Exit(code)


@contextmanager
def edge() -> Iterator[None]:
    """Turn library errors into one-line messages and an exit code."""
    try:
        yield
    except RainsetError as exc:
        fail(str(exc).replace("[", r"\["))


def resolve_store(path: Optional[Path], *, read_only_ok: bool = False) -> Store:
    """The store a ``--store`` option names, else ``$RAINSET_STORE``, else the current folder or its parents
    (a read-only store only for commands that never write: ``read_only_ok``)."""
    return find_store(path, read_only_ok=read_only_ok)


# The ``--json`` output's format version, a key of every object a command prints (docs/cli.md,
# "JSON output"). 2: one object per command, lists under a key (1, unmarked: some commands printed
# bare arrays). Raise it when a key changes meaning or goes away; adding keys keeps it.
JSON_FORMAT_KEY = "json_format"
JSON_FORMAT = 2


def print_json(data: dict[str, Any]) -> None:
    """Print ``data`` as indented JSON with sorted keys and :data:`JSON_FORMAT_KEY` (every ``--json`` output).

    Raises:
        TypeError: ``data`` is not a dict (a command must print one object, lists under a key), or it
            already has the version key.
    """
    if not isinstance(data, dict):
        raise TypeError(f"--json output must be one object (lists go under a key), got {type(data).__name__}")
    if JSON_FORMAT_KEY in data:
        raise TypeError(f"--json output must not set {JSON_FORMAT_KEY!r} itself")
    sys.stdout.write(json.dumps({JSON_FORMAT_KEY: JSON_FORMAT, **data}, indent=2, sort_keys=True, default=str) + "\n")


def say(lines: list[str]) -> None:
    """Print lines of human-readable text as they are (no markup, no highlighting)."""
    for line in lines:
        out.print(line, highlight=False, markup=False)


def emit(result: Result, as_json: bool, quiet: bool = False) -> None:
    """Print a result: its ``to_dict()`` as JSON with ``--json``, else its ``lines()`` unless ``--quiet``."""
    if as_json:
        print_json(result.to_dict())
    elif not quiet:
        say(result.lines())


@contextmanager
def progress_bar(description: str, enabled: bool) -> Iterator[Any]:
    """A rich progress bar on stderr; yields a ``progress(done, total, note=None)`` callback (``note``,
    when given, follows the description, e.g. the step now running)."""
    if not enabled:
        yield None
        return
    # heavy: rich.progress (~70 ms more on `rainset --help`); only needed when a bar shows
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=err, transient=True) as bar:
        task = bar.add_task(description, total=None)

        def update(done: int, total: int, note: str | None = None) -> None:
            text = description if note is None else f"{description}: {note}"
            bar.update(task, completed=done, total=total, description=text)

        yield update
