"""Tests of rainset.synth: generated captures, rain types, EXIF and DNG writers."""

from __future__ import annotations

import hashlib
from collections import Counter
from datetime import datetime
from pathlib import Path

import cv2
import exifread
import numpy as np
import pytest
from PIL import Image

from rainset.errors import REJECT_REASONS
from rainset.synth import (
    HOSTILE_NAME,
    RAIN_TYPES,
    SynthExif,
    SynthTruth,
    add_rain,
    generate_dataset,
    generate_large_jpegs,
    render_scene,
    write_dng,
    write_jpeg,
)

EXIF = SynthExif(make="Nimbus", model="Nimbus N1", serial="NB0012345", lens="Nimbus 24-70mm F2.8",
                 capture_time=datetime(2023, 10, 14, 6, 30, 12), subsec="120", offset="+01:00",
                 exposure_time=1 / 250, f_number=2.8, iso=800, focal_length=35.0,
                 gps=(45.764123, -4.835711, 170.5))


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> SynthTruth:
    return generate_dataset(tmp_path_factory.mktemp("synth"))


def _tags(path: Path) -> dict:
    with open(path, "rb") as fh:
        return exifread.process_file(fh, details=False)


def _dms_to_deg(tag) -> float:  # noqa: ANN001 - an exifread IfdTag
    d, m, s = (float(v.num) / float(v.den) for v in tag.values)
    return d + m / 60 + s / 3600


def _grey(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float64)


