"""``rainset suggest --checkpoint <released NLCL G_B>``: the layer rules (rules-layer-v1) decide."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from rainset.catalog.db import catalog_session
from rainset.catalog.rainstats_tables import Suggestion
from rainset.cli import app
from rainset.labels.taxonomy import store_taxonomy
from rainset.suggest import suggest_store
from rainset.suggest.layer_rules import LAYER_RULES, LAYER_RULES_MODEL, classify_layer
from rainset.suggest.rules import RULES_MODEL
from rainset.suggest.run import load_measurements
from tests.conftest import skip_or_fail
from tests.suggest_helpers import ingested

RELEASED = Path(__file__).resolve().parents[2] / "shared" / "reference" / "nlcl-official" / "latest_net_Back.pth"


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_released_generator_selects_the_layer_rules(tmp_path: Path, checkpoint: Path) -> None:
    if not RELEASED.is_file():
        skip_or_fail(f"released NLCL G_B not found at {RELEASED}")
    store, _ = ingested(tmp_path, 6)
    out = CliRunner().invoke(app, ["suggest", "--store", str(store.root), "--checkpoint", str(RELEASED),
                                   "--model", "rules", "--json"])
    assert out.exit_code == 0, out.output
    result = json.loads(out.stdout)
    assert result["model"] == LAYER_RULES_MODEL and result["features"] == "rain-layer"
    assert result["suggested"] == 6
    with catalog_session(store.db_url) as s:
        rows = {r.capture_id: r for r in s.scalars(select(Suggestion))}
        values = load_measurements(s, sorted(rows), rain_layer=True)
    for cid, row in rows.items():
        expected = classify_layer(values[cid], store_taxonomy(store).rain_types, LAYER_RULES)
        assert (row.rain_type, row.confidence, row.model) == (expected.rain_type, expected.confidence,
                                                              LAYER_RULES_MODEL)
        assert row.info["thresholds"]["tests"][2]["feature"] == LAYER_RULES.tests[2].feature
    # a rainset checkpoint keeps rules-v4 (the layer rules were tuned on the released G_B's layer)
    assert suggest_store(store, checkpoint=checkpoint, model="rules").model == RULES_MODEL
