"""What the ``rainset`` script does before and after typer runs a command.

Before: ``rainset ingest`` spends ~0.3 s starting Python, importing its command line and letting
typer parse it (typer coerces options through pydantic), and ~0.5 s more importing the driver and
opening the store, before its first file goes to a worker; each worker needs ~0.35 s of CPU to
start (Python, NumPy, OpenCV). :func:`ingest_asked` reads from the raw arguments how many local
workers an ingest asks for, so that the script can start them first
(:func:`rainset.ingest.pool.start_ahead`); the command claims them once typer has parsed the same
arguments (:func:`rainset.ingest.pool.start_workers` hands over a pool of the size it was given
and shuts down any other). A misreading costs only the pool started for nothing.

After: once an ingest has run, :func:`skip_final_collection` spares the interpreter's last
garbage collections over every object SQLAlchemy, typer and the catalog made (~0.1 s of CPU, in
which neither core does any work); atexit handlers and the module teardown still run as usual.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Sequence
from dataclasses import dataclass

from rainset.ranges import WORKERS

INGEST_VALUE_OPTIONS = frozenset({"--store", "--source-name", "--license", "--owner", "--workers", "--engine",
                                  "--scheduler", "--batch-size", "--every", "--max-fps", "--min-change"})
"""The options of ``rainset ingest`` that take a value (a test checks them against the command)."""
INGEST_FLAGS = frozenset({"--link", "--json", "--quiet", "-q"})
"""Its options that take none."""


@dataclass(frozen=True)
class IngestAsk:
    """What an ``ingest`` command line asks of its workers, read before typer parses it."""

    workers: int
    """Local worker processes (the command's default: one per CPU core)."""
    engine: str
    """``local`` or ``dask`` (or whatever was typed: typer checks it later)."""


def ingest_asked(args: Sequence[str]) -> IngestAsk | None:
    """What the arguments (``sys.argv[1:]``) ask of an ingest's workers; None for any other command,
    for ``--help``, and whenever a reading could be wrong (an option it does not know, a missing or
    non-integer value, a count the command refuses): typer then decides alone and the command
    starts its own workers."""
    if not args or args[0] != "ingest":
        return None
    values: dict[str, str] = {}
    rest = iter(args[1:])
    for token in rest:
        if token == "--":
            break
        if not token.startswith("-") or token == "-" or token in INGEST_FLAGS:
            continue
        name, eq, value = token.partition("=")
        if name not in INGEST_VALUE_OPTIONS:
            return None  # --help, a typo, a short form: not ours to guess
        if not eq:
            value = next(rest, None)  # type: ignore[assignment]
            if value is None:
                return None
        values[name] = value
    try:
        workers = int(values["--workers"]) if "--workers" in values else os.cpu_count() or 1
    except ValueError:
        return None
    if not WORKERS.low <= workers <= WORKERS.high:
        return None  # the command refuses it: start nothing
    return IngestAsk(workers=workers, engine=values.get("--engine", "local"))


def skip_final_collection() -> None:
    """Leave every object alive now out of the garbage collections the interpreter makes when it
    exits (``gc.freeze``). Objects in reference cycles then outlive the exit without being
    finalized, so call this only when the command has closed what it opened (files, the catalog)
    and told its workers to stop, as ``rainset ingest`` has when it returns (the worker processes
    are still joined at exit, by ``concurrent.futures``' own exit handler)."""
    gc.freeze()
