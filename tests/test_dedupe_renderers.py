"""Dedupe on rain it was not tuned on, at 12 MP, with all EXIF stripped (issue 15, item 4).

Thresholds were tuned on the first renderer (rainset.synth.rain). Here: captures of the second
renderer (rainset.synth.depth_rain: fine drizzle, thin streaks, light streaks in fog) and of real
rain layers (rainy − clean of the fixtures' Rain100L pair; the released NLCL G_R's rain layer of a
RealRain photo when the reference weights are there), tiled at their own pixel size. Without
EXIF, only the pixels (the full-resolution check) can tell burst frames from copies: no burst frame
pair may be called a duplicate, and every copy kind must be found. Few captures (one source with
its seven copies; bursts of two frames of the faint rain only: drizzle and fog with light streaks,
where the previews cannot tell): the full table, all rain types, is bench/dedupe_renderers.py's
(docs/dedupe.md).
"""

from __future__ import annotations

from itertools import combinations
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from rainset.catalog.db import open_catalog
from rainset.catalog.models import File
from rainset.dedupe.groups import list_groups
from rainset.dedupe.run import dedupe
from rainset.ingest import IngestOptions, ingest
from rainset.store import init_store
from rainset.synth.depth_rain import render_burst, render_depth_rain, write_captures
from rainset.synth.real_layers import fixture_pair_layers, realrain_layers, write_real_captures
from rainset.synth.variants import VARIANTS, VariantTruth

SIZE = (4000, 3000)
FAINT = ("drizzle", "fog-mixed")  # the second renderer's rain the previews cannot tell apart
WEIGHTS = Path(__file__).resolve().parents[2] / "shared" / "reference" / "nlcl-official" / "latest_net_Rain.pth"

pytestmark = pytest.mark.slow


def _clusters(truth: VariantTruth, root: Path) -> tuple[dict[str, str], list[set[str]]]:
    store = init_store(root / "store")
    ingest(store, [truth.root], IngestOptions(workers=1))
    result = dedupe(store)
    assert result.fine["checked"] > 0  # the full-resolution check ran
    catalog = open_catalog(store.db_url)
    try:
        with catalog.session() as s:
            cap = {uri.split(truth.root + "/", 1)[1]: cid for uri, cid in s.execute(select(File.uri, File.capture_id))}
            clusters = [{m.capture_id for m in g.members} for g in list_groups(s) if g.kind == "cluster"]
    finally:
        catalog.close()
    return cap, clusters


def _check(truth: VariantTruth, root: Path) -> None:
    cap, clusters = _clusters(truth, root)
    together = lambda a, b: cap[a] == cap[b] or any({cap[a], cap[b]} <= c for c in clusters)  # noqa: E731
    bursts = [(a, b) for a, b in combinations(truth.files, 2) if a.variant == b.variant == "burst" and a.scene == b.scene]
    assert bursts
    merged = [(a.path, b.path, a.rain) for a, b in bursts if together(a.path, b.path)]
    assert merged == [], f"burst frames called duplicates: {merged}"
    originals = [f for f in truth.files if f.variant == "original"]
    missed = [(o.path, f.variant) for o in originals for f in truth.files
              if f.frame == o.frame and f.variant in VARIANTS and not together(o.path, f.path)]
    assert missed == [], f"copies not found: {missed}"
    assert {f.variant for f in truth.files} >= set(VARIANTS)


@pytest.mark.timeout(900)
def test_second_renderer_without_exif(tmp_path: Path) -> None:
    def frame(background: np.ndarray, k: int, rng: np.random.Generator) -> tuple[np.ndarray, float]:
        f = render_depth_rain(background, FAINT[0], rng)
        return f.image, f.truth.exposure_time

    def burst(background: np.ndarray, b: int, n: int, rng: np.random.Generator) -> list[tuple[np.ndarray, float]]:
        frames = render_burst(background, FAINT[b], int(rng.integers(1 << 31)), n)
        return [(f.image, f.truth.exposure_time) for f in frames]

    truth = write_captures(tmp_path / "caps", frame, burst, [FAINT[0]], list(FAINT), burst_len=2, size=SIZE, seed=5,
                           exif=False)
    assert {f.rain for f in truth.files if f.variant == "burst"} == set(FAINT)
    _check(truth, tmp_path)


@pytest.mark.timeout(900)
def test_real_rain_layers_without_exif(tmp_path: Path, fixtures_dir: Path) -> None:
    layers = [x for x in fixture_pair_layers(fixtures_dir) if x.kind == "rain100l"][:1]
    if WEIGHTS.is_file():
        layers += realrain_layers(fixtures_dir, WEIGHTS, images=(3,), crop=256)
    truth = write_real_captures(tmp_path / "caps", layers, 1, bursts=len(layers), burst_len=2, size=SIZE, seed=5,
                                exif=False)
    _check(truth, tmp_path)
