"""The ingest workers as the driver knows them: the stage's functions by name, and an early start.

Imports nothing heavy (not even NumPy), so that the console command can start the worker
processes first and let them start up while it opens the store and imports the driver.
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor

from rainset.workers import ByName, start_pool

PROCESS_UNIT = ByName("rainset.ingest.stage", "process_unit")
"""The stage's per-unit function, as the workers are handed it (imported there, not here)."""
INIT_WORKER = ByName("rainset.ingest.stage", "init_worker")
"""The stage's worker initializer, likewise."""


def start_workers(workers: int, engine: str = "local") -> ProcessPoolExecutor | None:
    """The local ingest worker processes, started now (:func:`rainset.workers.start_pool`), for
    ``ingest(..., pool=)``; None when the run uses no local pool (Dask, or one worker: in process).

    ``rainset ingest`` starts them before it opens the store and imports the driver (SQLAlchemy,
    the catalog: ~0.5 s on one core), so that the workers' own start-up runs beside that.
    """
    if engine != "local" or workers <= 1:
        return None
    return start_pool(workers, INIT_WORKER)
