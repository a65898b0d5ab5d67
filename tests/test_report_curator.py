"""rainset report for a curator: camera and lens names never clipped, the true thumbnail count, no
warnings on stderr, and galleries of bursts and of disputed captures the version leaves out."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rainset.catalog.db import open_catalog
from rainset.catalog.models import Capture
from rainset.manifests.export import export_manifest
from rainset.manifests.report import _cameras, cameras_size, write_report
from rainset.manifests.report_parts import new_figure
from rainset.manifests.versions import open_version
from rainset.store import Store
from tests.manifest_helpers import labelled_store, sha

LONG_CAMERA = ("OLYMPUS IMAGING CORP.", "E-M1 Mark II with an unusually long firmware-reported model name")
LONG_LENS = "M.Zuiko Digital ED 12-40mm F2.8 PRO with a teleconverter and a very long lens description"


def _long_names(store: Store, ids: list[str]) -> None:
    catalog = open_catalog(store.db_url)
    with catalog.session() as s:
        for i, cid in enumerate(ids[:8]):
            c = s.get(Capture, cid)
            c.make, c.model, c.lens = LONG_CAMERA[0], f"{LONG_CAMERA[1]} {i}", f"{LONG_LENS} {i}"
    catalog.close()


def _previews(store: Store, n: int) -> None:
    import cv2

    rng = np.random.default_rng(0)
    for i in range(n):
        path = store.preview_path(sha(i))
        path.parent.mkdir(parents=True, exist_ok=True)
        assert cv2.imwrite(str(path), (rng.random((300, 400, 3)) * 255).astype(np.uint8))


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> tuple[Store, list[str]]:
    st, ids = labelled_store(tmp_path_factory.mktemp("report") / "store", 40)
    _long_names(st, ids)
    _previews(st, 12)
    export_manifest(st, "v1")  # without --include-unlabelled: disputed captures (no majority) stay out
    return st, ids


def test_camera_and_lens_names_are_not_clipped(store) -> None:  # noqa: ANN001
    st, _ = store
    rows = open_version(st, "v1").rows()
    fig = new_figure(cameras_size(rows))
    _cameras(rows)(fig)
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    box = fig.bbox
    labels = [t for ax in fig.axes for t in ax.get_yticklabels() if t.get_text()]
    assert any("very long lens" in t.get_text().replace("\n", " ") for t in labels)
    assert any(LONG_CAMERA[0] in t.get_text().replace("\n", " ") for t in labels)
    for t in labels:
        ext = t.get_window_extent(renderer)
        assert ext.x0 >= box.x0 - 0.5 and ext.x1 <= box.x1 + 0.5 and ext.y0 >= box.y0 - 0.5, t.get_text()
    full = {" ".join(t.get_text().split()) for t in labels}
    assert f"{LONG_LENS} 3" in full and f"{' '.join(LONG_CAMERA)} 3" in full  # wrapped, nothing cut


def test_galleries_show_bursts_and_disputed_captures_left_out(store, tmp_path: Path) -> None:  # noqa: ANN001
    st, ids = store
    in_version = {r["sample_id"] for r in open_version(st, "v1").rows(["sample_id"])}
    left_out = [cid for cid in ids if cid not in in_version]
    assert left_out  # the disputed ones (7, 17, 27, 37: no majority)
    result = write_report(st, "v1", tmp_path / "r.html")
    text = (tmp_path / "r.html").read_text()
    burst = re.search(r'<section data-gallery="bursts">(.*?)</section>', text, re.S).group(1)
    assert "burst-0 (3 samples)" in burst and all(f'data-capture="{c}"' in burst for c in ids[2:5])
    dis = re.search(r'<section data-gallery="disagreements">(.*?)</section>', text, re.S).group(1)
    for cid in left_out:
        tile = re.search(rf'data-capture="{cid}".*?</div>', dis, re.S)
        assert tile and "not in version" in tile.group(0)
    assert result.burst_tiles == 3 and result.disagreement_tiles == dis.count('class="tile"')
    imgs = len(re.findall(r"<img ", text)) - len(result.plots)
    assert result.thumbnails == imgs > 0
    assert result.thumbnails >= result.cluster_tiles + result.burst_tiles + result.disagreement_tiles


def test_cli_report_prints_the_true_count_and_no_warnings(store, tmp_path: Path) -> None:  # noqa: ANN001
    st, _ = store
    out = tmp_path / "cli.html"
    proc = subprocess.run([sys.executable, "-m", "rainset", "report", "v1", "--store", str(st.root), "--out", str(out)],
                          capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr
    assert "Warning" not in proc.stderr and "warning" not in proc.stderr.lower(), proc.stderr
    n = len(re.findall(r"<img ", out.read_text())) - 9  # nine plots
    assert n > 0 and f"{n} thumbnails" in proc.stdout, proc.stdout
