"""Dedupe on rain it was not tuned on, at 12 MP, with all EXIF stripped (issue 15, item 4).

Thresholds were tuned on the first renderer (rainset.synth.rain). Here: captures of the second
renderer (rainset.synth.depth_rain: fine drizzle, thin streaks, light streaks in fog) and of real
rain layers (rainy − clean of the fixtures' Rain100L pair; the released NLCL G_R's rain layer of a
RealRain photo when the reference weights are there), tiled at their own pixel size. Without
EXIF, only the pixels (the full-resolution check) can tell burst frames from copies: no burst frame
pair may be called a duplicate, and every copy kind must be found. Few captures: the full table
is bench/dedupe_renderers.py's (docs/dedupe.md).
"""

from __future__ import annotations

from itertools import combinations
from pathlib import Path

import pytest
from sqlalchemy import select

from rainset.catalog.db import open_catalog
from rainset.catalog.models import File
from rainset.dedupe.groups import list_groups
from rainset.dedupe.run import dedupe
from rainset.ingest import IngestOptions, ingest
from rainset.store import init_store
from rainset.synth.depth_rain import write_depth_captures
from rainset.synth.real_layers import fixture_pair_layers, realrain_layers, write_real_captures
from rainset.synth.variants import VARIANTS, VariantTruth

SIZE = (4000, 3000)
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
    truth = write_depth_captures(tmp_path / "caps", 1, bursts=4, burst_len=2, size=SIZE, seed=5, exif=False)
    assert {f.rain for f in truth.files if f.variant == "burst"} == {"drizzle", "heavy", "streak", "fog-mixed"}
    _check(truth, tmp_path)


@pytest.mark.timeout(900)
def test_real_rain_layers_without_exif(tmp_path: Path, fixtures_dir: Path) -> None:
    layers = [x for x in fixture_pair_layers(fixtures_dir) if x.kind == "rain100l"][:1]
    if WEIGHTS.is_file():
        layers += realrain_layers(fixtures_dir, WEIGHTS, images=(3,), crop=256)
    truth = write_real_captures(tmp_path / "caps", layers, 1, bursts=len(layers), burst_len=2, size=SIZE, seed=5,
                                exif=False)
    _check(truth, tmp_path)
