"""The ingest workers as the driver knows them: the stage's functions by name, and an early start.

Imports nothing heavy (not even NumPy), so that the console command can start the worker
processes first and let them start up while it imports its command line, opens the store and
imports the driver.
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor

from rainset.workers import ByName, start_pool

PROCESS_UNIT = ByName("rainset.ingest.stage", "process_unit")
"""The stage's per-unit function, as the workers are handed it (imported there, not here)."""
INIT_WORKER = ByName("rainset.ingest.stage", "init_worker")
"""The stage's worker initializer, likewise."""

_ahead: dict[int, ProcessPoolExecutor] = {}
"""At most one pool started by :func:`start_ahead` and not yet claimed, by its worker count."""


def start_workers(workers: int, engine: str = "local") -> ProcessPoolExecutor | None:
    """The local ingest worker processes, started now (:func:`rainset.workers.start_pool`), for
    ``ingest(..., pool=)``; None when the run uses no local pool (Dask, or one worker: in process).

    A pool of the same size started ahead (:func:`start_ahead`) is handed over instead; one of
    another size is shut down. ``rainset ingest`` calls this before it opens the store and imports
    the driver (SQLAlchemy, the catalog: ~0.5 s on one core), so that the workers' own start-up
    runs beside that.
    """
    ready = _ahead.pop(workers, None) if engine == "local" else None
    discard_ahead()
    if ready is not None:
        return ready
    if engine != "local" or workers <= 1:
        return None
    return start_pool(workers, INIT_WORKER, off_one_core=True)


def start_ahead(workers: int) -> ProcessPoolExecutor | None:
    """Start ``workers`` (2 or more) ingest worker processes now, for a later :func:`start_workers`
    to claim: the console command does this before it has even imported its command line.
    Returns the pool (None for fewer than 2 workers, which run in process)."""
    discard_ahead()
    if workers <= 1:
        return None
    _ahead[workers] = pool = start_pool(workers, INIT_WORKER, off_one_core=True)
    return pool


def discard_ahead() -> None:
    """Shut down a pool started ahead that nothing claimed (the command failed, or asked for
    another size); its processes exit once started."""
    while _ahead:
        _ahead.popitem()[1].shutdown(wait=False, cancel_futures=True)
