"""Evidence at the scale of the rain (rainset.dedupe.fine) and real rain layers (rainset.synth.real_layers),
on small arrays: copies keep a near-zero streak-band score, fresh thin streaks do not."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from rainset.dedupe.confirm import compare_frames
from rainset.dedupe.fine import (FINE_MAX_SCORE, FINE_MORE_TILES, FINE_TILES, FineEvidence, compare_tiles, decode_grey,
                                 fine_evidence)
from rainset.synth.real_layers import pair_layer, rain_over, tile_layer, write_real_captures
from rainset.synth.scene import render_scene
from rainset.synth.variants import VARIANTS, rotate

SIZE = (1600, 1200)


@pytest.fixture(scope="module")
def grey() -> np.ndarray:
    rgb = render_scene(np.random.default_rng(5), *SIZE)
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def _streaks(img: np.ndarray, seed: int, n: int = 400, contrast: float = 18.0) -> np.ndarray:
    """``img`` with ``n`` thin (1 px) near-vertical streaks 10–30 px long added."""
    rng = np.random.default_rng(seed)
    layer = np.zeros(img.shape, np.float32)
    h, w = img.shape
    for _ in range(n):
        x, y, length = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(10, 30)
        dx = np.tan(np.radians(rng.uniform(-10, 10))) * length
        cv2.line(layer, (int(x), int(y)), (int(x + dx), int(y + length)), contrast, 1, cv2.LINE_AA)
    return np.clip(img.astype(np.float32) + layer, 0, 255).astype(np.uint8)


def _jpeg(img: np.ndarray, q: int) -> np.ndarray:
    return cv2.imdecode(cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, q])[1], cv2.IMREAD_GRAYSCALE)


def _evidence(a: np.ndarray, b: np.ndarray, more_tiles: int = FINE_MORE_TILES) -> FineEvidence:
    """The full pipeline on in-memory frames: previews at 1024, preview comparison, then tiles."""
    def preview(x: np.ndarray) -> np.ndarray:
        f = 1024 / max(x.shape)
        return _jpeg(cv2.resize(x, (round(x.shape[1] * f), round(x.shape[0] * f)), interpolation=cv2.INTER_AREA), 85)
    pa, pb = preview(a), preview(b)
    c = compare_frames(pa, pb)
    ev = fine_evidence(lambda s: a, a.shape[::-1], lambda s: b, b.shape[::-1], c.warp, c.size, pa, pb,
                       more_tiles=more_tiles)
    assert ev is not None and ev.tiles > 0
    return ev


def _score(a: np.ndarray, b: np.ndarray) -> float:
    return _evidence(a, b).score


def test_copies_keep_a_near_zero_streak_band(grey: np.ndarray) -> None:
    rainy = _jpeg(_streaks(grey, 1), 92)
    copies = {"jpeg70": _jpeg(rainy, 70), "rotate1": _jpeg(rotate(rainy[..., None].repeat(3, 2), 1.0)[..., 0], 90),
              "bright+10": _jpeg(np.clip(rainy * 1.1 + 0.5, 0, 255).astype(np.uint8), 90)}
    for name, copy in copies.items():
        ev = _evidence(rainy, copy)
        assert ev.score <= FINE_MAX_SCORE, name
        assert ev.score > 0 or ev.tiles == FINE_TILES, name  # a zero score looks at no more tiles


def test_a_pair_in_doubt_gets_more_tiles(grey: np.ndarray) -> None:
    """Few faint streaks: the first tiles see a score above zero but under the limit; more tiles
    (bounded) find enough of them to call two exposures."""
    one, two = _jpeg(grey, 92), _jpeg(_streaks(grey, 3, n=25, contrast=13.0), 92)
    first = _evidence(one, two, more_tiles=0)
    assert first.tiles == FINE_TILES and 0.0 < first.score <= FINE_MAX_SCORE
    more = _evidence(one, two)
    assert FINE_TILES < more.tiles <= FINE_TILES + FINE_MORE_TILES
    assert more.score > FINE_MAX_SCORE


def test_fresh_thin_streaks_are_two_exposures(grey: np.ndarray) -> None:
    one, two = _jpeg(_streaks(grey, 1), 92), _jpeg(_streaks(grey, 2), 92)
    small = cv2.resize(one, (160, 120), interpolation=cv2.INTER_AREA), cv2.resize(two, (160, 120),
                                                                              interpolation=cv2.INTER_AREA)
    assert np.abs(small[0].astype(int) - small[1].astype(int)).mean() < 1.0  # invisible at thumbnail size
    assert _score(one, two) > 10 * FINE_MAX_SCORE


def test_compare_tiles_with_identity_on_same_frame_is_zero(grey: np.ndarray) -> None:
    assert compare_tiles(grey, grey.copy(), np.eye(3), [(100, 100), (600, 400)]) == 0.0


def test_decode_grey_uses_a_reduced_jpeg_decode(tmp_path: Path, grey: np.ndarray) -> None:
    path = tmp_path / "a.jpg"
    cv2.imwrite(str(path), grey, [cv2.IMWRITE_JPEG_QUALITY, 95])
    half = decode_grey(path, (800, 600))
    assert half.shape == (600, 800)  # DCT scaling 1/2, not the full 1600×1200
    assert decode_grey(path, (1000, 700)).shape == (1200, 1600)  # 1/2 would be below the size asked
    rotated = decode_grey(path, (600, 800), orientation=6)  # stored landscape, shown portrait
    assert rotated.shape == (800, 600)


def test_tile_layer_keeps_pixel_size_and_is_seamless() -> None:
    layer = np.random.default_rng(0).random((30, 40, 3)).astype(np.float32)
    tiled = tile_layer(layer, (100, 70), offset=(5, 7))
    assert tiled.shape == (70, 100, 3)
    assert np.array_equal(tiled[0, 0], layer[7, 5])  # not resampled: the layer's own pixels
    assert np.array_equal(tiled[0, 34], layer[7, 39])  # last column, then its mirror: no step at the seam
    assert np.array_equal(tiled[0, 35], layer[7, 39]) and np.array_equal(tiled[0, 36], layer[7, 38])


def test_pair_layer_is_rainy_minus_clean() -> None:
    clean = np.full((4, 4, 3), 100, np.uint8)
    rainy = clean.copy()
    rainy[1, 2] = 200
    layer = pair_layer(rainy, clean, "x", "rain100l").layer
    assert layer[1, 2, 0] == pytest.approx(100 / 255) and np.count_nonzero(layer) == 3
    with pytest.raises(ValueError, match="differ in size"):
        pair_layer(rainy[:2], clean, "x", "rain100l")


def test_real_captures_copies_share_pixels_bursts_get_fresh_rain(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    streaks = np.zeros((40, 60, 3), np.float32)
    streaks[rng.integers(0, 40, 80), rng.integers(0, 60, 80)] = 0.4
    layer = pair_layer((streaks * 255).astype(np.uint8), np.zeros_like(streaks, np.uint8), "l", "rain100l")
    truth = write_real_captures(tmp_path, [layer], 1, bursts=1, burst_len=2, size=(320, 240), seed=0, exif=False,
                                variants=("png",))
    files = {f.path: f for f in truth.files}
    assert {f.variant for f in truth.files} == {"original", "png", "burst"} and all(f.rain == "l" for f in truth.files)
    read = {p: cv2.imread(str(tmp_path / p)) for p in files}
    assert np.array_equal(read["cam/src000.jpg"], read["web/src000_png.png"])
    b0, b1 = read["burst/b00_0.jpg"].astype(int), read["burst/b00_1.jpg"].astype(int)
    assert np.abs(b0 - b1).max() > 40  # the same background, rain at another offset
    assert len(VARIANTS) == 7
    again = rain_over(np.zeros((24, 24, 3), np.uint8), layer, np.random.default_rng(3))
    assert np.array_equal(again, rain_over(np.zeros((24, 24, 3), np.uint8), layer, np.random.default_rng(3)))


def test_dedupe_run_splits_two_exposures_the_previews_cannot_tell(tmp_path: Path, grey: np.ndarray) -> None:
    """In a store (link mode: originals read where they were ingested from), without EXIF: two frames
    with different 1 px streaks are same-scene, the JPEG re-encode of one is its near-duplicate."""
    from rainset.dedupe.run import dedupe
    from rainset.ingest import IngestOptions, ingest
    from rainset.store import init_store

    src = tmp_path / "src"
    src.mkdir()
    one, two = _streaks(grey, 1), _streaks(grey, 2)
    cv2.imwrite(str(src / "one.jpg"), one, [cv2.IMWRITE_JPEG_QUALITY, 92])
    cv2.imwrite(str(src / "two.jpg"), two, [cv2.IMWRITE_JPEG_QUALITY, 92])
    cv2.imwrite(str(src / "one_q70.jpg"), cv2.imread(str(src / "one.jpg")), [cv2.IMWRITE_JPEG_QUALITY, 70])
    store = init_store(tmp_path / "store")
    ingest(store, [str(src)], IngestOptions(workers=1, link=True))
    result = dedupe(store)
    assert result.fine["checked"] >= 2
    assert result.fine["same_scene"] >= 2  # one–two and q70–two: fresh streaks
    assert result.groups.clusters == 1 and result.groups.clustered_captures == 2  # one + its re-encode
    assert result.relations.get("near-duplicate") == 1
