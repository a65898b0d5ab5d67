"""The rain parts of ``rainset report``: measurements against labels, suggestions against labels, and a
table of captures with their measurements and current suggestion.

Measurements come from the version's ``rain_*`` columns (null in versions of schema 1). Suggestions
are not part of a version: the table and the suggestion plot read the catalog's current
suggestions (``rainset suggest``) and say so.
"""

from __future__ import annotations

import html
from collections import Counter
from typing import Any, Callable

from rainset.catalog.db import catalog_session
from rainset.manifests.report_parts import empty_plot, thumbnails
from rainset.store import Store
from rainset.suggestions import SuggestionView, current_suggestions

RAIN_PLOTS = ("rain-by-label", "streak-angle", "suggestions-vs-labels")
RAIN_TITLES = ("Rain measurements by label", "Dominant streak angle", "Current suggestions against labels")
BOXES = (("rain_streak_density", "streak density"), ("rain_streak_length", "streak length (px at 1024)"),
         ("rain_veil", "veil"), ("rain_droplets", "lens droplets"))
TABLE_COLUMNS = (("rain_streak_density", "density"), ("rain_streak_angle", "angle °"),
                 ("rain_streak_length", "length"), ("rain_veil", "veil"), ("rain_droplets", "droplets"),
                 ("rain_night", "night"))
MAX_TABLE_ROWS = 40


def _label(row: dict) -> str:
    return row.get("rain_type") or "(unlabelled)"


def rain_by_label(rows: list[dict]) -> Callable[[Any], None]:
    """Box plots per label of streak density, streak length, veil and droplets."""
    def draw(fig: Any) -> None:
        axes = fig.subplots(1, len(BOXES))
        labels = sorted({_label(r) for r in rows if r.get("rain_streak_density") is not None})
        for ax, (column, title) in zip(axes, BOXES):
            data = [[r[column] for r in rows if _label(r) == lab and r.get(column) is not None] for lab in labels]
            if not any(data):
                empty_plot(ax, "measurements")
                continue
            ax.boxplot([d or [float("nan")] for d in data], orientation="horizontal")
            ax.set_yticks(range(1, len(labels) + 1), labels if ax is axes[0] else [""] * len(labels))
            ax.set_title(title, fontsize=9)
    return draw


def streak_angle(rows: list[dict]) -> Callable[[Any], None]:
    """Histogram of the dominant streak angle, stacked by label."""
    def draw(fig: Any) -> None:
        ax = fig.subplots()
        labels = sorted({_label(r) for r in rows if r.get("rain_streak_angle") is not None})
        if not labels:
            return empty_plot(ax, "streak angles")
        data = [[r["rain_streak_angle"] for r in rows if _label(r) == lab and r.get("rain_streak_angle") is not None]
                for lab in labels]
        ax.hist(data, bins=range(-90, 91, 10), stacked=True, label=labels)
        ax.set_xlabel("degrees from vertical (positive: leaning right going down)")
        ax.set_ylabel("samples")
        ax.legend(fontsize=7)
    return draw


def suggestions_vs_labels(rows: list[dict], suggestions: dict[str, SuggestionView]) -> Callable[[Any], None]:
    """Counts of (consensus label, current suggestion) over labelled samples that have a suggestion."""
    def draw(fig: Any) -> None:
        ax = fig.subplots()
        pairs = Counter((r["rain_type"], suggestions[r["sample_id"]].rain_type) for r in rows
                        if r.get("rain_type") and r["sample_id"] in suggestions)
        if not pairs:
            return empty_plot(ax, "labelled samples with a suggestion")
        names = sorted({n for p in pairs for n in p})
        matrix = [[pairs[(a, b)] for b in names] for a in names]
        ax.imshow(matrix, cmap="Greens")
        ax.set_xticks(range(len(names)), names, rotation=30)
        ax.set_yticks(range(len(names)), names)
        ax.set_xlabel("suggestion")
        ax.set_ylabel("consensus label")
        for i, row in enumerate(matrix):
            for j, v in enumerate(row):
                ax.text(j, i, str(v), ha="center", va="center", fontsize=8)
        agree = sum(pairs[(n, n)] for n in names)
        ax.set_title(f"suggestion = label on {agree}/{sum(pairs.values())} samples")
    return draw


def load_suggestions(store: Store, rows: list[dict]) -> dict[str, SuggestionView]:
    """The current suggestions of the version's samples."""
    with catalog_session(store.db_url) as s:
        return current_suggestions(s, [r["sample_id"] for r in rows])


def _cell(v: Any) -> str:
    return "–" if v is None else f"{v:.3g}"


def rain_table(store: Store, rows: list[dict], suggestions: dict[str, SuggestionView]) -> tuple[str, int]:
    """HTML table of measured samples: suggestion ≠ label first, then the least confident suggestions."""
    measured = [r for r in rows if r.get("rain_streak_density") is not None or r["sample_id"] in suggestions]

    def order(r: dict) -> tuple:
        s = suggestions.get(r["sample_id"])
        disagree = bool(s and r.get("rain_type") and s.rain_type != r["rain_type"])
        return (not disagree, s.confidence if s else 2.0, r["sample_id"])

    shown = sorted(measured, key=order)[:MAX_TABLE_ROWS]
    if not shown:
        return "<p>no rain measurements: run 'rainset suggest' before exporting</p>", 0
    thumbs = thumbnails(store, [r["sha256"] for r in shown])
    head = "".join(f"<th>{t}</th>" for t in ("", "sample", "label", "suggestion", *(t for _, t in TABLE_COLUMNS)))
    body = []
    for r in shown:
        s = suggestions.get(r["sample_id"])
        uri = thumbs.get(r["sha256"])
        img = f'<img alt="{html.escape(r["sample_id"])}" src="{uri}" width="96">' if uri else ""
        sug = f"{html.escape(s.rain_type)} ({s.confidence:.2f}, {html.escape(s.model)})" if s else "–"
        cells = "".join(f"<td>{_cell(r.get(c))}</td>" for c, _ in TABLE_COLUMNS)
        body.append(f'<tr data-sample="{html.escape(r["sample_id"])}"><td>{img}</td>'
                    f'<td style="text-align:left">{html.escape(r.get("file_name") or r["sample_id"])}</td>'
                    f"<td>{html.escape(r.get('rain_type') or '–')}</td><td data-suggestion>{sug}</td>{cells}</tr>")
    note = ("<p>Measurements are the version's <code>rain_*</code> columns; suggestions are the catalog's current "
            "ones (<code>rainset suggest</code>), never labels and not part of the version.</p>")
    return f"{note}<table><tr>{head}</tr>{''.join(body)}</table>", len(shown)
