"""Nothing lost, nothing twice: SIGKILL ingest at any moment, run it again, get the same store.

Runs on SQLite and on PostgreSQL (a server the test session starts itself).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from rainset.catalog.db import open_catalog
from rainset.catalog.models import File, IngestRun
from rainset.store import init_store
from rainset.synth import generate_dataset
from tests.snapshot import snapshot


@pytest.fixture(scope="module")
def captures(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("resume") / "caps"
    generate_dataset(root, 16, seed=11)
    return root


@pytest.fixture(params=["sqlite", "postgres"])
def new_store(request: pytest.FixtureRequest, tmp_path: Path):
    """A factory of empty stores on the parametrised catalog backend."""
    counter = iter(range(100))

    def make():
        url = request.getfixturevalue("pg_server").new_database() if request.param == "postgres" else None
        return init_store(tmp_path / f"store{next(counter)}", url)

    return make


def _ingest_cmd(store, captures: Path, workers: int = 1) -> list[str]:
    return [sys.executable, "-m", "rainset.cli", "ingest", str(captures), "--store", str(store.root),
            "--batch-size", "3", "--workers", str(workers), "-q"]


# Ingest as the CLI does (batches of 3, default provenance), SIGKILLing itself right after batch N commits.
KILL_AFTER_BATCH = """
import os, signal, sys
from rainset.ingest import IngestOptions, ingest
from rainset.store import open_store

store, captures, workers, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])

def kill_after(batch):
    if batch >= n:
        os.kill(os.getpid(), signal.SIGKILL)

ingest(open_store(store), [captures], IngestOptions(workers=workers, batch_size=3), on_batch_committed=kill_after)
"""


def _kill_cmd(store, captures: Path, workers: int, n: int) -> list[str]:
    return [sys.executable, "-c", KILL_AFTER_BATCH, str(store.root), str(captures), str(workers), str(n)]


def _run(cmd: list[str]) -> int:
    # Output to DEVNULL, not pipes: orphaned workers of a killed run must not keep a pipe open.
    return subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=240).returncode


def _files_count(store) -> int:
    cat = open_catalog(store.db_url)
    try:
        with cat.session() as s:
            return s.scalar(select(func.count()).select_from(File)) or 0
    finally:
        cat.close()


def _uninterrupted(new_store, captures: Path) -> dict:
    """The snapshot of a store ingested in one uninterrupted run: what every resume must match."""
    reference = new_store()
    assert _run(_ingest_cmd(reference, captures)) == 0
    expected = snapshot(reference)
    assert expected["files"] and expected["rejects"]
    return expected


@pytest.mark.timeout(600)
def test_kill_after_batch_n_then_resume_matches_uninterrupted(new_store, captures: Path) -> None:
    expected = _uninterrupted(new_store, captures)
    for n, workers in ((1, 1), (4, 2), (7, 1)):
        store = new_store()
        rc = _run(_kill_cmd(store, captures, workers, n))
        assert rc == -signal.SIGKILL, f"ingest was not killed after batch {n}"
        partial = snapshot(store)
        assert 0 < len(partial["files"]) + len(partial["rejects"]) < len(expected["files"]) + len(expected["rejects"])
        (store.tmp_dir / ".tmp-999-leftover").write_bytes(b"half-written")  # as a kill mid-write leaves
        assert _run(_ingest_cmd(store, captures)) == 0
        assert snapshot(store) == expected, f"resume after a kill at batch {n} differs"
        cat = open_catalog(store.db_url)
        with cat.session() as s:
            assert [r.status for r in s.scalars(select(IngestRun).order_by(IngestRun.id))] == ["interrupted", "done"]
        cat.close()


@pytest.mark.timeout(600)
def test_kill_from_outside_then_resume(new_store, captures: Path) -> None:
    expected = _uninterrupted(new_store, captures)
    store = new_store()
    proc = subprocess.Popen(_ingest_cmd(store, captures), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while _files_count(store) < 4 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert _files_count(store) < len(expected["files"]), "ingest finished before it could be killed"
    assert _run(_ingest_cmd(store, captures)) == 0
    assert snapshot(store) == expected
