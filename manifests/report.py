"""``rainset report``: one self-contained HTML page about a manifest version.

Every plot is a matplotlib PNG embedded as base64 and every thumbnail too; the page has inline CSS
only, no script, no external reference, so it opens offline and can be mailed around.
"""

from __future__ import annotations

import base64
import html
import io
import os
import re
import textwrap
from collections import Counter
from dataclasses import asdict, dataclass, replace
from itertools import combinations
from pathlib import Path
from typing import Any, Callable

from rainset.manifests import report_rain as rain
from rainset.manifests.report_galleries import report_galleries
from rainset.manifests.report_pairs import pairs_part
from rainset.manifests.report_parts import empty_plot, new_figure
from rainset.manifests.schema import SPLITS
from rainset.manifests.versions import latest_version, open_version
from rainset.errors import ManifestError
from rainset.store import Store

BASE_PLOTS = ("labels-per-split", "cameras-lenses", "exposure-iso", "capture-hour", "quality-flags", "agreement-matrix")
PLOTS = (*BASE_PLOTS, "rain-by-label", "streak-angle", "suggestions-vs-labels")  # the last three: report_rain
CSS = """body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1200px}
h1{font-size:1.6em}h2{margin-top:2em;border-bottom:1px solid #ccc}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:.3em .6em;text-align:right}figure{margin:1em 0}
figure img{max-width:100%}.gallery{display:flex;flex-wrap:wrap;gap:.5em}.tile{width:170px;font-size:.75em}
.tile img{width:160px;height:auto;display:block;background:#eee}.cluster{margin-bottom:1em}
.pair{font-size:.75em;margin-bottom:.5em}.pair img{width:160px;height:auto;margin-right:2px;background:#eee}"""


@dataclass(frozen=True)
class ReportResult:
    path: str
    version: str
    samples: int
    plots: tuple[str, ...]
    cluster_tiles: int
    disagreement_tiles: int
    bytes: int
    rain_rows: int = 0  # captures in the table of rain measurements and suggestions
    burst_tiles: int = 0
    thumbnails: int = 0  # thumbnail images embedded in the page (galleries, rain table, pairs)
    pairs: int = 0  # pair rows of a pairs version (rainset export --pairs)
    pair_tiles: int = 0  # pairs shown as rainy/clean/mask thumbnails

    def to_dict(self) -> dict:
        return asdict(self)

    def lines(self) -> list[str]:
        pairs = f", {self.pairs} pairs" if self.pairs else ""
        return [f"report of {self.version} ({self.samples} samples{pairs}, {len(self.plots)} plots, "
                f"{self.thumbnails} thumbnails): {self.path}"]


