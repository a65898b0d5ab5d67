"""Acceptance: suggestions on generated captures of a configuration the classifier was not fitted on,
and on the real rainy photos of ../shared/fixtures (measurements and suggestions in the report)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from rainset.suggest.evaluate import CLASSES, TEST, TRAIN, evaluate


@pytest.mark.timeout(280)
def test_held_out_accuracy_of_fitted_model_and_rules() -> None:
    report = evaluate(train_per_class=20, test_per_class=12)
    assert TRAIN.seed != TEST.seed and TEST.held_out and not TRAIN.held_out
    assert report.n_test == 12 * len(CLASSES) and report.chance == pytest.approx(1 / len(CLASSES))
    assert sum(map(sum, report.fitted.confusion)) == report.n_test
    assert report.fitted.accuracy >= 0.7, report.lines()
    assert report.rules.accuracy >= report.chance + 0.3, report.lines()  # rules need no labels, still far above chance
    # every class is recognised by the fitted model at least twice as often as by chance
    assert min(report.fitted.per_class_recall.values()) >= 2 * report.chance, report.fitted.per_class_recall
    assert "fitted model" in report.lines()[0]


REAL_RAIN = ("nlcl-realrain/datasets/RealRain/trainA", "nlcl-realrain/datasets/RealRain/valA",
             "did-mdn/sample_results", "deraindrop/demo/input")


@pytest.mark.timeout(240)
def test_real_rainy_photos_measured_suggested_and_reported(tmp_path: Path, fixtures_dir: Path) -> None:
    from rainset.catalog.db import catalog_session
    from rainset.ingest import IngestOptions, ingest
    from rainset.manifests.export import export_manifest
    from rainset.manifests.report import write_report
    from rainset.manifests.versions import open_version
    from rainset.store import init_store
    from rainset.suggest import suggest_store
    from rainset.suggestions import current_suggestions

    store = init_store(tmp_path / "store")
    summary = ingest(store, [str(fixtures_dir / d) for d in REAL_RAIN], IngestOptions(workers=1))
    assert summary.new_captures == 2 + 7 + 2 + 5
    result = suggest_store(store)
    assert result.kind == "rules" and result.suggested == summary.new_captures
    export_manifest(store, "real", include_unlabelled=True)
    rows = open_version(store, "real").rows()
    with catalog_session(store.db_url) as s:
        suggestions = current_suggestions(s, [r["sample_id"] for r in rows])
    # real rain: streaks are found on every photo of the heavy-rain sets
    heavy_sets = [r for r in rows if "RealRain" in r["source_uri"] or "sample_results" in r["source_uri"]]
    assert len(heavy_sets) == 11 and all(r["rain_streak_density"] > 0 for r in heavy_sets)
    assert all(r["rain_type"] is None for r in rows)  # suggestions never become labels
    report = write_report(store, "real", tmp_path / "report.html")
    assert report.rain_rows == len(rows)
    page = (tmp_path / "report.html").read_text()
    section = page.split('data-rain="suggestions"')[1].split("</section>")[0]
    for r in rows:
        m = re.search(rf'<tr data-sample="{r["sample_id"]}">(.*?)</tr>', section)
        assert m, r["file_name"]
        cells = re.findall(r"<td[^>]*>(.*?)</td>", m.group(1))
        assert r["file_name"] in cells[1] and cells[3].startswith(suggestions[r["sample_id"]].rain_type)
        assert cells[4] == f'{r["rain_streak_density"]:.3g}' and cells[7] == f'{r["rain_veil"]:.3g}'
        assert cells[0].startswith("<img")  # the preview thumbnail
    for plot in ("rain-by-label", "streak-angle", "suggestions-vs-labels"):
        assert f'data-plot="{plot}"' in page
