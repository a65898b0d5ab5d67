"""``rainset pairs build --workers N``: videos built in spawned worker processes give the same set as
one process, and a worker killed on a video skips that video only. Real videos (PyAV from a fixture
photo with synthetic rain), ingested with the real ``rainset ingest``."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rainset.cli import app
from rainset.pairs.build import VideoJob, VideoOutcome, build_pairs, build_video
from rainset.pairs.pairset import pair_id, pairset_dir
from rainset.store import open_store
from tests.pairs_helpers import footage
from tests.video_helpers import write_video

runner = CliRunner()

# The videos of the store, by the camera name each was ingested under.
CAMS = {"cam-a": dict(n=24, seed=3), "cam-b": dict(n=24, seed=5, pan_at=12), "cam-c": dict(n=16, seed=7)}


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    base = tmp_path_factory.mktemp("pairs-workers")
    s = str(base / "s")
    assert runner.invoke(app, ["init", s]).exit_code == 0
    for cam, spec in CAMS.items():
        (base / cam).mkdir()
        write_video(base / cam / f"{cam}.mp4", footage(**spec).frames)
        res = runner.invoke(app, ["ingest", str(base / cam), "--store", s, "--source-name", cam, "--workers", "0",
                                  "-q"])
        assert res.exit_code == 0, res.output
    return s


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
            and p.name != "pairs.json"}


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_two_workers_give_the_same_pairs_and_png_bytes_as_one(store_dir: str) -> None:
    where = "source_name in ('cam-a', 'cam-b')"
    out = {}
    for n in ("1", "2"):
        res = runner.invoke(app, ["pairs", "build", f"w{n}", "--store", store_dir, "--where", where,
                                  "--workers", n, "--json"])
        assert res.exit_code == 0, res.output
        out[n] = json.loads(res.stdout)
    one, two = out["1"], out["2"]
    assert two["videos"] == 2 and two["skipped"] == [] and len(two["pairs"]) > 0
    for key in ("frames", "segments", "windows", "unpaired", "accepted", "warnings"):
        assert one[key] == two[key], key
    root = open_store(store_dir).root
    index = {n: json.loads((pairset_dir(root, f"w{n}") / "pairs.json").read_text()) for n in ("1", "2")}
    assert index["1"]["pairs"] == index["2"]["pairs"]  # every entry, in the same order
    assert index["1"]["settings"] == index["2"]["settings"]
    order = [(p["video_sha256"], p["frame_index"]) for p in index["2"]["pairs"]]
    assert order == sorted(order) and len({sha for sha, _ in order}) == 2
    files = {n: _files(pairset_dir(root, f"w{n}")) for n in ("1", "2")}
    assert len(files["2"]) == 3 * len(index["2"]["pairs"])  # rainy, clean, mask; no scratch left
    assert files["1"] == files["2"]  # the same PNG bytes


def dying_task(job: VideoJob) -> VideoOutcome:
    """build_video, except that the worker given cam-b leaves a half-written file and a scratch folder,
    then is killed as the OOM killer would kill it."""
    if job.src.name == "cam-b.mp4":
        (job.folder / "rainy" / f"{pair_id(job.src.sha256, 0)}.png").write_bytes(b"half")
        (job.folder / ".scratch-dying").mkdir(exist_ok=True)  # again on the retry alone
        os.kill(os.getpid(), signal.SIGKILL)
    return build_video(job)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_worker_killed_on_a_video_skips_that_video_and_the_build_goes_on(store_dir: str) -> None:
    store = open_store(store_dir)
    warned: list[str] = []
    ticks: list[tuple[int, int]] = []
    result = build_pairs(store, "killed", workers=2, task=dying_task, warn=warned.append,
                         progress=lambda done, total, note: ticks.append((done, total)))
    (skipped,) = result.skipped
    assert skipped.name == "cam-b.mp4" and "SIGKILL" in skipped.reason
    assert any("cam-b.mp4" in line and "SIGKILL" in line for line in warned)
    built = {p.video_sha256 for p in result.pairs}
    assert result.videos == 2 and len(built) == 2 and skipped.video_sha256 not in built
    folder = pairset_dir(store.root, "killed")
    names = [p.name for p in folder.rglob("*") if p.is_file() and p.name != "pairs.json"]
    assert len(names) == 3 * len(result.pairs)  # the dead worker's file is gone
    assert not any(n.startswith(pair_id(skipped.video_sha256, 0).rsplit("-", 1)[0]) for n in names)
    assert not list(folder.glob(".scratch-*"))
    dones = [d for d, _ in ticks]
    assert len(ticks) >= 3 and dones == sorted(dones) and all(d <= t for d, t in ticks)  # one per video, then the end
    assert ticks[-1][0] == ticks[-1][1] == 2 * result.frames  # both passes of the videos built
    index = json.loads((folder / "pairs.json").read_text())
    assert index["settings"]["skipped"][0]["video_sha256"] == skipped.video_sha256
    assert skipped.video_sha256 not in index["settings"]["videos"]


def test_workers_out_of_range_is_one_line(store_dir: str) -> None:
    res = runner.invoke(app, ["pairs", "build", "bad", "--store", store_dir, "--workers", "-1"])
    assert res.exit_code == 1 and "--workers" in res.output
    assert not pairset_dir(open_store(store_dir).root, "bad").exists()
