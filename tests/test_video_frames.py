"""Video frames downstream of ingest: the dedupe exposure rule, scene groups, manifest columns and
splits, shards and labelling tiles decoding the frame on demand (real encoded videos)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from sqlalchemy import select

from rainset.annotate_ui.captures import original_of
from rainset.annotate_ui.tiles import decode_original
from rainset.capture.video import decode_frame
from rainset.catalog.db import open_catalog
from rainset.catalog.models import Capture, Group, GroupMember, Hash
from rainset.dedupe.exposure import different_exposures, exposure_time
from rainset.dedupe.run import dedupe
from rainset.ingest import IngestOptions, ingest
from rainset.ingest.video import FrameSampling
from rainset.manifests.export import export_manifest
from rainset.manifests.versions import open_version
from rainset.shards.render import RenderSettings
from rainset.shards.writer import ShardOptions, build_shards
from rainset.store import Store, init_store
from tests.shards_helpers import tar_members
from tests.video_helpers import rainy_frames, write_video

STATIC_FROM = 4  # frames 4..11 repeat frame 3 exactly: same pixels at different times
N = 12


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    root = tmp_path_factory.mktemp("vf")
    src = root / "src"
    src.mkdir()
    # no creation time, so no capture time: only the video rule keeps its identical static frames apart
    # (without it, dedupe clusters 9 of them as exact/near-duplicates)
    write_video(src / "a.mkv", rainy_frames(N, seed=1, static_from=STATIC_FROM), meta={})
    write_video(src / "b.mkv", rainy_frames(N, seed=2))
    st = init_store(root / "store")
    ingest(st, [str(src)], IngestOptions(workers=0, video=FrameSampling(min_change=0)))
    return st


@pytest.fixture(scope="module")
def version(store: Store) -> str:
    export_manifest(store, "vid1", include_unlabelled=True)
    return "vid1"


def _captures(store: Store) -> list[Capture]:
    catalog = open_catalog(store.db_url)
    try:
        with catalog.session() as s:
            return sorted(s.scalars(select(Capture)), key=lambda c: (c.video_sha256, c.frame_index))
    finally:
        catalog.close()


def test_frames_of_one_video_are_distinct_exposures() -> None:
    a = exposure_time(None, None, "v" * 64, 0.5)
    b = exposure_time(None, None, "v" * 64, 1.0)
    assert different_exposures(a, b) and not different_exposures(a, exposure_time(None, None, "v" * 64, 0.5))
    other = exposure_time(None, None, "w" * 64, 1.0)  # another video (e.g. a re-encode): the pixels decide
    assert not different_exposures(a, other)
    photo = exposure_time("2024-05-01T10:00:00", None)
    assert not different_exposures(a, photo)
    timed = exposure_time("2024-05-01T10:00:01.041667+00:00", None, "x" * 64, 1.041667)
    assert different_exposures(timed, photo)  # a timed frame still follows the capture-time rule


def test_dedupe_never_calls_frames_of_one_video_duplicates_and_groups_each_video_as_one_scene(store: Store) -> None:
    caps = _captures(store)
    assert len(caps) == 2 * N
    dedupe(store)
    catalog = open_catalog(store.db_url)
    try:
        with catalog.session() as s:
            static = s.scalars(select(Hash.pixel_hash).join(Capture, Capture.representative_sha256 == Hash.sha256)
                               .where(Capture.capture_time.is_(None))).all()
            assert len(static) == N and len(set(static)) < N  # the static tail: some frames with the same pixels
            rows = s.execute(select(Group.kind, Group.id, GroupMember.capture_id)
                             .join(GroupMember, GroupMember.group_id == Group.id)).all()
    finally:
        catalog.close()
    video_of = {c.id: c.video_sha256 for c in caps}
    groups: dict[tuple[str, int], set[str]] = {}
    for kind, gid, cid in rows:
        groups.setdefault((kind, gid), set()).add(cid)
    clusters = [m for (kind, _), m in groups.items() if kind == "cluster"]
    for members in clusters:  # identical static frames exist, yet no cluster holds two frames of one video
        videos = [video_of[m] for m in members]
        assert len(videos) == len(set(videos)), members
    scenes = [m for (kind, _), m in groups.items() if kind == "scene"]
    for video in set(video_of.values()):
        frames = {cid for cid, v in video_of.items() if v == video}
        assert any(frames <= m for m in scenes), "a video's frames form one scene group"


def test_manifest_rows_name_the_video_and_keep_a_video_in_one_split(store: Store, version: str) -> None:
    rows = list(open_version(store, version).rows())
    assert len(rows) == 2 * N
    by_video: dict[str, list[dict]] = {}
    for row in rows:
        assert row["format"] == "frame" and row["video_sha256"] == row["sha256"]
        assert row["path"] == f"objects/{row['sha256'][:2]}/{row['sha256']}"
        assert store.object_path(row["sha256"]).is_file()
        assert row["source_uri"].endswith((".mkv",)) and row["file_name"] in ("a.mkv", "b.mkv")
        assert row["frame_pts"] == pytest.approx(row["frame_index"] / 24, abs=1e-3)
        by_video.setdefault(row["video_sha256"], []).append(row)
    assert len(by_video) == 2
    for frames in by_video.values():
        assert sorted(r["frame_index"] for r in frames) == list(range(N))
        assert len({r["split"] for r in frames}) == 1 and len({r["leakage_group"] for r in frames}) == 1
    for row in rows:
        sha = hashlib.sha256(store.object_path(row["sha256"]).read_bytes()).hexdigest()
        assert sha == row["sha256"]


def test_shards_render_the_frame_decoded_on_demand(store: Store, version: str) -> None:
    result = build_shards(store, "vid1", ShardOptions(render=RenderSettings(format="png")), manifest=version)
    assert result.samples == 2 * N and not result.skipped
    rows = {r["sample_id"]: r for r in open_version(store, version).rows()}
    members = {name: data for tar in sorted((store.root / "shards" / "vid1").rglob("*.tar"))
               for name, data in tar_members(tar)}
    checked = 0
    for sid, row in rows.items():
        png = members[f"{sid}.png"]
        img = cv2.cvtColor(cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        want = decode_frame(str(store.object_path(row["sha256"])), row["frame_index"], row["frame_pts"])
        assert np.array_equal(img, want), sid
        checked += 1
    assert checked == 2 * N


def test_labelling_tiles_decode_the_frame(store: Store) -> None:
    caps = _captures(store)
    catalog = open_catalog(store.db_url)
    try:
        with catalog.session() as s:
            for c in (caps[0], caps[N + 5]):
                original = original_of(store, s, c.id)
                assert original.frame_index == c.frame_index and original.location == str(
                    store.object_path(c.video_sha256))
                img = decode_original(original, 250_000_000)
                assert np.array_equal(img, decode_frame(original.location, c.frame_index, c.frame_pts))
    finally:
        catalog.close()
