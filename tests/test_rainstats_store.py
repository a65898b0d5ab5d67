"""measure_store / load_stats on ingested stores (SQLite and PostgreSQL) and the rain-layer measurements."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select, update

from rainset.catalog.db import open_catalog
from rainset.catalog.models import Capture
from rainset.catalog.rainstats_tables import RainStats as RainStatsRow
from rainset.ingest import IngestOptions, ingest
from rainset.rainstats import ALGO_VERSION, load_stats, measure_store, rain_layer_stats
from rainset.demo.rainstats import demo_stage
from rainset.store import Store, init_store
from rainset.synth import generate_dataset, render_scene

SMALL = dict(raw_pairs=0, bursts=0, near_duplicates=0, exact_copies=0, corrupt=False)


def ingested_store(root: Path, n: int = 6, db_url: str | None = None) -> Store:
    generate_dataset(root / "captures", n, seed=2, **SMALL)
    store = init_store(root / "store", db_url)
    ingest(store, [str(root / "captures")], IngestOptions(workers=1))
    return store


def rows(store: Store) -> dict[tuple[str, str], RainStatsRow]:
    catalog = open_catalog(store.db_url)
    with catalog.session() as s:
        found = {(r.capture_id, r.source): r for r in s.scalars(select(RainStatsRow))}
        s.expunge_all()
    catalog.close()
    return found


def capture_ids(store: Store) -> list[str]:
    catalog = open_catalog(store.db_url)
    with catalog.session() as s:
        ids = list(s.scalars(select(Capture.id).order_by(Capture.id)))
    catalog.close()
    return ids


def check_measure_store(store: Store, workers: int) -> None:
    ids = capture_ids(store)
    removed = ids[0]
    catalog = open_catalog(store.db_url)
    with catalog.session() as s:
        s.execute(update(Capture).where(Capture.id == removed).values(status="removed", removed_reason="test"))
    catalog.close()

    first = measure_store(store, workers=workers)
    assert first.considered == len(ids) - 1 and first.measured == len(ids) - 1 and not first.missing
    written = rows(store)
    assert set(written) == {(cid, "preview") for cid in ids[1:]}
    assert all(r.algo == ALGO_VERSION and r.checkpoint is None for r in written.values())

    again = measure_store(store, workers=workers)
    assert again.measured == 0 and again.skipped == len(ids) - 1

    catalog = open_catalog(store.db_url)
    with catalog.session() as s:  # an older algorithm's row is re-measured, the others are not
        s.execute(update(RainStatsRow).where(RainStatsRow.capture_id == ids[1]).values(algo=ALGO_VERSION - 1))
        stats = load_stats(s, ids)
    catalog.close()
    assert removed not in stats and set(stats) == set(ids[1:])
    assert all(0.0 <= v["streak_density"] <= 1.0 and 0.0 <= v["veil"] <= 1.0 for v in stats.values())
    third = measure_store(store, workers=workers)
    assert third.measured == 1 and third.skipped == len(ids) - 2


def test_measure_store_sqlite_writes_skips_and_remeasures(tmp_path):
    check_measure_store(ingested_store(tmp_path, 6), workers=1)


@pytest.mark.timeout(120)
def test_measure_store_with_a_spawned_pool_matches_inline(tmp_path):
    store = ingested_store(tmp_path, 4)
    measure_store(store, workers=2)
    pooled = {k: r.values for k, r in rows(store).items()}
    measure_store(store, workers=1, only_missing=False)
    assert pooled == {k: r.values for k, r in rows(store).items()}


@pytest.mark.timeout(180)
def test_measure_store_postgresql(tmp_path, pg_url):
    check_measure_store(ingested_store(tmp_path, 5, pg_url), workers=1)


def test_missing_preview_is_reported_not_written(tmp_path):
    store = ingested_store(tmp_path, 3)
    cid = capture_ids(store)[0]
    catalog = open_catalog(store.db_url)
    with catalog.session() as s:
        sha = s.get(Capture, cid).representative_sha256
    catalog.close()
    store.preview_path(sha).unlink()
    result = measure_store(store)
    assert result.missing == (cid,) and result.measured == 2
    assert (cid, "preview") not in rows(store)


def test_load_stats_names_a_bad_source(tmp_path):
    store = init_store(tmp_path / "s")
    catalog = open_catalog(store.db_url)
    with catalog.session() as s, pytest.raises(ValueError, match="rain-stats source 'raw'"):
        load_stats(s, ["x"], source="raw")
    catalog.close()


def test_rain_layer_stats_are_finite(checkpoint):
    rgb = render_scene(np.random.default_rng(3), 320, 240)
    stats = rain_layer_stats(rgb, checkpoint).to_dict()
    assert all(v is None or math.isfinite(v) for v in stats.values())
    assert 0.0 <= stats["streak_density"] <= 1.0 and 0.0 <= stats["veil"] <= 1.0


@pytest.mark.timeout(120)
def test_measure_store_with_checkpoint_writes_rain_layer_rows(tmp_path, checkpoint):
    from rainset.hashing import sha256_file

    store = ingested_store(tmp_path, 3)
    result = measure_store(store, checkpoint=checkpoint)
    assert result.layer_measured == 3 and result.checkpoint == sha256_file(checkpoint)
    layer_rows = [r for (cid, src), r in rows(store).items() if src == "rain-layer"]
    assert len(layer_rows) == 3 and all(r.checkpoint == result.checkpoint for r in layer_rows)
    assert measure_store(store, checkpoint=checkpoint).layer_measured == 0
    import torch

    other = tmp_path / "other.pt"  # another checkpoint (another sha256): re-measured
    state = torch.load(checkpoint, weights_only=False)
    state["step"] = 1
    torch.save(state, other)
    assert measure_store(store, checkpoint=other).layer_measured == 3


def test_a_bad_checkpoint_is_named_before_any_work(tmp_path):
    from rainset.errors import TrainError

    store = ingested_store(tmp_path, 2)
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(TrainError, match="bad.pt"):
        measure_store(store, checkpoint=bad)
    with pytest.raises(TrainError, match="missing.pt: no such checkpoint"):
        measure_store(store, checkpoint=tmp_path / "missing.pt")
    assert rows(store) == {}


def test_demo_stage(tmp_path):
    store = ingested_store(tmp_path, 5)
    result = demo_stage(store)
    assert result.measured == 5 and len(result.lines()) >= 1
    assert set(result.to_dict()["mean"]) >= {"streak_density", "veil"}


def test_layer_statistics_on_the_true_rain_layer():
    """layer_stats on R = rainy − clean (what a perfect G_B leaves): the scene no longer counts."""
    from rainset.rainstats import measure
    from rainset.rainstats.layer import layer_stats
    from rainset.synth import add_rain
    from tests.rainstats_patterns import draw_streaks

    clean = render_scene(np.random.default_rng(6), 1024, 768)
    f = lambda img: img.astype(np.float32) / 255  # noqa: E731
    nothing = layer_stats(f(clean), f(clean) - f(clean))
    assert nothing.streak_density == 0.0 and math.isnan(nothing.streak_angle)
    assert measure(clean).streak_density > 0.0  # the scene's own thin lines, on the preview
    drawn = draw_streaks(clean, 300, -20.0, 60)
    on_layer = layer_stats(f(drawn), f(drawn) - f(clean))
    assert abs(on_layer.streak_angle + 20.0) < 3.0 and abs(on_layer.streak_length - 60) < 0.2 * 60
    heavy, drizzle = (add_rain(clean, k, np.random.default_rng(1)) for k in ("heavy", "drizzle"))
    assert layer_stats(f(heavy), f(heavy) - f(clean)).streak_density > \
        layer_stats(f(drizzle), f(drizzle) - f(clean)).streak_density > 0.0
