"""Video ingest on the Dask engine (a real LocalCluster: spawned worker processes, one thread each):
the same catalog as the local engine, broken videos as rejects, a worker killed mid-decode."""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

import numpy as np
import pytest

from rainset.catalog.models import Capture, IngestRun, Reject, Video
from rainset.ingest import IngestOptions, ingest
from rainset.ingest import video as video_stage
from rainset.ingest.stage import process_unit
from rainset.ingest.video import FrameSampling
from rainset.store import Store, init_store
from tests.catalog_helpers import catalog_rows
from tests.snapshot import snapshot
from tests.video_helpers import rainy_frames, write_video

N = 12
SAMPLING = FrameSampling(min_change=0)  # every frame of these short clips is a capture


@pytest.fixture(scope="module")
def card(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three videos (MP4, MKV, MOV; different rain), an exact copy of one, a truncated MP4 and noise."""
    root = tmp_path_factory.mktemp("dask-videos") / "card"
    root.mkdir()
    for i, ext in enumerate(("mp4", "mkv", "mov")):
        write_video(root / f"v{i}.{ext}", rainy_frames(N, seed=10 + i))
    shutil.copyfile(root / "v0.mp4", root / "copy-of-v0.mp4")
    data = (root / "v0.mp4").read_bytes()
    (root / "cut.mp4").write_bytes(data[: len(data) // 2])  # moov at the end: no frame can be indexed
    (root / "noise.mov").write_bytes(np.random.default_rng(3).integers(0, 256, 20_000, dtype=np.uint8).tobytes())
    return root


def _videos(store: Store) -> list[dict]:
    rows = catalog_rows(store, Video)
    uri_of = {v.id: v.uri for v in rows}
    out = []
    for v in rows:
        row = {c.key: getattr(v, c.key) for c in v.__table__.columns if c.key not in {"id", "run_id", "created_at"}}
        row["duplicate_of"] = uri_of.get(v.duplicate_of)
        out.append(row)
    return sorted(out, key=lambda r: r["uri"])


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_videos_on_a_dask_local_cluster_match_the_local_engine(card: Path, tmp_path: Path) -> None:
    from distributed import LocalCluster

    local = init_store(tmp_path / "local")
    expected = ingest(local, [str(card)], IngestOptions(workers=0, video=SAMPLING))
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        dask_store = init_store(tmp_path / "dask")
        summary = ingest(dask_store, [str(card)], IngestOptions(engine="dask", scheduler=cluster.scheduler_address,
                                                                video=SAMPLING))
    assert summary.new_videos == expected.new_videos == 4  # three videos and the exact copy
    assert summary.new_captures == expected.new_captures == 3 * N
    assert summary.rejects_by_reason == expected.rejects_by_reason == {"decode-failed": 2}
    assert _videos(dask_store) == _videos(local)
    assert snapshot(dask_store) == snapshot(local)  # captures, files, rejects, hashes, objects, previews; tmp/ empty
    assert not list(dask_store.tmp_dir.iterdir())  # every frame log was read back and deleted
    frames = sorted((c.video_sha256, c.frame_index) for c in catalog_rows(dask_store, Capture))
    assert len(set(frames)) == 3 * N and len(list((dask_store.root / "previews").rglob("*.*"))) == 3 * N
    rejects = {Path(r.uri).name: r for r in catalog_rows(dask_store, Reject)}
    assert {n: r.reason for n, r in rejects.items()} == {"cut.mp4": "decode-failed", "noise.mov": "decode-failed"}
    assert all(str(dask_store.tmp_dir) not in r.detail for r in rejects.values())  # no worker's tmp path


def _kill_self(*args, **kwargs):  # noqa: ANN002, ANN003
    os.kill(os.getpid(), signal.SIGKILL)


def dying_mid_decode(unit, store, options):  # noqa: ANN001
    """process_unit, except that the worker decoding ``die.mkv`` kills itself (as the OOM killer would)
    on the first frame it keeps: after the video was copied into tmp/ and its first frames decoded."""
    if any(src.name == "die.mkv" for src in unit):
        with open(store.root / "die-attempts", "a") as fh:
            fh.write(f"{os.getpid()}\n")
        video_stage.compute_hashes = _kill_self  # this worker process dies with it
    return process_unit(unit, store, options)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_dask_worker_killed_while_decoding_a_video_makes_a_worker_died_reject(card: Path, tmp_path: Path) -> None:
    src = tmp_path / "card"
    src.mkdir()
    for name in ("v0.mp4", "v1.mkv", "v2.mov"):
        shutil.copyfile(card / name, src / name)
    write_video(src / "die.mkv", rainy_frames(N, seed=99))
    store = init_store(tmp_path / "s")
    summary = ingest(store, [str(src)], IngestOptions(engine="dask", workers=2, batch_size=2, video=SAMPLING),
                     stage=dying_mid_decode)
    attempts = (store.root / "die-attempts").read_text().split()
    assert len(attempts) == 2 and attempts[0] != attempts[1]  # in the run, then once alone on a new worker
    rejects = catalog_rows(store, Reject)
    assert [(Path(r.uri).name, r.reason) for r in rejects] == [("die.mkv", "worker-died")]
    assert "KilledWorker" in rejects[0].detail
    assert sorted(Path(v.uri).name for v in catalog_rows(store, Video)) == ["v0.mp4", "v1.mkv", "v2.mov"]
    assert summary.new_videos == 3 and summary.new_captures == 3 * N
    assert summary.rejects_by_reason == {"worker-died": 1}
    (run,) = catalog_rows(store, IngestRun)
    assert run.status == "done"
