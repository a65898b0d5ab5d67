"""``suggest_store`` and ``rainset suggest`` on small ingested stores (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from rainset.catalog.db import catalog_session
from rainset.catalog.models import Capture, Label, Version
from rainset.catalog.rainstats_tables import Suggestion
from rainset.cli import app
from rainset.errors import ConfigError
from rainset.store import Store
from rainset.suggest import suggest_store
from rainset.suggest.features import matrix
from rainset.suggest.rules import RULES_MODEL
from rainset.suggest.run import SuggestResult, load_measurements, stored_model
from rainset.suggestions import current_suggestions
from rainset.synth import SynthTruth
from tests.suggest_helpers import ingested, label_with_truth


def _counts(store: Store) -> tuple[int, int, dict[str, tuple]]:
    with catalog_session(store.db_url) as s:
        labels = s.scalar(select(func.count()).select_from(Label))
        active = s.scalar(select(func.count()).select_from(Capture).where(Capture.status == "active"))
        rows = {r.capture_id: (r.rain_type, r.confidence, r.model, r.created_at) for r in s.scalars(select(Suggestion))}
    return labels, active, rows


def check_store_flow(store: Store, truth: SynthTruth) -> None:
    """Rules without labels, idempotent re-run, refusal, then the fitted model; never a label written."""
    with pytest.raises(ConfigError, match="too few labels"):
        suggest_store(store, model="fitted")
    first = suggest_store(store, model="auto")
    labels, active, rows = _counts(store)
    assert first.kind == "rules" and first.model == RULES_MODEL and first.measured == active == 30
    assert labels == 0 and len(rows) == active == first.suggested
    again = suggest_store(store)
    assert again.changed == 0 and again.measured == 0 and _counts(store)[2] == rows  # same rows, same times

    expected = label_with_truth(store, truth)
    fitted = suggest_store(store)
    labels_after, _, rows_after = _counts(store)
    assert labels_after == len(expected) and len(rows_after) == active  # only our own labels; one row each
    assert fitted.kind == "fitted" and fitted.model.startswith("logreg-") and fitted.labelled == len(expected)
    assert fitted.model_version == "suggest-" + fitted.model[len("logreg-"):]
    with catalog_session(store.db_url) as s:
        version = s.scalar(select(Version).where(Version.kind == "suggest-model"))
        assert version.name == fitted.model_version and version.info["n_train"] == len(expected)
        row = s.get(Suggestion, sorted(expected)[0])
        probs = row.info["probabilities"]
        assert abs(sum(probs.values()) - 1) < 1e-3 and row.confidence == max(probs.values())
        assert row.info["model_version"] == fitted.model_version
        # reproducible from the catalog alone: the stored parameters and measurements give the stored probabilities
        model = stored_model(s, fitted.model_version)
        values = load_measurements(s, [row.capture_id], rain_layer=False)[row.capture_id]
        again = model.predict_proba(matrix([values], model.features))[0]
        assert dict(zip(model.classes, again.round(4).tolist())) == pytest.approx(probs, abs=1e-4)
        views = current_suggestions(s, expected)
    assert {v.model for v in views.values()} == {fitted.model}
    # the fitted model has seen these labels: it reproduces most of them
    assert fitted.agree_with_labels >= 0.8 * fitted.labelled
    assert suggest_store(store).changed == 0  # same labels, same model, same suggestions


def test_suggest_store_sqlite(tmp_path: Path) -> None:
    store, truth = ingested(tmp_path)
    check_store_flow(store, truth)
    from rainset.manifests.removal import remove_captures

    gone = sorted(_counts(store)[2])[0]
    remove_captures(store, [gone], "a face")
    result = suggest_store(store, model="rules")
    _, active, rows = _counts(store)
    assert gone not in rows and len(rows) == active == 29 == result.suggested
    with pytest.raises(ConfigError, match="--model"):
        suggest_store(store, model="forest")


@pytest.mark.timeout(240)
def test_suggest_store_postgresql(tmp_path: Path, pg_url: str) -> None:
    store, truth = ingested(tmp_path, db_url=pg_url)
    check_store_flow(store, truth)


runner = CliRunner()


def test_cli_json_show_and_model(tmp_path: Path) -> None:
    store, truth = ingested(tmp_path)
    s = str(store.root)
    r = runner.invoke(app, ["suggest", "--store", s, "--json"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert set(data) == set(SuggestResult.__dataclass_fields__) | {"json_format"} and data["suggested"] == 30
    cid = sorted(_counts(store)[2])[0]
    shown = json.loads(runner.invoke(app, ["suggest", "show", cid, "--store", s, "--json"]).stdout)
    assert shown["capture_id"] == cid and shown["suggestion"]["model"] == RULES_MODEL
    assert shown["suggestion"]["info"]["reason"] and "streak_density" in shown["measurements"]
    text = runner.invoke(app, ["suggest", "show", cid, "--store", s]).stdout
    assert json.loads(runner.invoke(app, ["suggest", "--store", s, "--json", "show", cid]).stdout) == shown
    assert f"suggestion: {shown['suggestion']['rain_type']}" in text
    model = json.loads(runner.invoke(app, ["suggest", "model", "--store", s, "--json"]).stdout)
    assert model["kind"] == "rules" and "fog_min" in model["thresholds"] and "cal_b" in model["thresholds"]
    bad = runner.invoke(app, ["suggest", "show", "nope", "--store", s])
    assert bad.exit_code == 1 and "no capture with id 'nope'" in bad.stderr
    bad = runner.invoke(app, ["suggest", "--model", "fitted", "--store", s, "-q"])
    assert bad.exit_code == 1 and "too few labels" in bad.stderr

    label_with_truth(store, truth)
    assert runner.invoke(app, ["suggest", "--store", s, "-q"]).stdout == ""
    model = json.loads(runner.invoke(app, ["suggest", "model", "--store", s, "--json"]).stdout)
    assert model["kind"] == "fitted" and len(model["parameters"]["coef"]) == len(model["parameters"]["classes"])
    text = runner.invoke(app, ["suggest", "model", "--store", s]).stdout
    assert "streak_density" in text and "(intercept)" in text


def test_manifest_has_measurements_and_no_suggestion_as_label(tmp_path: Path) -> None:
    from rainset.manifests.export import export_manifest
    from rainset.manifests.schema import COLUMN_NAMES, RAIN_COLUMNS
    from rainset.manifests.versions import open_version

    store, _ = ingested(tmp_path)
    export_manifest(store, "before", include_unlabelled=True)
    suggest_store(store)
    export_manifest(store, "after", include_unlabelled=True)
    before, after = open_version(store, "before").rows(), open_version(store, "after").rows()
    assert set(RAIN_COLUMNS) <= set(COLUMN_NAMES) and not any("suggest" in c for c in COLUMN_NAMES)
    assert all(r[c] is None for r in before for c in RAIN_COLUMNS)  # not measured yet: nulls
    assert all(r["rain_streak_density"] is not None and r["rain_veil"] is not None for r in after)
    assert all(r["rain_type"] is None and r["labels"] == [] for r in after)  # suggestions are not labels
    with catalog_session(store.db_url) as s:
        from rainset.rainstats import load_stats

        stats = load_stats(s, [r["sample_id"] for r in after])
    assert all(r["rain_veil"] == pytest.approx(stats[r["sample_id"]]["veil"]) for r in after)


@pytest.mark.timeout(240)
def test_checkpoint_adds_rain_layer_features(tmp_path: Path, checkpoint: Path) -> None:
    store, truth = ingested(tmp_path)
    rules = suggest_store(store, checkpoint=checkpoint, model="rules")
    assert rules.measured == 60 and rules.features == "preview"  # preview + rain layer rows; rules read the preview
    label_with_truth(store, truth)
    fitted = suggest_store(store, checkpoint=checkpoint)
    assert fitted.measured == 0 and fitted.kind == "fitted" and fitted.features == "rain-layer"
    with catalog_session(store.db_url) as s:
        params = s.scalar(select(Version).where(Version.name == fitted.model_version)).info
        assert params["features_source"] == "rain-layer" and "rl_streak_density" in params["features"]
        assert "streak_density" in params["features"]
        rows = list(s.scalars(select(Suggestion)))
        assert len(rows) == 30 and {r.features for r in rows} == {"rain-layer"}
        from rainset.suggest.explain import explain_capture

        shown = explain_capture(s, rows[0].capture_id)
    assert "rl_veil" in shown.measurements and shown.suggestion["features"] == "rain-layer"
    # without the checkpoint the model is fitted on the preview measurements alone
    assert suggest_store(store).features == "preview"
