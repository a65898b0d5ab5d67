"""Worker processes: apply a function to many items, in order, on spawned local processes or Dask.

Used by ingest (the per-file stage), shards (rendering) and rainstats (measuring). Each runner
yields results in the order of the items it was given, keeping only a bounded window of work in
flight, so that the driver can write them in deterministic batches. :func:`worker_init` sets up
each worker process (one OpenCV thread, quiet C decoders).
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from functools import partial
from typing import Any, Callable, Iterator, Sequence

import cv2

from rainset.errors import ConfigError


def run_inline(fn: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[Any]:
    """Run in this process (``--workers 0`` or 1): simplest, and what tests of the stage use."""
    for item in items:
        yield fn(item)


def run_local(fn: Callable[[Any], Any], items: Sequence[Any], workers: int,
              initializer: Callable[[], None] | None = None) -> Iterator[Any]:
    """Run on ``workers`` spawned processes (spawn: OpenCV's thread pool deadlocks after fork)."""
    ctx = multiprocessing.get_context("spawn")
    window = max(4, workers * 4)
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=initializer) as pool:
        pending: deque[Future[Any]] = deque()
        it = iter(items)
        for item in it:
            pending.append(pool.submit(fn, item))
            if len(pending) >= window:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def run_dask(fn: Callable[[Any], Any], items: Sequence[Any], scheduler: str | None, workers: int,
             initializer: Callable[[], None] | None = None) -> Iterator[Any]:
    """Run on a Dask cluster at ``scheduler`` (``tcp://host:8786``), or a new LocalCluster."""
    try:
        from distributed import Client, LocalCluster  # optional: the dask extra
    except ImportError as exc:
        raise ConfigError("the Dask engine needs the dask extra: pip install 'rainset[dask]'") from exc

    cluster = None
    if scheduler:
        try:
            client = Client(scheduler, timeout="20s")
        except (OSError, TimeoutError) as exc:
            raise ConfigError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from exc
    else:
        cluster = LocalCluster(n_workers=max(1, workers), threads_per_worker=1, processes=True,
                               dashboard_address=None)
        client = Client(cluster)
    try:
        if initializer is not None:
            client.run(initializer)
        n_workers = max(1, len(client.scheduler_info().get("workers", {})))
        window = max(8, n_workers * 8)
        pending: deque[Any] = deque()
        for i, item in enumerate(items):
            pending.append(client.submit(fn, item, key=f"rainset-ingest-{i}-{id(items)}", pure=False))
            if len(pending) >= window:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def run(fn: Callable[..., Any], items: Sequence[Any], *, engine: str = "local", workers: int = 1,
        scheduler: str | None = None, initializer: Callable[[], None] | None = None,
        dask_initializer: Callable[[], None] | None = None, **kwargs: Any) -> Iterator[Any]:
    """Apply ``fn(item, **kwargs)`` to every item, yielding results in order.

    ``initializer`` runs once in each local worker process, ``dask_initializer`` on each Dask worker.
    """
    bound = partial(fn, **kwargs) if kwargs else fn
    if engine == "local":
        if workers <= 1:
            return run_inline(bound, items)
        return run_local(bound, items, workers, initializer)
    if engine == "dask":
        return run_dask(bound, items, scheduler, workers, dask_initializer)
    raise ConfigError(f"unknown engine {engine!r}: use 'local' or 'dask'")


def worker_init(quiet_stderr: bool = True) -> None:
    """Set up a worker process: one OpenCV thread (its pool deadlocks in forked workers).

    The C decoders (libjpeg, libpng, LibRaw) print warnings straight to file descriptor 2, over
    the driver's progress bar; with ``quiet_stderr`` (local pool workers, which print nothing
    else) they go to /dev/null. What they mean is recorded on the file (a reject reason or a
    warning), and Python errors still reach the driver as exceptions. Dask workers keep their
    stderr: it carries the cluster's own logs.
    """
    cv2.setNumThreads(1)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if quiet_stderr and os.environ.get("RAINSET_WORKER_STDERR") != "1":
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)


def dask_worker_init() -> None:
    """``worker_init`` for Dask workers: threads only, logs untouched."""
    worker_init(quiet_stderr=False)
