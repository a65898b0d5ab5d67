"""The same ingest on a Dask LocalCluster and from an HTTP server gives the same catalog as local."""

from __future__ import annotations

import functools
import http.server
import os
import signal
import threading
from pathlib import Path

import pytest
from sqlalchemy import select

from rainset.catalog.db import open_catalog
from rainset.catalog.models import File, IngestRun, Reject
from rainset.ingest import IngestOptions, ingest
from rainset.ingest.stage import process_unit
from rainset.store import init_store
from rainset.synth import generate_dataset
from tests.snapshot import snapshot


@pytest.fixture(scope="module")
def captures(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("engines") / "caps"
    generate_dataset(root, 10, seed=5, raw_pairs=2, bursts=1, near_duplicates=1, exact_copies=1)
    return root


@pytest.mark.timeout(300)
def test_dask_local_cluster_matches_local(captures: Path, tmp_path: Path) -> None:
    from distributed import LocalCluster

    local = init_store(tmp_path / "local")
    ingest(local, [str(captures)])
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        dask_store = init_store(tmp_path / "dask")
        summary = ingest(dask_store, [str(captures)],
                         IngestOptions(engine="dask", scheduler=cluster.scheduler_address))
    assert summary.new_files > 0
    assert snapshot(dask_store) == snapshot(local)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # noqa: ANN002
        pass


@pytest.fixture()
def http_url(captures: Path):
    handler = functools.partial(_QuietHandler, directory=str(captures))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.mark.timeout(300)
def test_ingest_from_http_server(captures: Path, http_url: str, tmp_path: Path) -> None:
    local = init_store(tmp_path / "local")
    ingest(local, [str(captures)])
    remote = init_store(tmp_path / "remote")
    summary = ingest(remote, [http_url], IngestOptions(workers=2))
    again = ingest(remote, [http_url])
    assert again.processed == 0 and again.skipped == summary.seen
    cat_l, cat_r = open_catalog(local.db_url), open_catalog(remote.db_url)
    with cat_l.session() as a, cat_r.session() as b:
        local_files = sorted(a.execute(select(File.sha256, File.capture_id)).all())
        remote_files = sorted(b.execute(select(File.sha256, File.capture_id)).all())
        local_rejects = sorted(a.execute(select(Reject.sha256, Reject.reason)).all())
        remote_rejects = sorted(b.execute(select(Reject.sha256, Reject.reason)).all())
        uris = b.scalars(select(File.uri)).all()
    cat_l.close()
    cat_r.close()
    assert remote_files == local_files
    assert remote_rejects == local_rejects
    assert all(u.startswith(http_url) for u in uris)
    assert snapshot(remote)["objects"] == snapshot(local)["objects"]


def dying_on_dask(unit, store, options):  # noqa: ANN001
    """process_unit, except that the Dask worker holding ``die.jpg`` kills itself (as the OOM killer would)."""
    if any(src.name == "die.jpg" for src in unit):
        with open(store.root / "die-attempts", "a") as fh:
            fh.write(f"{os.getpid()}\n")
        os.kill(os.getpid(), signal.SIGKILL)
    return process_unit(unit, store, options)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_dask_worker_killed_on_a_file_makes_a_worker_died_reject_and_the_run_ends_done(tmp_path: Path) -> None:
    import cv2
    import numpy as np

    card = tmp_path / "card"
    card.mkdir()
    names = ["a.jpg", "b.jpg", "c.jpg", "die.jpg", "e.jpg", "f.jpg", "g.jpg"]
    for i, name in enumerate(names):
        img = cv2.GaussianBlur(np.random.default_rng(i).integers(0, 255, (120, 160, 3), dtype=np.uint8), (0, 0), 3)
        (card / name).write_bytes(cv2.imencode(".jpg", img)[1].tobytes())
    store = init_store(tmp_path / "s")
    summary = ingest(store, [str(card)], IngestOptions(engine="dask", workers=2, batch_size=3), stage=dying_on_dask)
    attempts = (store.root / "die-attempts").read_text().split()
    assert len(attempts) == 2 and attempts[0] != attempts[1]  # in the run, then once alone on a new worker
    catalog = open_catalog(store.db_url)
    try:
        with catalog.session() as s:
            rejects = list(s.scalars(select(Reject)))
            files = sorted(Path(u).name for u in s.scalars(select(File.uri)))
            (run,) = s.scalars(select(IngestRun))
            status = run.status
    finally:
        catalog.close()
    assert [(Path(r.uri).name, r.reason) for r in rejects] == [("die.jpg", "worker-died")]
    assert "KilledWorker" in rejects[0].detail
    assert files == [n for n in names if n != "die.jpg"]
    assert summary.rejects_by_reason == {"worker-died": 1} and summary.new_files == len(names) - 1
    assert status == "done"