def _digests(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_deterministic_for_a_seed(tmp_path: Path) -> None:
    kwargs = dict(n_captures=12, size=(320, 240), raw_pairs=1, bursts=1, near_duplicates=2, exact_copies=1)
    a = generate_dataset(tmp_path / "a", seed=3, **kwargs)
    b = generate_dataset(tmp_path / "b", seed=3, **kwargs)
    c = generate_dataset(tmp_path / "c", seed=4, **kwargs)
    da, db, dc = _digests(tmp_path / "a"), _digests(tmp_path / "b"), _digests(tmp_path / "c")
    assert da == db
    assert [f.path for f in a.files] == [f.path for f in b.files]
    assert sorted(da) == sorted(f.path for f in a.files)  # every file is in the truth, nothing else
    changed = [p for p in da if p in dc and da[p] != dc[p]]
    assert len(changed) > len(da) // 2
    assert a.files != c.files


def test_counts_per_kind(dataset: SynthTruth) -> None:
    counts = Counter(f.kind for f in dataset.files)
    assert counts["burst"] == 2 * 3
    assert counts["capture"] + counts["burst"] == 60
    assert counts["raw-pair"] == 4
    assert counts["near-duplicate"] == 4
    assert counts["exact-copy"] == 2
    assert counts["corrupt"] == 5
    assert {f.rain_type for f in dataset.files if f.kind == "capture"} == set(RAIN_TYPES)
    root = Path(dataset.root)
    assert not (root / "truth.json").exists()
    assert all((root / f.path).is_file() for f in dataset.files)
    assert len({f.path for f in dataset.files}) == len(dataset.files)


def test_truth_json_round_trip(dataset: SynthTruth) -> None:
    again = SynthTruth.from_json(dataset.to_json())
    assert again == dataset
    assert HOSTILE_NAME in dataset.to_json()


def test_corrupt_files_and_expected_rejects(dataset: SynthTruth) -> None:
    root = Path(dataset.root)
    reasons = {Path(f.path).name: f.expected_reject for f in dataset.by_kind("corrupt")}
    assert reasons == {"truncated.jpg": "truncated", "empty.jpg": "empty-file", "IMG_9999.CR2": "decode-failed",
                       "grey.jpg": "blank-frame", "notes.txt": "unsupported-format"}
    assert set(reasons.values()) <= set(REJECT_REASONS)
    broken = root / "broken"
    assert (broken / "empty.jpg").stat().st_size == 0
    with Image.open(broken / "truncated.jpg") as im, pytest.raises(OSError):
        im.load()
    with Image.open(broken / "grey.jpg") as im:
        assert np.asarray(im).std() < 1.0
    assert (broken / "notes.txt").read_text(encoding="utf-8").startswith("rain log")
    import rawpy

    with pytest.raises(rawpy.LibRawError):
        rawpy.imread(str(broken / "IMG_9999.CR2"))
    assert all(f.expected_reject is None for f in dataset.files if f.kind != "corrupt")


def test_hostile_name_is_a_valid_capture(dataset: SynthTruth) -> None:
    (entry,) = [f for f in dataset.files if f.path.endswith(HOSTILE_NAME)]
    assert entry.kind == "capture"
    with Image.open(Path(dataset.root) / entry.path) as im:
        im.load()
        assert im.size == (640, 480)


def test_raw_pairs_decode_like_their_jpeg(dataset: SynthTruth) -> None:
    import rawpy

    root = Path(dataset.root)
    for f in dataset.by_kind("raw-pair"):
        assert f.path.endswith(".dng") and Path(f.path).with_suffix(".jpg").as_posix() == f.duplicate_of
        with rawpy.imread(str(root / f.path)) as raw:
            rgb = raw.postprocess(half_size=True)
            # sRGB curve, no auto-brightening, no white-level guessing: the source colours come back.
            exact = raw.postprocess(half_size=True, gamma=(2.4, 12.92), no_auto_bright=True, adjust_maximum_thr=0)
        assert rgb.shape == (240, 320, 3) and rgb.std() > 10
        jpeg = np.asarray(Image.open(root / f.duplicate_of).convert("RGB")).reshape(-1, 3).mean(0)
        assert np.abs(exact.reshape(-1, 3).mean(0) - jpeg).max() < 3, f.path
        # LibRaw's defaults (BT.709 curve, auto-bright, adjust_maximum_thr 0.75) shift it, boundedly.
        assert np.abs(rgb.reshape(-1, 3).mean(0) - jpeg).max() < 40, f.path
        tags = _tags(root / f.path)
        assert str(tags["Image Make"]) == "Nimbus" and str(tags["Image Model"]) == "Nimbus N1"
        assert str(tags["Image BodySerialNumber"]) == f.serial
        assert str(tags["Image Tag 0xC62F"]) == f.serial  # CameraSerialNumber: exifread has no name
        assert str(tags["Image DateTimeOriginal"]) == f.capture_time[:19].replace("-", ":").replace("T", " ")


def test_exact_copies_are_byte_identical(dataset: SynthTruth) -> None:
    root = Path(dataset.root)
    for f in dataset.by_kind("exact-copy"):
        assert f.path != f.duplicate_of
        assert (root / f.path).read_bytes() == (root / f.duplicate_of).read_bytes()


def test_near_duplicates_look_like_their_original(dataset: SynthTruth) -> None:
    root = Path(dataset.root)
    for f in dataset.by_kind("near-duplicate"):
        copy = np.asarray(Image.open(root / f.path).convert("RGB")).astype(np.float64)
        orig = np.asarray(Image.open(root / f.duplicate_of).convert("RGB"))
        assert (root / f.path).read_bytes() != (root / f.duplicate_of).read_bytes()
        if copy.shape[:2] == (240, 320):
            ref = cv2.resize(orig, (320, 240), interpolation=cv2.INTER_AREA)
        else:
            ref = orig[24:456, 32:608]
        assert np.abs(copy - ref).mean() < 6, f.path


def test_bursts_share_serial_and_are_seconds_apart(dataset: SynthTruth) -> None:
    root = Path(dataset.root)
    bursts: dict[int, list] = {}
    for f in dataset.by_kind("burst"):
        bursts.setdefault(f.burst_id, []).append(f)
    assert len(bursts) == 2
    for frames in bursts.values():
        assert len(frames) == 3
        assert len({f.serial for f in frames}) == 1 and len({f.scene_id for f in frames}) == 1
        times = [datetime.fromisoformat(f.capture_time) for f in frames]
        gaps = [(b - a).total_seconds() for a, b in zip(times, times[1:])]
        assert all(0 < g <= 5 for g in gaps), gaps
        pixels = [np.asarray(Image.open(root / f.path)) for f in frames]
        assert not np.array_equal(pixels[0], pixels[1])
        assert np.abs(pixels[0].astype(int) - pixels[1]).mean() < 40


def test_exif_reads_back_with_exifread(tmp_path: Path) -> None:
    path = tmp_path / "x.jpg"
    write_jpeg(path, render_scene(np.random.default_rng(0), 160, 120), EXIF)
    tags = _tags(path)
    assert str(tags["Image Make"]) == "Nimbus" and str(tags["Image Model"]) == "Nimbus N1"
    assert str(tags["EXIF BodySerialNumber"]) == "NB0012345"
    assert str(tags["EXIF LensModel"]) == "Nimbus 24-70mm F2.8"
    assert str(tags["EXIF ExposureTime"]) == "1/250"
    assert int(str(tags["EXIF ISOSpeedRatings"])) == 800
    assert str(tags["EXIF DateTimeOriginal"]) == "2023:10:14 06:30:12"
    assert str(tags["EXIF SubSecTimeOriginal"]) == "120" and str(tags["EXIF OffsetTimeOriginal"]) == "+01:00"
    assert str(tags["GPS GPSLatitudeRef"]) == "N" and str(tags["GPS GPSLongitudeRef"]) == "W"
    assert abs(_dms_to_deg(tags["GPS GPSLatitude"]) - 45.764123) < 1e-4
    assert abs(_dms_to_deg(tags["GPS GPSLongitude"]) - 4.835711) < 1e-4


def test_dataset_exif_matches_truth(dataset: SynthTruth) -> None:
    root = Path(dataset.root)
    for f in dataset.by_kind("capture")[:5] + dataset.by_kind("burst")[:2]:
        tags = _tags(root / f.path)
        assert str(tags["EXIF BodySerialNumber"]) == f.serial
        stamp = f"{tags['EXIF DateTimeOriginal']}.{tags['EXIF SubSecTimeOriginal']}{tags['EXIF OffsetTimeOriginal']}"
        assert datetime.strptime(stamp, "%Y:%m:%d %H:%M:%S.%f%z") == datetime.fromisoformat(f.capture_time)


def test_dng_writer_standalone(tmp_path: Path) -> None:
    import rawpy

    rgb = np.zeros((64, 96, 3), np.uint8)
    rgb[:] = (200, 60, 60)
    path = tmp_path / "x.dng"
    write_dng(path, rgb, EXIF)
    with rawpy.imread(str(path)) as raw:
        out = raw.postprocess(half_size=True, no_auto_bright=True, gamma=(2.4, 12.92))
    assert out.shape == (32, 48, 3)
    assert np.abs(out.reshape(-1, 3).mean(0) - (200, 60, 60)).max() < 4


def test_render_scene_shape_and_texture() -> None:
    a = render_scene(np.random.default_rng(1), 320, 240)
    b = render_scene(np.random.default_rng(2), 320, 240)
    assert a.shape == (240, 320, 3) and a.dtype == np.uint8
    assert np.array_equal(a, render_scene(np.random.default_rng(1), 320, 240))
    assert not np.array_equal(a, b)
    assert cv2.Laplacian(_grey(a), cv2.CV_64F).var() > 100  # fine texture: not a flat cartoon
    assert a.std() > 25


@pytest.fixture(scope="module")
def clean() -> np.ndarray:
    return render_scene(np.random.default_rng(7), 640, 480)


def _rain_residual(clean: np.ndarray, rain_type: str, exposure: float = 1 / 250, seed: int = 11) -> np.ndarray:
    rainy = add_rain(clean, rain_type, np.random.default_rng(seed), exposure_time=exposure)
    return _grey(rainy) - _grey(clean)


def test_no_rain_is_unchanged(clean: np.ndarray) -> None:
    assert np.array_equal(add_rain(clean, "no-rain", np.random.default_rng(0)), clean)
    with pytest.raises(ValueError):
        add_rain(clean, "snow", np.random.default_rng(0))


def test_fog_lowers_contrast_more_than_drizzle(clean: np.ndarray) -> None:
    base = _grey(clean).std()
    drizzle = _grey(add_rain(clean, "drizzle", np.random.default_rng(1))).std()
    fog = _grey(add_rain(clean, "fog-mixed", np.random.default_rng(1))).std()
    assert base - fog > 3 * max(base - drizzle, 0.5)


def _streak_energy(residual: np.ndarray) -> float:
    fine = residual - cv2.GaussianBlur(residual, (0, 0), 2.0)
    return float(np.clip(fine, 0, None).sum())


def test_heavy_adds_more_streak_energy_than_drizzle(clean: np.ndarray) -> None:
    drizzle = _rain_residual(clean, "drizzle")
    heavy = _rain_residual(clean, "heavy")
    assert drizzle.max() > 20  # drizzle is visible at all
    assert _streak_energy(heavy) > 3 * _streak_energy(drizzle)
    assert (heavy > 10).mean() > 3 * (drizzle > 10).mean()


def _correlation_length(residual: np.ndarray) -> int:
    """Vertical lag at which the rain layer's autocorrelation (best over slant) falls below 0.5."""
    r = residual - residual.mean()
    spec = np.fft.rfft2(r, s=(2 * r.shape[0], 2 * r.shape[1]))
    ac = np.fft.irfft2(np.abs(spec) ** 2)
    ac /= ac[0, 0]
    for dy in range(1, 200):
        reach = dy + 2
        best = max(ac[dy, :reach].max(), ac[dy, -reach:].max())
        if best < 0.5:
            return dy
    return 200


def test_streak_length_grows_with_exposure(clean: np.ndarray) -> None:
    lengths = [_correlation_length(_rain_residual(clean, "streak", exp)) for exp in (1 / 500, 1 / 60, 1 / 15)]
    assert lengths[0] < lengths[1] < lengths[2], lengths
    assert lengths[2] > 3 * lengths[0]


def test_generate_large_jpegs(tmp_path: Path) -> None:
    paths = generate_large_jpegs(tmp_path, 2, size=(800, 600))
    assert [p.name for p in paths] == ["large_0000.jpg", "large_0001.jpg"]
    a, b = (np.asarray(Image.open(p)) for p in paths)
    assert a.shape == (600, 800, 3) and not np.array_equal(a, b)
    assert str(_tags(paths[0])["EXIF BodySerialNumber"]) == "NB0012345"
