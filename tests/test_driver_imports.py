"""The ingest driver starts light: its workers are handed functions by name and started early.

The console command's fixed start-up counts against ingest speed (issue 19): the driver process
must not import what only the workers use (OpenCV, PyAV, the decoders) nor Alembic when the
catalog is already at the newest schema.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rainset.ingest.pool import INIT_WORKER, PROCESS_UNIT, start_workers
from rainset.workers import CORES_ENV, ByName, run, start_pool, worker_init

ROOT = Path(__file__).resolve().parents[1]
WORKER_ONLY = ("numpy", "cv2", "av", "PIL", "alembic", "rawpy", "rainset.ingest.stage", "rainset.capture")


def _loaded_after(code: str) -> list[str]:
    probe = f"{code}\nimport sys\nprint(' '.join(m for m in {WORKER_ONLY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def test_the_driver_imports_nothing_only_workers_need() -> None:
    assert _loaded_after("import rainset.ingest.pipeline, rainset.ingest.stage_io, rainset.cli") == []


def test_the_workers_can_start_before_numpy_or_the_catalog_is_imported() -> None:
    probe = ("import sys\nimport rainset.ingest.pool\n"
             "print(' '.join(m for m in ('numpy', 'sqlalchemy', 'rainset.records') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.split() == [], out.stdout + out.stderr


def numpy_threads(_item: int) -> tuple[str | None, int]:
    """Run in a spawned worker: its BLAS setting, and its threads once NumPy is loaded."""
    import numpy  # noqa: F401 - loading it starts OpenBLAS's pool, sized from the environment

    return os.environ.get("OPENBLAS_NUM_THREADS"), len(os.listdir("/proc/self/task"))


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="counts threads in /proc (Linux)")
def test_spawned_workers_start_numpy_with_one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    # Without the setting, OpenBLAS starts one thread per core in every worker at import.
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    pool = start_pool(1)
    try:
        assert pool.submit(numpy_threads, 0).result(timeout=120) == ("1", 1)
    finally:
        pool.shutdown()
    assert "OPENBLAS_NUM_THREADS" not in os.environ  # the driver's own environment is left as it was
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "2")  # a user's own setting wins
    pool = start_pool(1)
    try:
        assert pool.submit(numpy_threads, 0).result(timeout=120)[0] == "2"
    finally:
        pool.shutdown()


def test_opening_a_current_catalog_does_not_import_alembic(tmp_path: Path) -> None:
    from rainset.store import init_store

    store = init_store(tmp_path / "s")
    loaded = _loaded_after(f"from rainset.catalog.db import open_catalog\nopen_catalog({store.db_url!r}).close()")
    assert "alembic" not in loaded


def test_a_function_by_name_pickles_as_its_name_and_runs_the_real_one() -> None:
    f = ByName("os.path", "join")
    assert pickle.loads(pickle.dumps(f)) == f
    assert f("a", "b") == os.path.join("a", "b")
    assert b"rainset.ingest.stage" in pickle.dumps(PROCESS_UNIT) and b"init_worker" in pickle.dumps(INIT_WORKER)
    with pytest.raises(AttributeError):
        ByName("os.path", "no_such_function")()


@pytest.mark.timeout(120)
def test_a_started_pool_has_its_processes_before_any_work_and_run_uses_then_closes_it() -> None:
    before = set(multiprocessing.active_children())
    pool = start_pool(2)
    started = set(multiprocessing.active_children()) - before
    assert len(started) == 2  # both spawned now, not when the first items arrive
    assert list(run(abs, [-3, -1, -2, 5, -8], workers=2, pool=pool)) == [3, 1, 2, 5, 8]
    with pytest.raises(RuntimeError):  # run shut it down
        pool.submit(abs, -1)


@pytest.mark.timeout(120)
def test_a_started_pool_is_closed_when_the_run_is_in_process() -> None:
    pool = start_workers(2)
    assert pool is not None and start_workers(1) is None and start_workers(4, engine="dask") is None
    assert list(run(abs, [-1, -2], workers=1, pool=pool)) == [1, 2]
    with pytest.raises(RuntimeError):
        pool.submit(abs, -1)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] if Path(f"/proc/{pid}/stat").exists() else "?"
    return state != "Z"  # a zombie has exited


@pytest.mark.timeout(180)
def test_workers_of_a_driver_killed_outright_exit_too(tmp_path: Path) -> None:
    # As when the OOM killer takes the driver: before, its pool's workers waited for work for ever.
    script = tmp_path / "driver.py"
    script.write_text(
        "import os, signal, sys\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "from rainset.workers import run, worker_init\n"
        "from tests.test_driver_imports import worker_pid\n"
        "if __name__ == '__main__':\n"
        "    results = run(worker_pid, range(60), workers=2, initializer=worker_init)\n"
        "    pids = {next(results) for _ in range(8)}  # the pool is alive: 52 items still to go\n"
        "    print(' '.join(map(str, sorted(pids))), flush=True)\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n")
    printed = tmp_path / "pids.txt"
    with printed.open("w") as fh:  # a file, not a pipe: orphaned workers would hold a pipe open
        rc = subprocess.run([sys.executable, str(script)], cwd=ROOT, stdout=fh, stderr=subprocess.DEVNULL,
                            timeout=120).returncode
    assert rc == -9
    pids = [int(p) for p in printed.read_text().split()]
    assert pids and os.getpid() not in pids
    deadline = time.monotonic() + 30
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(_alive(p) for p in pids), f"workers {pids} outlived their killed driver"


def worker_pid(_item: int) -> int:
    """Run in a worker: its process id (after a short wait, so both workers take items)."""
    time.sleep(0.05)
    return os.getpid()


_CORES_AT_START: list[int] = []


def init_recording_cores() -> None:
    """A worker initializer: the cores it starts on, then :func:`rainset.workers.worker_init`."""
    _CORES_AT_START.extend(sorted(os.sched_getaffinity(0)))
    worker_init(quiet_stderr=False)


def cores_or_skip() -> list[int]:
    """This process's cores; the test is skipped without sched_setaffinity (Linux) or a second core."""
    if not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs Linux's sched_setaffinity and 2 or more cores")
    return sorted(os.sched_getaffinity(0))


