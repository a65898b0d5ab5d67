"""Worker processes: apply a function to many items, in order, on spawned local processes or Dask.

Used by ingest (the per-file stage), shards (rendering) and rainstats (measuring). Each runner
yields results in the order of the items it was given, keeping only a bounded window of work in
flight, so that the driver can write them in deterministic batches. :func:`worker_init` sets up
each worker process (one OpenCV thread, quiet C decoders).

A local worker that dies (SIGKILL from the OOM killer, a crash in a C decoder) breaks the whole
process pool: the items it held, and those queued with it, are then retried one at a time on a
single spawned process, so the one that kills its worker again is known; ``on_died`` turns it
into a result and the run goes on with a new pool. On Dask the same holds for a task whose worker
died (``KilledWorker``): it is retried alone, then handed to ``on_died`` (see :func:`run_dask`).

Every local process the project spawns comes from :func:`spawn_context`: under the ``rainset``
console script its workers do not re-run the script (and import the whole CLI) at start-up, and
each starts with one thread for NumPy's BLAS and OpenMP (:func:`one_thread_children`).
"""

from __future__ import annotations

import importlib
import os
import signal
import sys
import threading
import time
from collections import deque
from contextlib import contextmanager, nullcontext, suppress
from dataclasses import dataclass
from importlib.machinery import ModuleSpec
from multiprocessing.context import SpawnContext, SpawnProcess
from types import FunctionType, ModuleType
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import partial
from typing import Any, Callable, Iterator, Sequence

from rainset.errors import ConfigError


def _defines_nothing(module: ModuleType) -> bool:
    """True when no function or class was defined in ``module`` itself (only imported into it)."""
    name = module.__name__
    return not any(isinstance(v, (type, FunctionType)) and getattr(v, "__module__", None) == name
                   for v in vars(module).values())


# The name a spawned child is told for the parent's main module when it need not run it: spawn's
# preparation (multiprocessing.spawn.prepare) imports a main module given by name, except one named
# ``__main__`` or ``*.__main__`` (a package's ``python -m`` entry), which it leaves alone.
SKIPPED_MAIN = "rainset.__main__"


@contextmanager
def main_not_rerun() -> Iterator[None]:
    """While processes start here, spawned children do not re-run the parent's main script.

    Spawn prepares each child by running the parent's ``__main__`` again by path (as
    ``__mp_main__``) when that module has no ``__spec__`` (a script), so that functions defined in
    it can be unpickled there. The ``rainset`` console script (``from rainset.cli import main``)
    defines none, yet running it imports the whole CLI (typer, rich): ~0.1 s of CPU per worker.
    When the main module is such a script (run by path, no function or class of its own), its
    ``__spec__`` names :data:`SKIPPED_MAIN` while processes start, which spawn does not import: the
    documented ``__main__.__spec__`` of ``python -m rainset``. A script that defines functions
    (which its workers may need) is left as it is.
    """
    main = sys.modules.get("__main__")
    if main is None or getattr(main, "__spec__", None) is not None or not _defines_nothing(main):
        yield
        return
    main.__spec__ = ModuleSpec(SKIPPED_MAIN, None)  # type: ignore[assignment]
    try:
        yield
    finally:
        main.__spec__ = None  # type: ignore[assignment]


# Thread pools of the numerical libraries a worker loads (NumPy's OpenBLAS, OpenMP, MKL): sized
# from these when the library loads, so they must be in the environment the child starts with.
ONE_THREAD_ENV = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


@contextmanager
def one_thread_children() -> Iterator[None]:
    """While processes start here, they start with one thread for each numerical library's pool.

    A worker is one of several processes sharing the cores, so a BLAS pool of its own only
    competes with the others: OpenBLAS starts one thread per core when NumPy is imported, costing
    every spawned worker ~0.1-0.2 s of CPU at start-up (docs/benchmarks.md). A variable the user
    set is left as it is; this process's own environment is restored afterwards.
    """
    added = [name for name in ONE_THREAD_ENV if name not in os.environ]
    for name in added:
        os.environ[name] = "1"
    try:
        yield
    finally:
        for name in added:
            os.environ.pop(name, None)


