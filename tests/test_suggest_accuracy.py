"""Acceptance: the real rainy photos of ../shared/fixtures are measured, suggested and reported.

The accuracy checks, all split by scene, are in tests/test_suggest_scenes.py (issue 16)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest


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
