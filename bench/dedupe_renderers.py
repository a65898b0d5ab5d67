#!/usr/bin/env python
"""Dedupe across rain renderers: the one its thresholds were tuned on, and rain it never saw.

``--renderers`` picks among ``first`` (rainset.synth.rain, the tuning renderer: bursts with a
hand-held shift), ``depth`` (rainset.synth.depth_rain, the second renderer) and ``real`` (real
rain layers tiled at their own pixel size: rainy − clean of the fixtures' Rain100L/H pairs, plus
the released NLCL G_R's rain layers of the RealRain photos when ``--rain-weights`` is given). Each
writes ``--sources`` camera JPEGs with their seven copies (resize 50 %, JPEG q=70, 3 % crop, ±10 %
brightness, 1° rotation, PNG) and ``--bursts`` bursts of 2–4 frames (one body, 1–3 s apart, new
rain per frame, same background) at ``--size``, once with EXIF and once with all EXIF stripped
(the same files with their EXIF segments dropped: the same pixels). Each set is ingested into a fresh store and deduped; every pair of
files is classed by the groups (same cluster: duplicate; same scene group: same-scene; else none)
and compared with the truth. Prints the confusion table, precision / recall of duplicates, burst
pairs by rain type and copy pairs by kind, and the cost of the full-resolution check.

    python bench/dedupe_renderers.py [--renderers depth,real] [--sources 4] [--bursts 4]
        [--size 4000x3000] [--seed 0] [--rain-weights ../shared/reference/nlcl-official/latest_net_Rain.pth] [--json]

Results: docs/dedupe.md ("Across renderers").
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections import Counter
from itertools import combinations
from pathlib import Path

from sqlalchemy import select

from rainset.catalog.db import open_catalog
from rainset.catalog.models import File
from rainset.dedupe.groups import list_groups
from rainset.dedupe.run import dedupe
from rainset.ingest import IngestOptions, ingest
from rainset.store import init_store
from rainset.synth.depth_rain import write_depth_captures
from rainset.synth.real_layers import RainLayer, fixture_pair_layers, realrain_layers, write_real_captures
from rainset.synth.variants import VariantFile, VariantTruth, generate_variants

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures"

RELATIONS = ("duplicate", "same-scene", "none")


def predicted_relations(store, root: str) -> tuple[dict[str, str], dict[str, list[set[str]]]]:
    """File path (relative to ``root``) → capture id, and the members of each group kind."""
    catalog = open_catalog(store.db_url)
    try:
        with catalog.session() as s:
            cap = {uri.split(root + "/", 1)[1]: cid for uri, cid in s.execute(select(File.uri, File.capture_id))}
            groups: dict[str, list[set[str]]] = {"cluster": [], "burst": [], "scene": []}
            for g in list_groups(s):
                groups[g.kind].append({m.capture_id for m in g.members})
    finally:
        catalog.close()
    return cap, groups


def classify(a: str, b: str, groups: dict[str, list[set[str]]]) -> str:
    if a == b or any({a, b} <= g for g in groups["cluster"]):
        return "duplicate"
    return "same-scene" if any({a, b} <= g for g in groups["scene"]) else "none"


def category(a: VariantFile, b: VariantFile, truth: VariantTruth) -> str | None:
    """The row of the breakdown a related pair belongs to: a copy kind or a burst's rain type."""
    rel = truth.relation(a, b)
    if rel == "duplicate":
        kinds = sorted({a.variant, b.variant} - {"original"})
        return "copy " + (kinds[0] if len(kinds) == 1 else "+".join(kinds))
    if rel == "same-scene":
        return "burst " + (a.rain.split("/")[0] if a.rain else "mixed")
    return None


def real_layers(args: argparse.Namespace) -> list[RainLayer]:
    """Rain100L and Rain100H layers interleaved (light rain first), then RealRain G_R layers if asked."""
    pairs = fixture_pair_layers(FIXTURES)
    light = [x for x in pairs if x.kind == "rain100l"]
    heavy = [x for x in pairs if x.kind == "rain100h"]
    real = (realrain_layers(FIXTURES, args.rain_weights, images=(1, 3), crop=args.realrain_crop)
            if args.rain_weights else [])
    out = []
    for i in range(max(len(light), len(heavy), len(real))):
        out += [x[i] for x in (light, real, heavy) if i < len(x)]
    return out


def write(renderer: str, root: Path, args: argparse.Namespace, exif: bool, layers: list[RainLayer]) -> VariantTruth:
    if renderer == "first":
        if not exif:
            raise SystemExit("the first renderer's writer always writes EXIF; use --renderers depth,real for stripped runs")
        return generate_variants(root, args.sources, bursts=args.bursts, burst_len=3, distractors=0,
                                 size=args.size, seed=args.seed)
    if renderer == "depth":
        return write_depth_captures(root, args.sources, bursts=args.bursts, burst_len=0, size=args.size,
                                    seed=args.seed, exif=exif)
    return write_real_captures(root, layers, args.sources, bursts=args.bursts, burst_len=0, size=args.size,
                               seed=args.seed, exif=exif)