# While set (:func:`starting_off_one_core`), the cores processes started here run on until their
# start-up is done, and the environment variable through which they learn all the cores to go back to.
_START_CORES: set[int] | None = None
CORES_ENV = "RAINSET_WORKER_CORES"
_HELD_OFF: dict[int, set[int]] = {}  # pid of a process started off one core -> the cores it may go back to


@contextmanager
def starting_off_one_core() -> Iterator[None]:
    """While processes start here, they start on every core this process may use but one, and
    move onto all of them when :func:`worker_init` has run (after their imports), or when this
    process hands them work (:func:`run` calls :func:`release_held_cores`), whichever comes first.

    A driver that starts its workers before its own set-up (imports, opening the store) is then
    on the critical path: on 2 cores, three processes starting at once leave it 2/3 of a core,
    and its first item waits for it. Kept off one core, the workers start on the others and the
    driver has that one to itself. Only for pools whose initializer calls :func:`worker_init`
    (else the workers would stay off that core); nothing happens with one core or without
    ``os.sched_setaffinity`` (Linux only).
    """
    global _START_CORES
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_setaffinity") else []
    if len(cores) < 2 or _START_CORES is not None:
        yield
        return
    _START_CORES, os.environ[CORES_ENV] = set(cores[1:]), ",".join(map(str, cores))
    try:
        yield
    finally:
        _START_CORES = None
        os.environ.pop(CORES_ENV, None)


class ScriptlessSpawnProcess(SpawnProcess):
    """A spawned process that starts under :func:`main_not_rerun` and :func:`one_thread_children`
    (and off one core under :func:`starting_off_one_core`)."""

    def start(self) -> None:
        with main_not_rerun(), one_thread_children():
            super().start()
        if _START_CORES is not None and self.pid is not None:
            try:
                os.sched_setaffinity(self.pid, _START_CORES)
            except OSError:  # it has already exited, or the cores changed: it starts anywhere
                return
            _HELD_OFF[self.pid] = {int(c) for c in os.environ[CORES_ENV].split(",")}


def release_held_cores() -> None:
    """Let every process started off one core (:func:`starting_off_one_core`) use all its cores
    now: the driver is done with its own set-up and hands out work, so the core kept for it would
    otherwise sit idle while those workers finish starting on the others."""
    while _HELD_OFF:
        pid, cores = _HELD_OFF.popitem()
        with suppress(OSError):  # it has exited, or moved back itself (worker_init)
            os.sched_setaffinity(pid, cores)


class ScriptlessSpawnContext(SpawnContext):
    """The spawn context whose processes start under :func:`main_not_rerun`."""

    Process = ScriptlessSpawnProcess


def spawn_context() -> ScriptlessSpawnContext:
    """The start context for every local process pool of the project (spawn: OpenCV's thread pool
    deadlocks after fork); a ``multiprocessing`` context, so it also serves ``ProcessPoolExecutor``
    (``mp_context=``) and PyTorch's ``DataLoader`` (``multiprocessing_context=``)."""
    return ScriptlessSpawnContext()


@dataclass(frozen=True)
class ByName:
    """A module-level function named by its module and name, imported where it is first called.

    It pickles as the two strings, so a driver can hand its workers a function (``process_unit``)
    or an initializer without importing that function's module, and all it imports, itself.
    """

    module: str
    name: str

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return getattr(importlib.import_module(self.module), self.name)(*args, **kwargs)


