"""The ``rainset`` command line: a thin shell over the library.

:mod:`rainset.cli.shell` holds the typer ``app``, the shared options and helpers (``edge``, ``emit``,
``progress_bar``, ``resolve_store``); one module per stage registers its commands on that app, and this
package imports them all. Library errors become one-line messages and exit code 1; ``verify`` exits 2
when it finds missing or damaged objects. Heavy imports happen inside the commands so that
``rainset --help`` starts fast.
"""

from __future__ import annotations

# Importing a stage module registers its commands; this order is the order of ``rainset --help``.
from rainset.cli import store, demo, annotate, dedupe, manifests, nlcl, shards, suggest, pairs  # noqa: F401, I001
import sys

from rainset.cli.shell import app, app_for

__all__ = ["app", "main"]


def main() -> None:
    """Entry point of the ``rainset`` script (the app, cut to the one command the arguments name)."""
    app_for(sys.argv[1:])()
