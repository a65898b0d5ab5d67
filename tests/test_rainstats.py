"""Rain measurements on synthetic patterns with known answers, generated rain and real rainy photos."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rainset.rainstats import RainStats, measure
from rainset.synth import add_rain, render_scene
from tests.rainstats_patterns import add_droplets, add_haze, draw_streaks, plain_background

cv2.setNumThreads(1)


@pytest.fixture(scope="module")
def scene() -> np.ndarray:
    return render_scene(np.random.default_rng(1), 1024, 768)


def angle_error(a: float, b: float) -> float:
    return abs((a - b + 90.0) % 180.0 - 90.0)


@pytest.mark.parametrize("angle", [30.0, -20.0, 0.0])
def test_streaks_drawn_at_an_angle_read_within_3_degrees(scene, angle):
    stats = measure(draw_streaks(scene, 300, angle, 40))
    assert angle_error(stats.streak_angle, angle) < 3.0, stats
    assert measure(scene).streak_density < stats.streak_density


@pytest.mark.parametrize("angle", [10.0, -25.0])
def test_streak_length_of_drawn_streaks(angle):
    bg = plain_background()
    measured = [measure(draw_streaks(bg, 8000 // n, angle, n)).streak_length for n in (20, 40, 80, 160)]
    for true, got in zip((20, 40, 80, 160), measured):
        assert abs(got - true) <= 0.15 * true, (true, got)
    assert measured == sorted(measured)


def test_streak_length_grows_with_drawn_length_on_a_scene(scene):
    """Scene texture breaks streaks up where they cross bright or busy areas: shorter, never longer."""
    truths = (20, 60, 180)
    measured = [measure(draw_streaks(scene, 8000 // n, 10, n)).streak_length for n in truths]
    assert measured[0] < measured[1] < measured[2], measured
    assert all(0.4 * t <= m <= 1.1 * t for t, m in zip(truths, measured)), measured


def test_density_grows_monotonically_with_drop_count(scene):
    densities = [measure(draw_streaks(scene, n, 10, 30)).streak_density for n in (0, 150, 400, 1000, 3000)]
    assert all(a < b for a, b in zip(densities, densities[1:])), densities
    assert 0.0 <= densities[0] and densities[-1] <= 1.0


def test_uniform_haze_raises_veil_not_streak_density(scene):
    for img in (scene, draw_streaks(scene, 400, 10, 30)):
        clear, hazy = measure(img), measure(add_haze(img))
        assert hazy.veil > clear.veil + 0.2, (clear.veil, hazy.veil)
        assert abs(hazy.streak_density - clear.streak_density) < 0.02 + 0.1 * clear.streak_density


def test_droplets_raise_droplets_not_streak_density():
    for seed in (1, 3):
        bg = render_scene(np.random.default_rng(seed), 1024, 768)
        clean, drops = measure(bg), measure(add_droplets(bg, 12))
        assert clean.droplets < 0.01 and drops.droplets > 0.03, (clean.droplets, drops.droplets)
        assert drops.streak_density <= clean.streak_density + 0.02


def test_a_dark_frame_reads_as_night_and_daylight_not(scene):
    dark = (scene.astype(np.float32) * 0.12).astype(np.uint8)
    cv2.circle(dark, (300, 200), 12, (255, 230, 180), -1)  # a street lamp
    assert measure(dark).night > 0.8
    assert measure(scene).night < 0.2
    # the exposure tips the balance but cannot turn daylight pixels into night
    assert measure(scene, exposure_time=1 / 4, f_number=2.0, iso=3200).night < 0.5
    assert measure(dark, exposure_time=1 / 4, f_number=2.0, iso=3200).night > measure(dark).night


def test_same_scene_at_1024_and_2048_gives_close_values():
    big = add_rain(render_scene(np.random.default_rng(4), 2048, 1536), "heavy", np.random.default_rng(2))
    small = cv2.resize(big, (1024, 768), interpolation=cv2.INTER_AREA)
    a, b = measure(big), measure(small)
    for name in ("streak_density", "streak_coherence", "veil", "droplets", "night", "luminance", "contrast"):
        assert abs(getattr(a, name) - getattr(b, name)) < 0.03, name
    assert angle_error(a.streak_angle, b.streak_angle) < 2.0
    assert abs(a.streak_length - b.streak_length) < 0.15 * b.streak_length


def test_jpeg_preview_quality_changes_little():
    rgb = add_rain(render_scene(np.random.default_rng(8), 1024, 768), "streak", np.random.default_rng(3),
                   exposure_time=1 / 30)
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])
    assert ok
    a, b = measure(rgb), measure(cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB))
    for name in ("streak_density", "streak_coherence", "veil", "night", "luminance", "contrast"):
        assert abs(getattr(a, name) - getattr(b, name)) < 0.03, name
    assert angle_error(a.streak_angle, b.streak_angle) < 1.0
    assert abs(a.streak_length - b.streak_length) < 0.1 * a.streak_length


def test_generated_rain_types_order_as_expected(scene):
    def rain(kind: str, exposure: float = 1 / 250) -> RainStats:
        return measure(add_rain(scene, kind, np.random.default_rng(5), exposure_time=exposure))

    none, drizzle, heavy, fog = rain("no-rain"), rain("drizzle"), rain("heavy"), rain("fog-mixed")
    streak = rain("streak", 1 / 30)
    assert heavy.streak_density > drizzle.streak_density > none.streak_density
    assert fog.veil > max(none.veil, drizzle.veil, heavy.veil, streak.veil) + 0.15
    assert streak.streak_length > 2 * drizzle.streak_length
    assert math.isnan(none.streak_angle) and none.to_dict()["streak_angle"] is None
    assert streak.streak_coherence > drizzle.streak_coherence


def test_to_dict_round_trips_and_names_every_field(scene):
    stats = measure(scene)
    d = stats.to_dict()
    assert set(d) == {"streak_density", "streak_angle", "streak_length", "streak_coherence", "veil", "droplets",
                      "night", "luminance", "contrast", "rain_dir", "rain_sign", "rain_spots", "rain_aniso",
                      "rain_aniso_long", "rain_cover", "rain_persist", "veil_edges", "rain_spots_half", "splash_tilt"}
    again = RainStats.from_dict(d)
    assert again.to_dict() == d


def test_pixel_types_agree_and_bad_input_is_named(scene):
    a = measure(scene)
    b = measure(scene.astype(np.uint16) * 257)
    c = measure(scene.astype(np.float32) / 255)
    assert abs(a.streak_density - b.streak_density) < 1e-3 and abs(a.veil - c.veil) < 1e-3
    with pytest.raises(ValueError, match="H×W×3"):
        measure(scene[..., 0])
    with pytest.raises(ValueError, match="too small"):
        measure(scene[:8, :8])
    with pytest.raises(ValueError, match="pixel type"):
        measure(scene.astype(np.int32))


PAIRS = [(f"mspfn-rain100h/model/test/test_data/R100H/inputcrop/{i}.png",
          f"mspfn-rain100h/model/test/test_data/R100H/cleancrop/{i}.png") for i in range(1, 6)] + [
    ("deraincyclegan-rain100l/datasets/rainy_Rain100L/trainA/rain-001.png",
     "deraincyclegan-rain100l/datasets/rainy_Rain100L/trainB/norain-001.png")]


@pytest.mark.fixtures
def test_real_rainy_photos_measure_more_streaks_than_their_clean_pairs(fixtures_dir):
    for rainy, clean in PAIRS:
        if not (fixtures_dir / rainy).is_file():
            pytest.skip(f"fixture {rainy} not present")
        r = measure(cv2.cvtColor(cv2.imread(str(fixtures_dir / rainy)), cv2.COLOR_BGR2RGB))
        c = measure(cv2.cvtColor(cv2.imread(str(fixtures_dir / clean)), cv2.COLOR_BGR2RGB))
        assert r.streak_density > c.streak_density, (rainy, r.streak_density, c.streak_density)


def _bright_drops(img: np.ndarray, n: int, radius: int, value: float, seed: int = 3) -> np.ndarray:
    """``n`` drops of ``radius`` px (0: single pixels) adding ``value`` grey levels."""
    rng = np.random.default_rng(seed)
    h, w = img.shape[:2]
    layer = np.zeros((h, w), np.float32)
    for x, y in zip(rng.integers(0, w, n), rng.integers(0, h, n)):
        if radius == 0:
            layer[y, x] = value
        else:
            cv2.circle(layer, (int(x), int(y)), radius, value, -1)
    return np.clip(img.astype(np.float32) + layer[..., None], 0, 255).astype(np.uint8)


def test_half_resolution_spots_favour_larger_drops():
    bg = plain_background()
    clean = measure(bg)
    dots = measure(_bright_drops(bg, 6000, 0, 12))  # faint single-pixel drops (drizzle-like)
    blobs = measure(_bright_drops(bg, 6000, 1, 12))  # the same drops, 3 px across
    assert clean.rain_spots_half < 0.001
    assert dots.rain_spots_half > clean.rain_spots_half and blobs.rain_spots_half > dots.rain_spots_half
    # halving the resolution keeps more of the larger drops than of the single pixels
    assert blobs.rain_spots_half / dots.rain_spots_half > blobs.rain_spots / dots.rain_spots


@settings(max_examples=25, deadline=None)
@given(h=st.integers(16, 300), w=st.integers(16, 300), seed=st.integers(0, 2**16), kind=st.sampled_from(["noise", "flat", "lines"]))
def test_any_frame_gives_values_in_range(h, w, seed, kind):
    rng = np.random.default_rng(seed)
    if kind == "noise":
        img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    elif kind == "flat":
        img = np.full((h, w, 3), int(rng.integers(0, 256)), np.uint8)
    else:
        img = draw_streaks(np.full((h, w, 3), 60, np.uint8), int(rng.integers(1, 50)), float(rng.uniform(-89, 89)), 12)
    d = measure(img).to_dict()
    for name in ("streak_density", "streak_coherence", "veil", "droplets", "night", "luminance", "rain_spots_half"):
        assert 0.0 <= d[name] <= 1.0, (name, d[name])
    assert d["streak_length"] >= 0.0 and 0.0 <= d["contrast"] <= 0.5
    assert d["streak_angle"] is None or -90.0 < d["streak_angle"] <= 90.0