def start_pool(workers: int, initializer: Callable[[], None] | None = None, *,
               off_one_core: bool = False) -> ProcessPoolExecutor:
    """A local pool of ``workers`` spawned processes, all started now rather than as work arrives.

    Spawned processes take ~0.3 s each to start (Python, NumPy, OpenCV); started before the driver's
    own slow set-up (imports, opening the catalog, listing the sources), they start on the cores
    the driver leaves idle — all but one with ``off_one_core`` (:func:`starting_off_one_core`;
    the initializer must call :func:`worker_init`). Hand the pool to :func:`run` (``pool=``), which
    shuts it down; or shut it down yourself if the work never starts.
    """
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=spawn_context(), initializer=initializer)
    with starting_off_one_core() if off_one_core else nullcontext():
        for _ in range(workers):
            pool.submit(os.getpid)  # a spawn pool starts one process per submitted task, up to max_workers
    return pool


def run_inline(fn: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[Any]:
    """Run in this process (``--workers 0`` or 1): simplest, and what tests of the stage use."""
    for item in items:
        yield fn(item)


DiedFn = Callable[[Any, str], Any]


def exit_description(exitcode: int | None) -> str:
    """How a process ended, in words: ``killed by SIGKILL``, ``exited with status 3``."""
    if exitcode is None:
        return "ended for an unknown reason"
    if exitcode < 0:
        try:
            return f"killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"killed by signal {-exitcode}"
    return f"exited with status {exitcode}"


def _solo_main(conn: Any, fn: Callable[[Any], Any], initializer: Callable[[], None] | None) -> None:
    """The loop of a :class:`SoloWorker` process: one item in, one ``(ok, value)`` out."""
    if initializer is not None:
        initializer()
    while True:
        try:
            item = conn.recv()
        except EOFError:
            return
        try:
            out = (True, fn(item))
        except Exception as exc:  # noqa: BLE001 - handed to the driver, which raises it
            out = (False, exc)
        conn.send(out)


class SoloWorker:
    """One spawned process that runs items one at a time, and tells when it died on one."""

    def __init__(self, fn: Callable[[Any], Any], initializer: Callable[[], None] | None = None) -> None:
        self._fn, self._initializer = fn, initializer
        self._proc: Any = None
        self._conn: Any = None

    def _start(self) -> None:
        ctx = spawn_context()
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_solo_main, args=(child, self._fn, self._initializer), daemon=True)
        self._proc.start()
        child.close()

    def call(self, item: Any) -> tuple[bool, Any]:
        """``(True, fn(item))``, or ``(False, how the process died)``; fn's own exceptions are raised."""
        if self._proc is None:
            self._start()
        try:
            self._conn.send(item)
            ok, value = self._conn.recv()
        except (EOFError, OSError):
            self._proc.join()
            why = exit_description(self._proc.exitcode)
            self._conn.close()
            self._proc = self._conn = None
            return False, why
        if not ok:
            raise value
        return True, value

    def close(self) -> None:
        if self._proc is not None:
            self._conn.close()
            self._proc.join(timeout=10)
            if self._proc.is_alive():
                self._proc.kill()
                self._proc.join()
            self._proc = self._conn = None


def _broken(future: Future[Any]) -> bool:
    return isinstance(future.exception(), BrokenProcessPool)