def strip_exif(data: bytes) -> bytes:
    """A JPEG's bytes without its APP1 (EXIF, XMP) segments: the same compressed pixels, no metadata."""
    if data[:2] != b"\xff\xd8":
        return data
    out, pos = bytearray(data[:2]), 2
    while pos + 4 <= len(data) and data[pos] == 0xFF and data[pos + 1] not in (0xDA, 0xD9):
        length = int.from_bytes(data[pos + 2:pos + 4], "big")
        if data[pos + 1] != 0xE1:
            out += data[pos:pos + 2 + length]
        pos += 2 + length
    return bytes(out + data[pos:])


def stripped_copy(truth: VariantTruth, dest: Path) -> VariantTruth:
    """The same files with all EXIF removed (JPEG segments dropped, pixels untouched)."""
    for f in truth.files:
        out = dest / f.path
        out.parent.mkdir(parents=True, exist_ok=True)
        data = (Path(truth.root) / f.path).read_bytes()
        out.write_bytes(strip_exif(data) if f.path.endswith(".jpg") else data)
    return VariantTruth(root=str(dest.resolve()), files=truth.files)


def run(label: str, root: Path, args: argparse.Namespace, exif: bool, renderer: str = "depth",
        layers: list[RainLayer] | None = None, written: VariantTruth | None = None) -> tuple[dict, VariantTruth]:
    t0 = time.perf_counter()
    if written is not None and not exif:
        truth = stripped_copy(written, root / "caps")
    else:
        truth = write(renderer, root / "caps", args, exif, layers or [])
    t_gen = time.perf_counter() - t0
    store = init_store(root / "store")
    t0 = time.perf_counter()
    ingest(store, [truth.root], IngestOptions(workers=args.workers))
    t_ingest = time.perf_counter() - t0
    t0 = time.perf_counter()
    result = dedupe(store)
    t_dedupe = time.perf_counter() - t0
    cap, groups = predicted_relations(store, truth.root)
    matrix: Counter[tuple[str, str]] = Counter()
    rows: dict[str, Counter[str]] = {}
    for a, b in combinations(truth.files, 2):
        t, p = truth.relation(a, b), classify(cap[a.path], cap[b.path], groups)
        matrix[t, p] += 1
        cat = category(a, b, truth)
        if cat is not None and (cat.startswith("burst") or "original" in (a.variant, b.variant)):
            rows.setdefault(cat, Counter())[p] += 1
    tp = matrix["duplicate", "duplicate"]
    called = sum(matrix[t, "duplicate"] for t in RELATIONS)
    actual = sum(matrix["duplicate", p] for p in RELATIONS)
    return {"label": label, "files": len(truth.files), "size": list(args.size),
            "matrix": {t: {p: matrix[t, p] for p in RELATIONS} for t in RELATIONS},
            "precision": tp / called if called else 1.0, "recall": tp / actual if actual else 1.0,
            "breakdown": {k: dict(v) for k, v in sorted(rows.items())},
            "candidates": result.candidates, "relations": result.relations, "fine": result.fine,
            "fine_ms_per_pair": round(1000 * result.fine["seconds"] / result.fine["checked"], 1)
            if result.fine["checked"] else None,
            "seconds": {"generate": round(t_gen, 1), "ingest": round(t_ingest, 1), "dedupe": round(t_dedupe, 1)}}, truth


def show(r: dict) -> None:
    print(f"\n== {r['label']}: {r['files']} files at {r['size'][0]}x{r['size'][1]}; "
          f"precision {r['precision']:.3f}, recall {r['recall']:.3f}; {r['seconds']}; full-resolution check "
          f"{r['fine']} ({r['fine_ms_per_pair']} ms per pair)")
    head = "truth \\ predicted"
    print(f"{head:>22}" + "".join(f"{p:>12}" for p in RELATIONS))
    for t in RELATIONS:
        print(f"{t:>22}" + "".join(f"{r['matrix'][t][p]:>12}" for p in RELATIONS))
    print("pairs with the original (copies) and within bursts:")
    for cat, c in r["breakdown"].items():
        print(f"{cat:>22}" + "".join(f"{c.get(p, 0):>12}" for p in RELATIONS))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sources", type=int, default=4)
    ap.add_argument("--bursts", type=int, default=4)
    ap.add_argument("--size", type=lambda s: tuple(int(v) for v in s.split("x")), default=(4000, 3000))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--renderers", default="depth,real", help="comma-separated: first, depth, real")
    ap.add_argument("--rain-weights", default=None, help="the released NLCL latest_net_Rain.pth (adds RealRain layers)")
    ap.add_argument("--realrain-crop", type=int, default=512, help="run G_R on this central crop of each photo")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    load = os.getloadavg()
    out = []
    renderers = args.renderers.split(",")
    layers = real_layers(args) if "real" in renderers else []
    with tempfile.TemporaryDirectory() as tmp:
        for renderer in renderers:
            written = None
            for label, exif in (("with EXIF", True), ("EXIF stripped", False)):
                if renderer == "first" and not exif:
                    continue
                r, written = run(f"{renderer}: {label}", Path(tmp) / renderer / label.split()[0], args, exif,
                                 renderer, layers, written)
                out.append(r)
                if not args.json:
                    show(r)
    if args.json:
        print(json.dumps({"load_before": load, "load_after": os.getloadavg(), "runs": out}, indent=1))
    else:
        print(f"\nload average before {load[0]:.2f}, after {os.getloadavg()[0]:.2f} ({os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
