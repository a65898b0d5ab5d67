"""The pairs part of ``rainset report`` (a version made by ``rainset export --pairs``): counts, a table
of pair quality, and thumbnails of a few pairs (rainy frame, pseudo-clean target, validity mask)."""

from __future__ import annotations

import base64
import html
from collections import Counter
from dataclasses import dataclass
from typing import Any

import cv2

from rainset.manifests.schema import SPLITS
from rainset.manifests.versions import ManifestVersion
from rainset.pairs.pairset import Pair, pairset_dir, read_index
from rainset.store import Store

BINS = 10  # quality bins of width 0.1
SHOWN = 6  # pairs shown as thumbnails: the best and the worst by quality
THUMB = 160  # thumbnail width in pixels


@dataclass(frozen=True)
class PairsPart:
    """The section's HTML and what it holds."""

    html: str
    pairs: int  # pair rows in the version
    tiles: int  # pairs shown as thumbnails


def _thumb(path: Any, grey: bool = False) -> str | None:
    img = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE if grey else cv2.IMREAD_COLOR)
    if img is None:
        return None
    scale = min(1.0, THUMB / img.shape[1])
    img = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".png" if grey else ".jpg", img)
    kind = "png" if grey else "jpeg"
    return f"data:image/{kind};base64," + base64.b64encode(buf.tobytes()).decode("ascii") if ok else None


def quality_table(version_q: list[float], accepted_q: list[float] | None, all_q: list[float] | None) -> str:
    """HTML table: pairs per quality bin (0.0–0.1, …, 0.9–1.0) in the set, accepted, and in this version."""
    def counts(values: list[float]) -> Counter[int]:
        return Counter(min(BINS - 1, max(0, int(float(v) * BINS))) for v in values)

    cols = [("in this version", counts(version_q))]
    if all_q is not None and accepted_q is not None:
        cols = [("in the pair set", counts(all_q)), ("accepted", counts(accepted_q))] + cols
    head = "<tr><th>quality</th>" + "".join(f"<th>{html.escape(n)}</th>" for n, _ in cols) + "</tr>"
    body = "".join(f"<tr><th>{b / BINS:.1f}–{(b + 1) / BINS:.1f}</th>" + "".join(f"<td>{c[b]}</td>" for _, c in cols)
                   + "</tr>" for b in range(BINS))
    return f'<table data-pairs="quality">{head}{body}</table>'


def _set_pairs(store: Store, name: str) -> list[Pair] | None:
    try:
        return list(read_index(pairset_dir(store.root, name)).pairs)
    except (OSError, ValueError):
        return None  # the set is gone or rebuilt: the version's rows still tell their part


def pairs_part(store: Store, version: ManifestVersion, rows: list[dict[str, Any]]) -> PairsPart:
    """The pairs section of the report; empty for a version without pairs."""
    info = version.info.get("pairs")
    rows = [r for r in rows if r.get("clean_path")]
    if not info or not rows:
        return PairsPart("", 0, 0)
    every = _set_pairs(store, info["name"])
    per_split = Counter(r["split"] for r in rows)
    videos = len({r["video_sha256"] for r in rows})
    facts = (f"<p>pair set <code>{html.escape(info['name'])}</code> (method {html.escape(str(info['method']))}, "
             f"quality threshold {info['threshold']}, built {html.escape(str(info['created']))}): "
             f"{info['pairs']} pairs, {info['accepted']} accepted, {len(rows)} in this version from {videos} videos"
             + (f"; {len(info.get('removed') or [])} left out (capture removed)" if info.get("removed") else "")
             + ". Splits are by video.</p>")
    splits = "".join(f"<tr><th>{s}</th><td>{per_split.get(s, 0)}</td></tr>" for s in SPLITS)
    table = quality_table([r["pair_quality"] for r in rows], [p.quality for p in every if p.accepted] if every else None,
                          [p.quality for p in every] if every else None)
    ranked = sorted(rows, key=lambda r: (-r["pair_quality"], r["sample_id"]))
    shown = ranked if len(ranked) <= SHOWN else ranked[:SHOWN // 2] + ranked[-(SHOWN - SHOWN // 2):]
    tiles = []
    for r in shown:
        images = [(m, _thumb(store.root / r[f"{m}_path"], grey=m == "mask")) for m in ("rainy", "clean", "mask")]
        cells = "".join(f'<img alt="{m} {html.escape(r["sample_id"])}" src="{uri}">' if uri else
                        f"<span>{m}: missing</span>" for m, uri in images)
        tiles.append(f'<div class="pair" data-pair="{html.escape(r["sample_id"])}">{cells}<div>'
                     f'{html.escape(r["sample_id"])} · {r["split"]} · quality {r["pair_quality"]:.3f}</div></div>')
    gallery = ('<p>Best and worst pairs by quality: rainy frame, pseudo-clean target, mask (white = valid).</p>'
               f'<div class="gallery">{"".join(tiles)}</div>')
    body = (f'{facts}<table data-pairs="splits"><tr><th>split</th><th>pairs</th></tr>{splits}</table>'
            f"<h3>Pair quality</h3>{table}<h3>Pairs</h3>{gallery}")
    return PairsPart(f'<h2>Pairs</h2><section data-section="pairs">{body}</section>', len(rows), len(shown))
