"""The manifest stage of the demo on a real ingested store (generated captures)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rainset.catalog.db import open_catalog
from rainset.catalog.models import Capture
from rainset.demo import run_demo
from rainset.demo.manifest import demo_stage
from rainset.errors import ManifestError
from rainset.manifests.versions import check_files, open_version
from rainset.store import open_store


@pytest.mark.timeout(240)
def test_demo_stage_on_an_ingested_store(tmp_path: Path) -> None:
    demo = run_demo(tmp_path / "demo", n_captures=24, workers=1, train=False)
    assert demo.stages["manifest"]["export"]["name"] == "demo-v1"  # the demo exported its version
    store = open_store(demo.store)
    with pytest.raises(ManifestError, match="already exists"):
        demo_stage(store)  # versions are immutable
    result = demo_stage(store, name="demo-v2")
    catalog = open_catalog(store.db_url)
    with catalog.session() as s:
        active = s.query(Capture).filter_by(status="active").count()
    catalog.close()
    assert active > 0 and result.export.samples == active
    version = open_version(store, "demo-v2")
    assert check_files(version) == []
    rows = version.rows()
    assert all(r["phash"] and len(r["phash"]) == 16 and r["path"] for r in rows)
    assert all((store.root / r["path"]).is_file() for r in rows)  # copy mode: the objects are there
    assert result.leakage.rows == active
    report = Path(result.report.path)
    assert report == store.root / "report-demo-v2.html" and report.stat().st_size == result.report.bytes
    assert any("exported demo-v2" in line for line in result.lines())
    json.dumps(result.to_dict(), default=str)


@pytest.mark.timeout(300)
def test_export_after_dedupe_keeps_groups_in_one_split(tmp_path: Path) -> None:
    from rainset.dedupe.run import dedupe

    demo = run_demo(tmp_path / "demo", n_captures=30, workers=1, seed=3, train=False)
    store = open_store(demo.store)
    dedupe(store)  # already run by the demo: a re-run changes nothing
    result = demo_stage(store, name="deduped")
    rows = open_version(store, "deduped").rows()
    for column in ("cluster_id", "burst_id", "scene_id", "leakage_group"):
        groups: dict[str, set[str]] = {}
        for r in rows:
            if r[column]:
                groups.setdefault(r[column], set()).add(r["split"])
        assert all(len(splits) == 1 for splits in groups.values()), column
    assert any(r["cluster_id"] for r in rows) and any(r["burst_id"] for r in rows)
    assert result.leakage.ok, result.leakage.pairs