def _figure(draw: Callable[[Any], None], size: tuple[float, float] = (8, 4)) -> str:
    """Run ``draw(fig)`` on a fresh figure; the PNG as a data URI."""
    fig = new_figure(size)
    draw(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _labels_per_split(rows: list[dict]) -> Callable[[Any], None]:
    def draw(fig: Any) -> None:
        ax = fig.subplots()
        labels = sorted({r["rain_type"] or "(unlabelled)" for r in rows})
        if not labels:
            return empty_plot(ax, "samples")
        width = 0.8 / len(SPLITS)
        for k, split in enumerate(SPLITS):
            c = Counter(r["rain_type"] or "(unlabelled)" for r in rows if r["split"] == split)
            ax.bar([i + k * width for i in range(len(labels))], [c[lab] for lab in labels], width, label=split)
        ax.set_xticks([i + width for i in range(len(labels))], labels, rotation=20)
        ax.set_ylabel("samples")
        ax.legend()
    return draw


LABEL_WIDTH = 28  # characters per line of a camera or lens name; longer names wrap, never clip
TOP_NAMES = 12


def wrap_name(name: str) -> str:
    """A camera or lens name wrapped onto lines of at most ``LABEL_WIDTH`` characters (words kept whole
    where they fit)."""
    return "\n".join(textwrap.wrap(name, LABEL_WIDTH, break_long_words=True)) or name


def camera_names(rows: list[dict]) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    """The most common cameras (make and model) and lenses with their sample counts."""
    cams = Counter(" ".join(x for x in (r.get("make"), r.get("model")) if x) or "(unknown)" for r in rows)
    lenses = Counter(r.get("lens") or "(unknown)" for r in rows)
    return cams.most_common(TOP_NAMES), lenses.most_common(TOP_NAMES)


def cameras_size(rows: list[dict]) -> tuple[float, float]:
    """Figure size of the cameras-and-lenses plot: one full-width panel each, tall enough for its bars."""
    cams, lenses = camera_names(rows)
    lines = sum(wrap_name(k).count("\n") + 1 for k, _ in cams + lenses)
    return (9.0, max(4.0, 1.6 + 0.22 * lines + 0.12 * (len(cams) + len(lenses))))


def _cameras(rows: list[dict]) -> Callable[[Any], None]:
    def draw(fig: Any) -> None:
        for ax, counts, title in zip(fig.subplots(2, 1), camera_names(rows), ("cameras", "lenses")):
            if not counts:
                empty_plot(ax, title)
                continue
            ax.barh([wrap_name(k) for k, _ in counts][::-1], [v for _, v in counts][::-1])
            ax.tick_params(axis="y", labelsize=8)
            ax.set_title(title)
            ax.set_xlabel("samples")
    return draw


def _exposure_iso(rows: list[dict]) -> Callable[[Any], None]:
    def draw(fig: Any) -> None:
        ax = fig.subplots()
        pts = [r for r in rows if r.get("exposure_time") and r.get("iso")]
        if not pts:
            return empty_plot(ax, "exposure time and ISO")
        for label in sorted({r["rain_type"] or "(unlabelled)" for r in pts}):
            sel = [r for r in pts if (r["rain_type"] or "(unlabelled)") == label]
            ax.scatter([r["exposure_time"] for r in sel], [r["iso"] for r in sel], s=14, alpha=0.7, label=label)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("exposure time (s)")
        ax.set_ylabel("ISO")
        ax.legend(fontsize=7)
    return draw


def _hour(value: str | None) -> int | None:
    if value and len(value) >= 13 and value[10] in "T " and value[11:13].isdigit():
        return int(value[11:13])
    return None


def _capture_hour(rows: list[dict]) -> Callable[[Any], None]:
    def draw(fig: Any) -> None:
        ax = fig.subplots()
        c = Counter(h for h in (_hour(r.get("capture_time")) for r in rows) if h is not None)
        if not c:
            return empty_plot(ax, "capture times")
        ax.bar(range(24), [c[h] for h in range(24)])
        ax.set_xlabel("hour of capture (camera local time)")
        ax.set_ylabel("samples")
    return draw


def _flags(rows: list[dict]) -> Callable[[Any], None]:
    def draw(fig: Any) -> None:
        ax = fig.subplots()
        c = Counter(f for r in rows for f in (r.get("flags") or []))
        c["(none)"] = sum(1 for r in rows if not r.get("flags"))
        ax.bar(list(c), list(c.values()))
        ax.set_ylabel("samples")
        ax.tick_params(axis="x", rotation=20)
    return draw


def agreement_matrix(rows: list[dict]) -> tuple[list[str], list[list[int]]]:
    """Counts of label pairs given to one capture by two annotators (symmetric)."""
    pairs: Counter[tuple[str, str]] = Counter()
    for r in rows:
        for a, b in combinations([lab["rain_type"] for lab in r.get("labels") or []], 2):
            pairs[(a, b)] += 1
            if a != b:
                pairs[(b, a)] += 1
    names = sorted({k for pair in pairs for k in pair})
    return names, [[pairs[(a, b)] for b in names] for a in names]


def _agreement(rows: list[dict]) -> Callable[[Any], None]:
    def draw(fig: Any) -> None:
        ax = fig.subplots()
        names, matrix = agreement_matrix(rows)
        if not names:
            return empty_plot(ax, "captures with two or more labels")
        im = ax.imshow(matrix, cmap="Blues")
        ax.set_xticks(range(len(names)), names, rotation=30)
        ax.set_yticks(range(len(names)), names)
        for i, row in enumerate(matrix):
            for j, v in enumerate(row):
                ax.text(j, i, str(v), ha="center", va="center", fontsize=8)
        fig.colorbar(im, ax=ax)
        ax.set_title("label pairs from two annotators of one capture")
    return draw


def render_report(store: Store, name: str) -> tuple[str, ReportResult]:
    """The HTML text of the report of version ``name`` and what it holds."""
    version = open_version(store, name)
    rows = version.rows()
    builders = (_labels_per_split, _cameras, _exposure_iso, _capture_hour, _flags, _agreement)
    titles = ("Label distribution per split", "Cameras and lenses", "Exposure time vs ISO, by rain type",
              "Capture hour", "Quality flags", "Agreement matrix")
    suggestions = rain.load_suggestions(store, rows)
    draws = [b(rows) for b in builders] + [rain.rain_by_label(rows), rain.streak_angle(rows),
                                           rain.suggestions_vs_labels(rows, suggestions)]
    sizes = [(8, 4), cameras_size(rows)] + [(8, 4)] * (len(builders) - 2) + [(10, 3.5), (8, 3.5), (6, 5)]
    figures = "".join(f'<h2>{t}</h2><figure data-plot="{p}"><img alt="{p}" src="{_figure(d, z)}"></figure>'
                      for p, t, d, z in zip(PLOTS, titles + rain.RAIN_TITLES, draws, sizes))
    rain_html, n_rain = rain.rain_table(store, rows, suggestions)
    clusters, bursts, disputed = report_galleries(store, rows)
    pairs = pairs_part(store, version, rows)
    info = version.info
    split_counts = info.get("counts", {})
    counts = "".join(f"<tr><th>{s}</th><td>{split_counts[s]['total']}</td></tr>" for s in SPLITS if s in split_counts)
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>rainset report: {html.escape(name)}</title>
<style>{CSS}</style></head><body>
<h1>rainset report: {html.escape(name)}</h1>
<p>{len(rows)} samples · created {html.escape(str(info.get("created_at")))} · parent
{html.escape(str(info.get("parent") or "-"))} · schema v{info.get("schema_version")} ·
taxonomy v{info.get("taxonomy_version")}</p>
<table><tr><th>split</th><th>samples</th></tr>{counts}</table>
{pairs.html}
{figures}
<p>The galleries come from the catalog: they show captures the version leaves out too (marked
"not in version"), such as disputed captures without a consensus.</p>
<h2>Largest duplicate clusters</h2><section data-gallery="clusters">{clusters.html}</section>
<h2>Largest bursts</h2><section data-gallery="bursts">{bursts.html}</section>
<h2>Disagreements</h2><section data-gallery="disagreements">{disputed.html}</section>
<h2>Rain measurements and suggestions</h2><section data-rain="suggestions">{rain_html}</section>
</body></html>
"""
    n_thumbs = len(re.findall(r'<img alt="[^"]*" src="data:', page)) - len(PLOTS)  # every img but the plots
    return page, ReportResult("", name, len(rows), PLOTS, clusters.tiles, disputed.tiles, len(page.encode()), n_rain,
                              bursts.tiles, n_thumbs, pairs.pairs, pairs.tiles)


def write_report(store: Store, name: str | None, out: Path) -> ReportResult:
    """Write the report of version ``name`` (default: the newest) to ``out`` atomically."""
    name = name or latest_version(store)
    page, result = render_report(store, name)
    out = Path(out).expanduser().resolve()
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")  # same folder: the rename stays atomic
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as fh:
            fh.write(page.encode("utf-8"))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, out)
    except OSError as exc:
        raise ManifestError(f"{out}: cannot write the report: {exc.strerror or exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)
    return replace(result, path=str(out))
