"""Exposure identity in dedupe: captures whose EXIF capture times differ are never near-duplicates.

Unit checks of the time comparison and of the clustering guard, then small stores: identical
pixels at two capture times, a resized copy that keeps the time, copies without EXIF, sub-second
precision, a user's merge of two exposures, and the generated bursts of ``rainset.synth.variants``.
"""

from __future__ import annotations

import io
from datetime import datetime, timedelta
from itertools import combinations
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from sqlalchemy import select

from rainset.capture.exif import read_exif
from rainset.catalog.db import open_catalog
from rainset.catalog.dedupe_tables import DedupePair
from rainset.catalog.models import File
from rainset.dedupe.clusters import build_clusters
from rainset.dedupe.corrections import add_correction
from rainset.dedupe.exposure import ExposureTime, different_exposures, exposure_time
from rainset.dedupe.groups import exact_edges, list_groups, regroup
from rainset.dedupe.run import dedupe
from rainset.ingest import IngestOptions, ingest
from rainset.store import init_store
from rainset.synth.rain import add_rain
from rainset.synth.scene import render_scene
from rainset.synth.variants import KEEP_EXIF, generate_variants
from rainset.synth.writers import SynthExif, build_exif, encode_jpeg

T0 = datetime(2024, 5, 1, 9, 30, 12)


def _exif(when: datetime, subsec: str | None = "120") -> SynthExif:
    return SynthExif(make="Nimbus", model="Nimbus N1", serial="NB0000009", lens="Nimbus 24-70mm F2.8",
                     capture_time=when, subsec=subsec or "", offset="+01:00", exposure_time=1 / 250, f_number=4.0,
                     iso=400, focal_length=35.0, gps=None)


def _jpeg(path: Path, rgb: np.ndarray, exif: SynthExif | None, quality: int = 92) -> None:
    """Write a JPEG; ``exif.subsec == ""`` leaves SubSecTimeOriginal out (a camera without it)."""
    if exif is None:
        path.write_bytes(encode_jpeg(rgb, None, quality))
        return
    tags = build_exif(exif)
    if not exif.subsec:
        del tags.get_ifd(0x8769)[0x9291]
    buf = io.BytesIO()
    Image.fromarray(rgb, "RGB").save(buf, "JPEG", quality=quality, subsampling=2, exif=tags.tobytes())
    path.write_bytes(buf.getvalue())


# --- the comparison rule ---------------------------------------------------------------------------

def test_exposure_time_reads_the_stored_capture_time() -> None:
    assert exposure_time("2021-06-01T14:03:22.120+02:00") == ExposureTime("2021-06-01T14:03:22", "120")
    assert exposure_time("2021-06-01T14:03:22+02:00") == ExposureTime("2021-06-01T14:03:22", "")
    assert exposure_time("2021-06-01T14:03:22", "45") == ExposureTime("2021-06-01T14:03:22", "45")
    assert exposure_time(None) is None and exposure_time("") is None and exposure_time("yesterday") is None


@pytest.mark.parametrize(("a", "b", "differ"), [
    ("2021-06-01T14:03:22.120", "2021-06-01T14:03:23.120", True),  # another second
    ("2021-06-01T14:03:22.120", "2021-06-01T14:03:22.450", True),  # same second, other sub-second
    ("2021-06-01T14:03:22.12", "2021-06-01T14:03:22.120", False),  # compared at the 2 digits both have
    ("2021-06-01T14:03:22.12", "2021-06-01T14:03:22.130", True),
    ("2021-06-01T14:03:22.450", "2021-06-01T14:03:22", False),  # one without sub-seconds: to the second
    ("2021-06-01T14:03:22.450+02:00", "2021-06-01T14:03:22.450", False),  # offset lost by a copy: ignored
    ("2021-06-01T14:03:22.450", None, False),  # no time: the pixel test decides
])
def test_different_exposures_compares_at_the_precision_both_have(a: str, b: str | None, differ: bool) -> None:
    assert different_exposures(exposure_time(a), exposure_time(b)) is differ
    assert different_exposures(exposure_time(b), exposure_time(a)) is differ


