"""Runners: apply the per-unit stage to many units, in order, on local processes or Dask.

Each runner yields results in the order of the units it was given, keeping only a bounded
window of work in flight, so that the driver can write them in deterministic batches.
"""

from __future__ import annotations

import multiprocessing
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from functools import partial
from typing import Any, Callable, Iterator, Sequence

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
        from distributed import Client, LocalCluster
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
