"""The ``rainset`` command line: a thin shell over the library.

:mod:`rainset.cli.shell` holds the typer ``app``, the shared options and helpers (``edge``, ``emit``,
``progress_bar``, ``resolve_store``); one module per stage registers its commands on that app
(:data:`STAGE_MODULES`). ``from rainset.cli import app`` gives the app with every command. The
``rainset`` script (:func:`main`) imports only the module of the command it runs, and starts an
ingest's workers before anything else (:mod:`rainset.cli.ahead`). Library errors become one-line
messages and exit code 1; ``verify`` exits 2 when it finds missing or damaged objects. Heavy imports
happen inside the commands so that ``rainset --help`` starts fast.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rainset.cli.ahead import ingest_asked, skip_final_collection

if TYPE_CHECKING:
    import typer

__all__ = ["app", "main", "load_app", "STAGE_MODULES", "COMMAND_MODULES"]

STAGE_MODULES: tuple[str, ...] = ("store", "demo", "annotate", "dedupe", "manifests", "nlcl", "shards", "suggest",
                                  "pairs")
"""The modules under ``rainset.cli`` that register commands, in the order of ``rainset --help``."""

COMMAND_MODULES: dict[str, str] = {
    **dict.fromkeys(("init", "ingest", "status", "verify", "rejects"), "store"),
    "demo": "demo",
    **dict.fromkeys(("users", "labels", "annotate"), "annotate"),
    **dict.fromkeys(("dedupe", "groups"), "dedupe"),
    **dict.fromkeys(("export", "versions", "diff", "leakage", "report", "remove", "gc"), "manifests"),
    **dict.fromkeys(("evaluate", "derain", "train", "nlcl"), "nlcl"),
    "shards": "shards", "suggest": "suggest", "pairs": "pairs",
}
"""Which module registers each top-level command or group (a test checks it against the app)."""


def load_app(args: Sequence[str] = ()) -> typer.Typer:
    """The app to run for ``args``: with only the command they name registered (see
    :func:`rainset.cli.shell.app_for`), or every command when they name none or one not listed."""
    module = COMMAND_MODULES.get(args[0]) if args else None
    for name in (module,) if module else STAGE_MODULES:
        importlib.import_module(f"rainset.cli.{name}")  # registers its commands
    from rainset.cli.shell import app_for  # after the commands: typer is imported with them

    return app_for(args)


def __getattr__(name: str) -> Any:
    if name == "app":  # ``from rainset.cli import app``: the app with every command
        return load_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main() -> None:
    """Entry point of the ``rainset`` script (the app, cut to the one command the arguments name)."""
    args = sys.argv[1:]
    asked = ingest_asked(args)
    ahead = None
    if asked is not None and asked.engine == "local":
        from rainset.ingest import pool as ahead  # multiprocessing (~20 ms): only an ingest starts workers here

        ahead.start_ahead(asked.workers)  # they start while typer and the driver are imported
    try:
        load_app(args)()
    finally:
        if ahead is not None:
            ahead.discard_ahead()  # unless the command claimed them
        if asked is not None:
            skip_final_collection()  # the run has closed its catalog and stopped its workers
