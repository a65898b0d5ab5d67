"""rainset report: a self-contained page that opens offline in headless Chromium with every plot."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from rainset.manifests.export import export_manifest
from rainset.manifests.report import PLOTS, agreement_matrix, write_report
from tests.manifest_helpers import labelled_store, sha


def _previews(store, n: int) -> None:  # noqa: ANN001
    import cv2

    rng = np.random.default_rng(0)
    for i in range(n):
        path = store.preview_path(sha(i))
        path.parent.mkdir(parents=True, exist_ok=True)
        img = (rng.random((300, 400, 3)) * 255).astype(np.uint8)
        assert cv2.imwrite(str(path), img)


@pytest.mark.timeout(120)
def test_report_opens_offline_with_plots(tmp_path: Path, browser, artifacts_dir: Path) -> None:
    store, ids = labelled_store(tmp_path / "store", 40)
    _previews(store, 3)  # the cluster's members have previews; others fall back to the hash thumbnail
    export_manifest(store, "v1", include_unlabelled=True)
    out = tmp_path / "report.html"
    result = write_report(store, None, out)
    assert result.version == "v1" and result.samples == 40 and result.plots == PLOTS
    assert result.cluster_tiles == 3 and result.disagreement_tiles > 0
    text = out.read_text()
    assert not re.search(r"""(src|href)=["'](?!data:)""", text), "the page must not reference outside files"
    assert "<script" not in text

    page = browser.new_page()
    errors: list[str] = []
    requests: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: requests.append(r.url))
    page.goto(out.as_uri())
    page.wait_for_load_state("load")
    assert errors == []
    assert [u for u in requests if not u.startswith(("file:", "data:"))] == []
    plots = page.eval_on_selector_all("figure[data-plot] img",
                                      "els => els.map(e => [e.closest('figure').dataset.plot, e.naturalWidth])")
    assert [p for p, _ in plots] == list(PLOTS)
    assert all(w > 100 for _, w in plots), plots
    tiles = page.eval_on_selector_all("section[data-gallery] img", "els => els.map(e => e.naturalWidth)")
    assert len(tiles) == result.cluster_tiles + result.burst_tiles + result.disagreement_tiles == result.thumbnails
    assert all(w > 0 for w in tiles)
    assert page.locator("section[data-gallery=clusters] h3").first.inner_text().startswith("cluster-0 (3 samples)")
    page.screenshot(path=str(artifacts_dir / "report.png"), full_page=True)
    page.close()


def test_agreement_matrix_counts_label_pairs() -> None:
    rows = [{"labels": [{"rain_type": "heavy"}, {"rain_type": "heavy"}]},
            {"labels": [{"rain_type": "heavy"}, {"rain_type": "drizzle"}, {"rain_type": "heavy"}]},
            {"labels": [{"rain_type": "streak"}]}, {"labels": []}]
    names, matrix = agreement_matrix(rows)
    assert names == ["drizzle", "heavy"]
    assert matrix == [[0, 2], [2, 2]]


def test_report_of_an_empty_version(tmp_path: Path) -> None:
    from rainset.store import init_store

    store = init_store(tmp_path / "store")
    export_manifest(store, "empty")
    result = write_report(store, "empty", tmp_path / "r.html")
    assert result.samples == 0 and "no duplicate clusters" in (tmp_path / "r.html").read_text()
