"""The same ingest on a Dask LocalCluster and from an HTTP server gives the same catalog as local."""

from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path

import pytest
from sqlalchemy import select

from rainset.catalog.db import open_catalog
from rainset.catalog.models import File, Reject
from rainset.ingest import IngestOptions, ingest
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