def test_clusters_never_join_two_exposures_even_through_a_copy_without_exif() -> None:
    t1, t2 = ExposureTime("2024-05-01T09:30:12", "120"), ExposureTime("2024-05-01T09:30:14", "300")
    phash = {"a": 0, "b": 0, "c": 0, "d": 0}
    times = {"a": t1, "b": t2, "d": t1}
    direct = build_clusters([("a", "b")], phash, 6, exposures=times)
    assert direct.clusters == ()
    bridged = build_clusters([("a", "c"), ("b", "c"), ("c", "d")], phash, 6, exposures=times)
    assert bridged.clusters == (("a", "c", "d"),)  # b would mix two exposures: left out
    merged = build_clusters([("a", "c"), ("b", "c")], phash, 6, exposures=times, must=[("a", "b")])
    assert merged.clusters == (("a", "b", "c"),)  # a user's merge wins
    assert build_clusters([("a", "b")], phash, 6).clusters == (("a", "b"),)  # no times: pixels decide


def test_exact_edges_link_same_pixels_within_one_exposure_only() -> None:
    t1, t2 = ExposureTime("2024-05-01T09:30:12", "120"), ExposureTime("2024-05-01T09:30:12", "450")
    edges = exact_edges([["a", "b", "c", "d"]], {"a": t1, "b": t2, "c": t1})
    assert frozenset(("a", "c")) in edges and frozenset(("a", "d")) in edges
    assert not any(e == frozenset(("a", "b")) or e == frozenset(("b", "c")) for e in edges)
    assert frozenset(("b", "d")) not in edges  # d is linked to the first member already
    assert exact_edges([["x", "y"]], {}) == {frozenset(("x", "y"))}


# --- small stores ----------------------------------------------------------------------------------

def _scene(seed: int, w: int = 320, h: int = 240) -> np.ndarray:
    rng = np.random.default_rng([seed, 77])
    return add_rain(render_scene(rng, w, h), "drizzle", rng)