def run_local(fn: Callable[[Any], Any], items: Sequence[Any], workers: int,
              initializer: Callable[[], None] | None = None, on_died: DiedFn | None = None,
              window: int | None = None, pool: ProcessPoolExecutor | None = None) -> Iterator[Any]:
    """Run on ``workers`` spawned processes (spawn: OpenCV's thread pool deadlocks after fork).

    ``pool``: processes already started by :func:`start_pool` (with the same initializer), used
    first and shut down here.

    When a worker dies, every item not finished by then is retried alone, in order, on a
    :class:`SoloWorker`; an item that kills that one too yields ``on_died(item, why)`` (without
    ``on_died`` the pool's BrokenProcessPool is raised). Then a new pool takes the rest.
    """
    ctx = spawn_context()
    given = pool
    window = max(window or 0, 4, workers * 4)
    release_held_cores()  # work goes out now: workers still starting may use the driver's core too
    it = iter(items)
    solo: SoloWorker | None = None
    try:
        while True:
            pending: deque[tuple[Any, Future[Any]]] = deque()
            started = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=initializer) \
                if given is None else given
            given = None
            with started as pool:
                exhausted = True
                for item in it:
                    try:
                        pending.append((item, pool.submit(fn, item)))
                    except BrokenProcessPool:
                        pending.append((item, None))  # type: ignore[arg-type]
                        exhausted = False
                        break
                    if len(pending) >= window:
                        if _broken(pending[0][1]):
                            exhausted = False
                            break
                        yield pending.popleft()[1].result()
                while pending and pending[0][1] is not None and not _broken(pending[0][1]):
                    future = pending.popleft()[1]
                    if exhausted and not pending:
                        # The last result is in: let the workers exit while the caller uses it.
                        pool.shutdown(wait=False)
                    yield future.result()
                if pending:
                    exhausted = False
            if exhausted:
                return
            if on_died is None:
                raise BrokenProcessPool("a worker process died; no on_died handler to record the item it held")
            solo = solo or SoloWorker(fn, initializer)
            for item, future in pending:
                if future is not None and future.done() and not _broken(future):
                    yield future.result()  # finished before the pool broke
                    continue
                ok, value = solo.call(item)
                yield value if ok else on_died(item, value)
    finally:
        if solo is not None:
            solo.close()


DASK_DIED = "a Dask worker died running it: KilledWorker"


def run_dask(fn: Callable[[Any], Any], items: Sequence[Any], scheduler: str | None, workers: int,
             initializer: Callable[[], None] | None = None, on_died: DiedFn | None = None,
             window: int | None = None) -> Iterator[Any]:
    """Run on a Dask cluster at ``scheduler`` (``tcp://host:8786``), or a new LocalCluster.

    A worker that dies (its nanny starts a new one) fails the tasks it held with ``KilledWorker``
    once the scheduler gave up on them (at once on the LocalCluster made here, whose
    ``allowed-failures`` is 0; after that many other workers died on it on a cluster of your own).
    Then nothing more is submitted until every task in flight has ended, and each one that failed
    so is retried alone (nothing else in flight); one that kills its worker again yields
    ``on_died(item, why)`` (without ``on_died`` the ``KilledWorker`` is raised).
    """
    try:
        import dask
        from distributed import Client, LocalCluster, wait  # optional: the dask extra
        from distributed.scheduler import KilledWorker
    except ImportError as exc:
        raise ConfigError("the Dask engine needs the dask extra: pip install 'rainset[dask]'") from exc

    cluster = None
    if scheduler:
        try:
            client = Client(scheduler, timeout="20s")
        except (OSError, TimeoutError) as exc:
            raise ConfigError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from exc
    else:
        with dask.config.set({"distributed.scheduler.allowed-failures": 0}):  # we retry, alone, ourselves
            cluster = LocalCluster(n_workers=max(1, workers), threads_per_worker=1, processes=True,
                                   dashboard_address=None)
        client = Client(cluster)
    tag = f"{os.getpid()}-{id(items)}-{time.monotonic_ns()}"
    counter = iter(range(1 << 62))

    def submit(item: Any) -> Any:
        return client.submit(fn, item, key=f"rainset-ingest-{tag}-{next(counter)}", pure=False)

    def alone(item: Any) -> Any:
        try:
            return submit(item).result()
        except KilledWorker:
            assert on_died is not None
            return on_died(item, DASK_DIED)

    def head(pending: deque[tuple[Any, Any]]) -> Iterator[Any]:
        """The first pending result; after a worker death, every pending result."""
        try:
            value = pending[0][1].result()
        except KilledWorker:
            if on_died is None:
                raise
            wait([f for _, f in pending])
            # Fetch every result first: a retry that kills a worker again loses what it held.
            outcomes: list[tuple[Any, bool, Any]] = []
            while pending:
                item, future = pending.popleft()
                try:
                    outcomes.append((item, True, future.result()))  # a task's own error is raised
                except KilledWorker:
                    outcomes.append((item, False, None))
            for item, ok, value in outcomes:
                yield value if ok else alone(item)
            return
        pending.popleft()
        yield value

    try:
        if initializer is not None:
            client.run(initializer)
        n_workers = max(1, len(client.scheduler_info().get("workers", {})))
        window = max(window or 0, 8, n_workers * 8)
        pending: deque[tuple[Any, Any]] = deque()
        for item in items:
            pending.append((item, submit(item)))
            if len(pending) >= window:
                yield from head(pending)
        while pending:
            yield from head(pending)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def run(fn: Callable[..., Any], items: Sequence[Any], *, engine: str = "local", workers: int = 1,
        scheduler: str | None = None, initializer: Callable[[], None] | None = None,
        dask_initializer: Callable[[], None] | None = None, on_died: DiedFn | None = None,
        window: int | None = None, pool: ProcessPoolExecutor | None = None, **kwargs: Any) -> Iterator[Any]:
    """Apply ``fn(item, **kwargs)`` to every item, yielding results in order.

    ``initializer`` runs once in each local worker process, ``dask_initializer`` on each Dask worker.
    ``on_died(item, why)`` gives the result of an item whose worker process died on it even
    when retried alone (``why``: ``killed by SIGKILL``, …); see :func:`run_local` and :func:`run_dask`.
    ``window``: at least this many items in flight (the runners' own minimum is a few per worker), so
    that workers keep busy while the caller spends time on the results (ingest: a catalog batch).
    ``pool``: local processes already started (:func:`start_pool`); inline and Dask runs shut it down unused.
    """
    bound = partial(fn, **kwargs) if kwargs else fn
    if pool is not None and (engine != "local" or workers <= 1):
        pool.shutdown(wait=False, cancel_futures=True)
        pool = None
    if engine == "local":
        if workers <= 1:
            return run_inline(bound, items)
        return run_local(bound, items, workers, initializer, on_died, window, pool)
    if engine == "dask":
        return run_dask(bound, items, scheduler, workers, dask_initializer, on_died, window)
    raise ConfigError(f"unknown engine {engine!r}: use 'local' or 'dask'")