def cores_seen(_item: int) -> tuple[list[int], list[int], str | None]:
    return _CORES_AT_START, sorted(os.sched_getaffinity(0)), os.environ.get(CORES_ENV)


@pytest.mark.timeout(120)
def test_workers_started_off_one_core_start_beside_the_driver_then_use_every_core() -> None:
    cores = cores_or_skip()
    pool = start_pool(2, init_recording_cores, off_one_core=True)
    try:
        assert CORES_ENV not in os.environ and sorted(os.sched_getaffinity(0)) == cores  # the driver keeps all
        for at_start, after_init, env in (pool.submit(cores_seen, 0).result(timeout=60) for _ in range(4)):
            assert at_start == cores[1:]  # kept off one core while it imported
            assert after_init == cores and env is None  # then on every core, the variable gone
    finally:
        pool.shutdown(wait=True)
    plain = start_pool(1, init_recording_cores)
    try:
        assert plain.submit(cores_seen, 0).result(timeout=60)[:2] == (cores, cores)  # by default: no change
    finally:
        plain.shutdown(wait=True)


def hold_still() -> None:
    """A worker initializer that does not call worker_init: the worker stays where it started."""


def cores_now(_item: int) -> list[int]:
    return sorted(os.sched_getaffinity(0))


@pytest.mark.timeout(120)
def test_workers_kept_off_a_core_get_it_back_when_the_driver_hands_out_work() -> None:
    cores = cores_or_skip()
    pool = start_pool(2, hold_still, off_one_core=True)
    try:
        assert pool.submit(cores_now, 0).result(timeout=60) == cores[1:]  # still held: no worker_init ran
    except BaseException:
        pool.shutdown(wait=True)
        raise
    assert list(run(cores_now, [0, 1, 2, 3], workers=2, pool=pool)) == [cores] * 4  # run released them
