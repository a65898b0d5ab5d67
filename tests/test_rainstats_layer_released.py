"""Rain-layer measurements on the released NLCL G_B (``latest_net_Back.pth``) as well as on rainset checkpoints."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from rainset.errors import TrainError
from rainset.rainstats.layer import generator_source, layer_stats, rain_layer, rain_layer_stats
from rainset.synth import render_scene
from tests.conftest import skip_or_fail
from tests.rainstats_patterns import draw_streaks

RELEASED = Path(__file__).resolve().parents[2] / "shared" / "reference" / "nlcl-official" / "latest_net_Back.pth"


@pytest.fixture(scope="module")
def released() -> Path:
    if not RELEASED.is_file():
        skip_or_fail(f"released NLCL G_B not found at {RELEASED}")
    pytest.importorskip("torch").set_num_threads(1)
    return RELEASED


def test_generator_source_tells_released_from_rainset(released, checkpoint, tmp_path):
    assert generator_source(released) == "released"
    assert generator_source(checkpoint) == "rainset"
    torch = pytest.importorskip("torch")
    other = tmp_path / "other.pth"
    torch.save({"weight": torch.zeros(2)}, other)
    with pytest.raises(TrainError, match="other.pth: neither a rainset NLCL checkpoint nor a released"):
        generator_source(other)
    with pytest.raises(TrainError, match="missing.pth: no such checkpoint file"):
        generator_source(tmp_path / "missing.pth")


def test_released_rain_layer_is_the_frame_minus_the_released_output(released):
    """R = O − clip(G_B(O)) with the authors' weights applied as their test script normalises them."""
    import torch

    from rainset.nlcl.released import load_released, released_forward

    rgb = render_scene(np.random.default_rng(4), 640, 480)
    frame, layer = rain_layer(rgb, released)
    assert frame.shape == (384, 512, 3) and layer.shape == frame.shape
    # released_forward normalises uint8 as (x / 255 − 0.5) / 0.5: feed it the frame in those units
    with torch.inference_mode():
        out = released_forward(load_released(released), frame * np.float32(255))
    clean = np.clip((out + 1) / 2, 0, 1)
    assert np.abs(layer - (frame - clean)).max() < 1e-4
    assert np.abs(layer).mean() > 1e-3  # the network does change the frame


@pytest.mark.slow
def test_released_rain_layer_measurements(released):
    rgb = render_scene(np.random.default_rng(3), 800, 600)
    rainy = draw_streaks(rgb, 400, 10.0, 40)
    clean_stats = rain_layer_stats(rgb, released).to_dict()
    rainy_stats = rain_layer_stats(rainy, released).to_dict()
    for stats in (clean_stats, rainy_stats):
        assert all(v is None or math.isfinite(v) for v in stats.values())
        assert stats["rain_sign"] is not None and stats["rain_aniso"] is not None
        assert stats["veil_edges"] is None  # the frame's measurement, not the layer's
    # the released G_B takes the drawn bright streaks out: more bright excess in R than on the clean frame
    assert rainy_stats["rain_sign"] > clean_stats["rain_sign"]
    assert rainy_stats["streak_density"] > clean_stats["streak_density"]


def test_scene_invariant_keys_on_a_true_rain_layer():
    """The invariant keys read R itself: no rain, no bright excess; drawn streaks, a bright oriented excess."""
    clean = render_scene(np.random.default_rng(6), 1024, 768)
    f = lambda img: img.astype(np.float32) / 255  # noqa: E731
    nothing = layer_stats(f(clean), f(clean) - f(clean))
    assert nothing.rain_sign == 0.0 and nothing.rain_spots == 0.0 and math.isnan(nothing.veil_edges)
    drawn = draw_streaks(clean, 300, 0.0, 60)
    on_layer = layer_stats(f(drawn), f(drawn) - f(clean))
    assert on_layer.rain_sign > 0.5 and on_layer.rain_spots > 0.0
    assert on_layer.rain_aniso > 0.5 and on_layer.rain_dir == 0.0


@pytest.mark.slow
def test_measure_store_accepts_the_released_generator(released, tmp_path):
    from rainset.catalog.db import open_catalog
    from rainset.hashing import sha256_file
    from rainset.rainstats import load_stats, measure_store
    from tests.test_rainstats_store import capture_ids, ingested_store

    store = ingested_store(tmp_path, 2)
    result = measure_store(store, checkpoint=released)
    assert result.layer_measured == 2 and result.checkpoint == sha256_file(released) and not result.failed
    catalog = open_catalog(store.db_url)
    with catalog.session() as s:
        layer = load_stats(s, capture_ids(store), source="rain-layer")
    catalog.close()
    assert len(layer) == 2 and all(v["rain_sign"] is not None for v in layer.values())
