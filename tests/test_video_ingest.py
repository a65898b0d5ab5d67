"""Video ingest with real encoding and decoding: rows, frame references, previews, sampling, rejects."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from sqlalchemy import inspect, select
from typer.testing import CliRunner

from rainset.annotate_ui.captures import original_of
from rainset.annotate_ui.tiles import decode_original
from rainset.capture.sniff import sniff_video
from rainset.capture.video import decode_frame, frame_key, parse_iso6709
from rainset.catalog.db import current_revision, head_revision, make_engine, open_catalog
from rainset.cli import app
from rainset.catalog.models import Capture, File, Hash, Reject, Video
from rainset.errors import ConfigError
from rainset.ingest import IngestOptions, ingest
from rainset.ingest.video import FrameSampling
from rainset.store import init_store, open_store
from rainset.status import store_status
from rainset.verify import verify_store
from tests.video_helpers import META, portrait_mov, rainy_frames, write_audio, write_video
from tests.catalog_helpers import catalog_rows as _rows

N = 24  # frames per test video (1 s at 24 fps)


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """An MP4 whose last 8 frames repeat the 16th, the same as MKV, MOV and AVI, a truncated MP4 and random bytes."""
    root = tmp_path_factory.mktemp("videos")
    frames = rainy_frames(N, static_from=16)
    out = {ext: write_video(root / f"rain.{ext}", frames) for ext in ("mp4", "mkv", "mov", "avi")}
    data = out["mp4"].read_bytes()
    (root / "bad").mkdir()
    out["truncated"] = root / "bad" / "cut.mp4"
    out["truncated"].write_bytes(data[: len(data) // 2])  # moov at the end: nothing left to index the frames
    out["random"] = root / "bad" / "noise.mp4"
    out["random"].write_bytes(np.random.default_rng(1).integers(0, 256, 20_000, dtype=np.uint8).tobytes())
    out["audio"] = write_audio(root / "bad" / "voice.m4a")
    mkv = out["mkv"].read_bytes()
    (root / "part").mkdir()
    out["partial"] = root / "part" / "part.mkv"
    out["partial"].write_bytes(mkv[: int(len(mkv) * 0.5)])  # Matroska keeps the clusters before the cut readable
    return out


def test_containers_are_sniffed_by_content(clips: dict[str, Path]) -> None:
    for ext, kind in (("mp4", "mp4"), ("mkv", "mkv"), ("mov", "mov"), ("avi", "avi")):
        head = clips[ext].read_bytes()[:64]
        assert sniff_video(head, "renamed.bin") == kind, ext
    assert sniff_video(clips["random"].read_bytes()[:64], "noise.mp4") is None
    assert parse_iso6709("+48.8584+002.2945+035.000/") == (48.8584, 2.2945, 35.0)
    assert parse_iso6709("garbage") == (None, None, None)


def test_video_is_stored_once_and_its_changing_frames_become_captures(clips: dict[str, Path], tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.mp4").write_bytes(clips["mp4"].read_bytes())
    (src / "b.mp4").write_bytes(clips["mp4"].read_bytes())  # the same bytes at another path
    store = init_store(tmp_path / "s")
    summary = ingest(store, [str(src)], IngestOptions(workers=0))
    sha = hashlib.sha256(clips["mp4"].read_bytes()).hexdigest()
    videos = sorted(_rows(store, Video), key=lambda v: v.id)
    assert [v.sha256 for v in videos] == [sha, sha]
    first, copy = videos
    assert copy.duplicate_of == first.id and first.duplicate_of is None and copy.frames_kept == 0
    assert (first.container, first.width, first.height) == ("mp4", 320, 240)
    assert first.codec in ("h264", "mpeg4") and first.fps == pytest.approx(24.0)
    assert first.duration == pytest.approx(1.0, abs=0.05) and first.frames_decoded == N
    assert first.creation_time == "2024-05-01T10:00:00+00:00"
    assert first.gps_lat == pytest.approx(48.8584) and first.gps_lon == pytest.approx(2.2945)
    assert store.object_path(sha).is_file() and len(list((store.root / "objects").glob("*/*"))) == 1
    caps = sorted(_rows(store, Capture), key=lambda c: c.frame_index)
    # frames 16..23 repeat frame 15 exactly: skipped by the change rule, never stored
    assert [c.frame_index for c in caps] == list(range(16))
    assert first.frames_kept == 16 and first.sampling["skipped"]["change"] == N - 16
    assert summary.new_captures == 16 and summary.new_videos == 2 and summary.exact_copies == 1
    for c in caps:
        assert c.video_sha256 == sha and c.format == "frame"
        assert c.frame_pts == pytest.approx(c.frame_index / 24, abs=1e-3)
        assert c.representative_sha256 == frame_key(sha, c.frame_index)
        assert store.preview_path(c.representative_sha256).is_file()
        assert c.capture_time.startswith("2024-05-01T10:00:00.") and c.gps_lat == pytest.approx(48.8584)
    assert len({c.capture_time for c in caps}) == 16  # creation time + pts: one time per frame
    files = _rows(store, File)
    assert {f.uri for f in files} == {f"{src}/a.mp4#frame={i}" for i in range(16)}
    assert all(f.storage == "frame" for f in files)
    assert len(_rows(store, Hash)) == 16
    status = store_status(store)
    assert status.bytes == 2 * first.size and status.objects_bytes == first.size
    assert status.formats == {"frame": 16}
    report = verify_store(store)  # the video object is checked; frames have no object of their own
    assert report.checked == 1 and report.ok == 1 and report.orphans == 0
    again = ingest(store, [str(src)], IngestOptions(workers=0))
    assert again.skipped == 2 and again.new_captures == 0


@pytest.mark.parametrize("ext", ["mp4", "mkv", "mov", "avi"])
def test_on_demand_decode_gives_the_frame_ingest_saw(tmp_path: Path, ext: str) -> None:
    """Key frames every 5 frames and B-frames (H.264): decode_frame seeks, then decodes forward."""
    clip = write_video(tmp_path / f"gop.{ext}", rainy_frames(N, seed=3), gop=5)
    store = init_store(tmp_path / "s")
    ingest(store, [str(clip)], IngestOptions(workers=0, video=FrameSampling(min_change=0)))
    caps = sorted(_rows(store, Capture), key=lambda c: c.frame_index)
    assert [c.frame_index for c in caps] == list(range(N))
    with av.open(str(clip)) as container:  # the reference: a plain sequential decode
        reference = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    obj = store.object_path(caps[0].video_sha256)
    for c in (caps[0], caps[7], caps[13], caps[-1]):
        img = decode_frame(str(obj), c.frame_index, c.frame_pts)
        assert img.shape == (240, 320, 3) and img.dtype == np.uint8
        assert np.array_equal(img, reference[c.frame_index]), c.frame_index
    # without a pts the frame is found by counting
    assert np.array_equal(decode_frame(str(obj), 5, None), reference[5])


@pytest.mark.parametrize("ext", ["mov", "avi"])
def test_other_containers(clips: dict[str, Path], tmp_path: Path, ext: str) -> None:
    store = init_store(tmp_path / "s")
    ingest(store, [str(clips[ext])], IngestOptions(workers=0))
    (video,) = _rows(store, Video)
    assert video.container == ext and video.frames_decoded == N and video.frames_kept == 16
    if ext == "mov":  # QuickTime user data carries make and model (the MP4 muxer drops them)
        assert (video.make, video.model) == (META["make"], META["model"])
        assert {(c.make, c.model) for c in _rows(store, Capture)} == {(META["make"], META["model"])}


def test_sampling_options(clips: dict[str, Path], tmp_path: Path) -> None:
    every = init_store(tmp_path / "every")
    ingest(every, [str(clips["mp4"])], IngestOptions(workers=0, video=FrameSampling(every=5, min_change=0)))
    assert sorted(c.frame_index for c in _rows(every, Capture)) == [0, 5, 10, 15, 20]
    fps = init_store(tmp_path / "fps")
    ingest(fps, [str(clips["mp4"])], IngestOptions(workers=0, video=FrameSampling(max_fps=4, min_change=0)))
    assert sorted(c.frame_index for c in _rows(fps, Capture)) == [0, 6, 12, 18]
    (video,) = _rows(fps, Video)
    assert video.sampling["max_fps"] == 4 and video.sampling["skipped"]["max-fps"] == N - 4
    with pytest.raises(ConfigError, match="--every"):
        FrameSampling(every=0).check()
    with pytest.raises(ConfigError, match="--max-fps"):
        FrameSampling(max_fps=0).check()


def test_broken_videos_are_rejects_and_partial_ones_keep_their_first_frames(clips: dict[str, Path],
                                                                            tmp_path: Path) -> None:
    store = init_store(tmp_path / "s")
    summary = ingest(store, [str(clips["truncated"].parent), str(clips["partial"])],
                     IngestOptions(workers=0, video=FrameSampling(min_change=0)))
    rejects = {Path(r.uri).name: r for r in _rows(store, Reject)}
    assert set(rejects) == {"cut.mp4", "noise.mp4", "voice.m4a"}
    for name, r in rejects.items():
        assert r.detail.startswith(f"{name}: ") and r.sha256
    assert {n: r.reason for n, r in rejects.items()} == {"cut.mp4": "decode-failed", "noise.mp4": "decode-failed",
                                                         "voice.m4a": "unsupported-format"}
    assert "no video stream" in rejects["voice.m4a"].detail
    assert summary.rejected == 3
    (video,) = _rows(store, Video)
    caps = _rows(store, Capture)
    assert 0 < len(caps) == video.frames_kept < N
    assert sorted(c.frame_index for c in caps) == list(range(len(caps)))
    assert len(video.warnings) == 1 and ("ends early" in video.warnings[0] or "stopped" in video.warnings[0])
    assert all(c.warnings == video.warnings for c in caps)


def test_a_store_of_the_previous_release_upgrades_and_takes_videos(clips: dict[str, Path], tmp_path: Path) -> None:
    root = tmp_path / "old"
    shutil.copytree(Path(__file__).resolve().parent / "data" / "store-v0.1.0", root)
    store = open_store(root)  # migrates the catalog (revision 0005) up to head, 0010 included
    engine = make_engine(store.db_url)
    try:
        assert current_revision(engine) == head_revision() == "0010"
        columns = {c["name"] for c in inspect(engine).get_columns("captures")}
        assert {"video_sha256", "frame_index", "frame_pts"} <= columns
        assert "videos" in inspect(engine).get_table_names()
    finally:
        engine.dispose()
    old = _rows(store, Capture)
    assert old and all(c.video_sha256 is None and c.frame_index is None for c in old)
    summary = ingest(store, [str(clips["mp4"])], IngestOptions(workers=0))
    assert summary.new_videos == 1 and summary.new_captures == 16
    assert len(_rows(store, Capture)) == len(old) + 16


def test_cli_sampling_options(clips: dict[str, Path], tmp_path: Path) -> None:
    store = init_store(tmp_path / "s")
    result = CliRunner().invoke(app, ["ingest", "--store", str(store.root), "--workers", "0", "--every", "3",
                                      "--min-change", "0", "--json", str(clips["avi"])])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["new_videos"] == 1 and summary["new_captures"] == N // 3
    assert sorted(c.frame_index for c in _rows(store, Capture)) == list(range(0, N, 3))
    bad = CliRunner().invoke(app, ["ingest", "--store", str(store.root), "--max-fps", "-1", str(clips["avi"])])
    assert bad.exit_code != 0 and "--max-fps must be above 0, got -1.0" in bad.output
    assert len(bad.output.strip().splitlines()) == 1


def test_link_mode_on_spawned_workers(clips: dict[str, Path], tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for ext in ("mp4", "mkv"):
        (src / f"rain.{ext}").write_bytes(clips[ext].read_bytes())
    store = init_store(tmp_path / "s")
    summary = ingest(store, [str(src)], IngestOptions(workers=2, link=True))
    assert summary.new_videos == 2 and summary.new_captures == 32 and summary.rejected == 0
    videos = {Path(v.uri).name: v for v in _rows(store, Video)}
    assert set(videos) == {"rain.mp4", "rain.mkv"} and {v.storage for v in videos.values()} == {"link"}
    assert not list((store.root / "objects").glob("*/*"))  # link mode: nothing copied
    report = verify_store(store)
    assert report.checked == 2 and report.ok == 2
    catalog = open_catalog(store.db_url)
    try:
        with catalog.session() as s:
            cap = s.scalars(select(Capture).where(Capture.video_sha256 == videos["rain.mkv"].sha256,
                                                  Capture.frame_index == 9)).one()
            original = original_of(store, s, cap.id)
    finally:
        catalog.close()
    assert original.location == str(src / "rain.mkv") and original.name == "rain.mkv#frame=9"
    with av.open(str(clips["mkv"])) as container:
        reference = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert np.array_equal(decode_original(original, 250_000_000), reference[9])


def test_a_portrait_phone_video_gives_upright_frames(clips: dict[str, Path], tmp_path: Path) -> None:
    clip = portrait_mov(clips["mov"], tmp_path / "portrait.mov")
    store = init_store(tmp_path / "s")
    ingest(store, [str(clip)], IngestOptions(workers=0, video=FrameSampling(min_change=0)))
    (video,) = _rows(store, Video)
    assert (video.width, video.height, video.rotation) == (320, 240, 90)  # coded size, turned for display
    caps = sorted(_rows(store, Capture), key=lambda c: c.frame_index)
    assert len(caps) == N and {(c.width, c.height) for c in caps} == {(240, 320)}
    preview = cv2.imread(str(store.preview_path(caps[0].representative_sha256)))
    assert preview.shape[:2] == (320, 240)
    with av.open(str(clips["mov"])) as container:  # the same bytes without the matrix: landscape
        landscape = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    obj = str(store.object_path(video.sha256))
    for c in (caps[2], caps[17]):
        assert np.array_equal(decode_frame(obj, c.frame_index, c.frame_pts), np.rot90(landscape[c.frame_index], -1))