@pytest.fixture(scope="module")
def exposures_store(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("exposure") / "caps"
    root.mkdir()
    a, b, c, d = _scene(1), _scene(2), _scene(3), _scene(4)
    h, w = a.shape[:2]
    files = {
        # (a) identical pixels, two capture times (a static scene shot twice), plus a re-encode of
        # the second at another quality: nearly identical pixels at the second time
        "burst_1.jpg": (a, _exif(T0)), "burst_2.jpg": (a, _exif(T0 + timedelta(seconds=2))),
        "burst_2_q80.jpg": (a, _exif(T0 + timedelta(seconds=2)), 80),
        # (b) a resized re-encode keeps the original's time
        "orig_b.jpg": (b, _exif(T0 + timedelta(minutes=5))),
        "orig_b_half.jpg": (cv2.resize(b, (w // 2, h // 2), interpolation=cv2.INTER_AREA),
                            _exif(T0 + timedelta(minutes=5)), 85),
        # (c) copies without EXIF: the pixel test decides
        "noexif_c.jpg": (c, None), "noexif_c_half.jpg": (cv2.resize(c, (w // 2, h // 2)), None, 85),
        "bridge_a.jpg": (a, None, 75),
        # (d) same second, other sub-second: two exposures; no sub-second at the same second: same time
        "sub_d1.jpg": (d, _exif(T0 + timedelta(minutes=9), "120")),
        "sub_d2.jpg": (d, _exif(T0 + timedelta(minutes=9), "480"), 90),
        "sub_d3.jpg": (d, _exif(T0 + timedelta(minutes=9), None), 85),
    }
    for name, spec in files.items():
        _jpeg(root / name, *spec)
    store = init_store(tmp_path_factory.mktemp("store") / "s")
    ingest(store, [str(root)], IngestOptions(workers=1))
    result = dedupe(store)
    catalog = open_catalog(store.db_url)
    with catalog.session() as s:
        cap = {Path(uri).name: cid for uri, cid in s.execute(select(File.uri, File.capture_id))}
    catalog.close()
    return store, result, cap


def _views(store) -> dict[str, list[set[str]]]:
    catalog = open_catalog(store.db_url)
    try:
        with catalog.session() as s:
            out: dict[str, list[set[str]]] = {"cluster": [], "burst": [], "scene": []}
            for g in list_groups(s):
                out[g.kind].append({m.capture_id for m in g.members})
            return out
    finally:
        catalog.close()


def _together(views: dict[str, list[set[str]]], kind: str, *ids: str) -> bool:
    return any(set(ids) <= g for g in views[kind])


def test_identical_pixels_at_two_times_are_same_scene_not_duplicates(exposures_store) -> None:
    store, result, cap = exposures_store
    v = _views(store)
    one, two, two_q80 = cap["burst_1.jpg"], cap["burst_2.jpg"], cap["burst_2_q80.jpg"]
    assert not _together(v, "cluster", one, two) and not _together(v, "cluster", one, two_q80)
    assert _together(v, "scene", one, two, two_q80)
    assert _together(v, "cluster", two, two_q80)  # one exposure, re-encoded: still a duplicate
    assert _together(v, "burst", one, two)  # burst grouping unchanged
    catalog = open_catalog(store.db_url)
    with catalog.session() as s:
        rel = {frozenset((p.a, p.b)): p.relation for p in s.scalars(select(DedupePair))}
    catalog.close()
    assert rel[frozenset((one, two))] == "same-scene"
    assert rel[frozenset((one, two_q80))] == "same-scene"


def test_resized_copy_that_keeps_the_time_is_a_duplicate(exposures_store) -> None:
    store, _, cap = exposures_store
    assert _together(_views(store), "cluster", cap["orig_b.jpg"], cap["orig_b_half.jpg"])


def test_copies_without_exif_keep_the_pixel_test(exposures_store) -> None:
    store, _, cap = exposures_store
    v = _views(store)
    assert _together(v, "cluster", cap["noexif_c.jpg"], cap["noexif_c_half.jpg"])
    bridge = cap["bridge_a.jpg"]  # a copy without EXIF of pixels shot at two times: joins one of them
    one, two = cap["burst_1.jpg"], cap["burst_2.jpg"]
    assert _together(v, "cluster", bridge, one) != _together(v, "cluster", bridge, two)
    assert _together(v, "scene", bridge, one, two)


def test_sub_seconds_are_compared_at_the_precision_both_have(exposures_store) -> None:
    store, _, cap = exposures_store
    v = _views(store)
    d1, d2, d3 = cap["sub_d1.jpg"], cap["sub_d2.jpg"], cap["sub_d3.jpg"]
    assert not _together(v, "cluster", d1, d2)  # .120 vs .480: two exposures
    assert _together(v, "scene", d1, d2)
    # no sub-seconds, same second: compatible with either; it joins one of them by its pixels
    assert _together(v, "cluster", d3, d1) or _together(v, "cluster", d3, d2)


def test_a_user_merge_of_two_exposures_wins(exposures_store) -> None:
    store, _, cap = exposures_store
    one, two = cap["sub_d1.jpg"], cap["sub_d2.jpg"]
    catalog = open_catalog(store.db_url)
    try:
        with catalog.session() as s:
            add_correction(s, "merge", [one, two])
            regroup(s, 6, 5.0)
    finally:
        catalog.close()
    assert _together(_views(store), "cluster", one, two)
    dedupe(store)  # and a re-run keeps it
    assert _together(_views(store), "cluster", one, two)


# --- the generated bursts --------------------------------------------------------------------------

@pytest.mark.slow
def test_generated_bursts_are_never_duplicates(tmp_path: Path) -> None:
    truth = generate_variants(tmp_path / "caps", sources=2, bursts=3, burst_len=3, distractors=0, seed=5,
                              variants=("resize50", "jpeg70", "png"))
    root = Path(truth.root)
    times = {f.path: read_exif((root / f.path).read_bytes(), "jpeg", f.path).capture_time
             for f in truth.files if f.path.endswith(".jpg")}
    for f in truth.files:
        if f.variant in KEEP_EXIF:  # copies keep the original's time
            assert times[f.path] == times[f"cam/{f.frame}.jpg"]
    for scene in {f.scene for f in truth.files if f.variant == "burst"}:
        shots = sorted(datetime.fromisoformat(times[f.path]) for f in truth.files if f.scene == scene)
        gaps = [(b - a).total_seconds() for a, b in zip(shots, shots[1:])]
        assert gaps and all(1.0 <= g <= 3.0 for g in gaps)
    store = init_store(tmp_path / "s")
    ingest(store, [truth.root], IngestOptions(workers=1))
    dedupe(store)
    catalog = open_catalog(store.db_url)
    with catalog.session() as s:
        cap = {uri.split(truth.root + "/", 1)[1]: cid for uri, cid in s.execute(select(File.uri, File.capture_id))}
    catalog.close()
    v = _views(store)
    frames = [f for f in truth.files if f.variant == "burst"]
    for fa, fb in combinations(frames, 2):
        if fa.scene == fb.scene:
            assert not _together(v, "cluster", cap[fa.path], cap[fb.path])
            assert _together(v, "scene", cap[fa.path], cap[fb.path])
    for f in truth.files:
        if f.variant not in ("original", "burst"):
            assert _together(v, "cluster", cap[f.path], cap[f"cam/{f.frame}.jpg"])