PARENT_POLL_SECONDS = 1.0


def exit_with_parent(poll: float = PARENT_POLL_SECONDS) -> threading.Thread:
    """Make this worker process exit when the process that started it is gone.

    A pool's workers wait for work on a pipe their parent also holds open, so a driver killed
    outright (SIGKILL, the OOM killer) would leave them waiting for ever, holding their memory. A
    daemon thread looks at the parent process id every ``poll`` seconds; once it has changed (the
    worker was handed to init or a subreaper) the worker ends at once, with status 1.
    """
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll)
        os._exit(1)

    thread = threading.Thread(target=watch, name="rainset-parent-watch", daemon=True)
    thread.start()
    return thread


def worker_init(quiet_stderr: bool = True, watch_parent: bool = True) -> None:
    """Set up a worker process: one OpenCV thread (its pool deadlocks in forked workers).

    The C decoders (libjpeg, libpng, LibRaw) print warnings straight to file descriptor 2, over
    the driver's progress bar; with ``quiet_stderr`` (local pool workers, which print nothing
    else) they go to /dev/null. What they mean is recorded on the file (a reject reason or a
    warning), and Python errors still reach the driver as exceptions. Dask workers keep their
    stderr: it carries the cluster's own logs.
    """
    import cv2  # heavy (~0.1 s): only worker processes need it, not the drivers that import this module

    if watch_parent:
        exit_with_parent()
    cores = os.environ.pop(CORES_ENV, None)
    if cores:  # started off one core (starting_off_one_core): its start-up is over
        with suppress(OSError, ValueError):
            os.sched_setaffinity(0, {int(c) for c in cores.split(",")})
    cv2.setNumThreads(1)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if quiet_stderr and os.environ.get("RAINSET_WORKER_STDERR") != "1":
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)


def dask_worker_init() -> None:
    """``worker_init`` for Dask workers: threads only, logs untouched."""
    worker_init(quiet_stderr=False, watch_parent=False)
