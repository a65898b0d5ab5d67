"""Dedupe acceptance on generated captures with known relations (rainset.synth.variants).

Pairwise precision and recall of duplicates (exact + near-duplicates: resize 50 %, JPEG q=70,
3 % crop, ±10 % brightness, 1° rotation, PNG re-encode), burst frames with different rain kept
apart as same-scene, the confusion matrix of relations, incremental runs, idempotency,
corrections that survive re-runs, representatives.
"""

from __future__ import annotations

import shutil
from collections import Counter
from itertools import combinations
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from rainset.catalog.db import open_catalog
from rainset.catalog.models import Capture, File
from rainset.dedupe.groups import list_groups
from rainset.dedupe.run import dedupe
from rainset.ingest import IngestOptions, ingest
from rainset.store import init_store
from rainset.synth import generate_dataset
from rainset.synth.variants import VariantTruth, generate_variants

RELATIONS = ("duplicate", "same-scene", "none")


@pytest.fixture(scope="module")
def variants(tmp_path_factory: pytest.TempPathFactory) -> VariantTruth:
    return generate_variants(tmp_path_factory.mktemp("variants") / "caps", sources=10, bursts=3, burst_len=3,
                             distractors=10, seed=3)


def _capture_of(store, root: str) -> dict[str, str]:
    catalog = open_catalog(store.db_url)
    try:
        with catalog.session() as s:
            return {uri.split(root + "/", 1)[1]: cid for uri, cid in s.execute(select(File.uri, File.capture_id))}
    finally:
        catalog.close()


def _groups(store) -> dict[str, list]:
    catalog = open_catalog(store.db_url)
    try:
        with catalog.session() as s:
            out: dict[str, list] = {"cluster": [], "burst": [], "scene": []}
            for g in list_groups(s):
                out[g.kind].append((g.key, tuple((m.capture_id, m.relation, m.representative) for m in g.members)))
            return out
    finally:
        catalog.close()


def _predicted(groups: dict[str, list], a: str, b: str) -> str:
    def together(kind: str) -> bool:
        return any({a, b} <= {m[0] for m in members} for _, members in groups[kind])
    if together("cluster"):
        return "duplicate"
    return "same-scene" if together("scene") else "none"


@pytest.fixture(scope="module")
def deduped(variants: VariantTruth, tmp_path_factory: pytest.TempPathFactory):
    store = init_store(tmp_path_factory.mktemp("store") / "s")
    ingest(store, [variants.root], IngestOptions(workers=1))
    result = dedupe(store)
    return store, result, _capture_of(store, variants.root)


def test_pairwise_precision_recall_and_confusion_matrix(variants: VariantTruth, deduped) -> None:
    store, result, cap = deduped
    groups = _groups(store)
    matrix: Counter[tuple[str, str]] = Counter()
    for fa, fb in combinations(variants.files, 2):
        ca, cb = cap[fa.path], cap[fb.path]
        truth = variants.relation(fa, fb)
        pred = "duplicate" if ca == cb else _predicted(groups, ca, cb)
        matrix[truth, pred] += 1
    print("\nconfusion matrix of file pairs (rows: truth, columns: predicted)")
    print(f"{'':>12}" + "".join(f"{p:>12}" for p in RELATIONS))
    for t in RELATIONS:
        print(f"{t:>12}" + "".join(f"{matrix[t, p]:>12}" for p in RELATIONS))
    tp = matrix["duplicate", "duplicate"]
    predicted = sum(matrix[t, "duplicate"] for t in RELATIONS)
    actual = sum(matrix["duplicate", p] for p in RELATIONS)
    precision, recall = tp / predicted, tp / actual
    print(f"duplicates: precision {precision:.4f}, recall {recall:.4f} over {actual} true pairs; run: {result}")
    assert actual == 10 * 28  # 10 sources x C(8, 2) pairs of original + 7 variants
    assert precision >= 0.99 and recall >= 0.95
    # burst frames with different rain: the same scene, never merged as duplicates
    assert matrix["same-scene", "duplicate"] == 0
    assert matrix["same-scene", "same-scene"] == 3 * 3
    assert result.relations.get("exact", 0) >= 10  # the PNG re-encodes: same pixels, another container


def test_png_reencode_is_exact_and_members_carry_relations(variants: VariantTruth, deduped) -> None:
    store, _, cap = deduped
    groups = _groups(store)
    pngs = [f for f in variants.files if f.variant == "png"]
    assert len(pngs) == 10
    for f in pngs:
        png, orig = cap[f.path], cap[f"cam/{f.frame}.jpg"]
        cluster = next(m for _, m in groups["cluster"] if orig in {x[0] for x in m})
        rels = {x[0]: x[1] for x in cluster}
        rep = next(x[0] for x in cluster if x[2])
        if rep == orig:
            assert rels[png] == "exact"
        elif rep == png:
            assert rels[orig] == "exact"
        else:  # same pixels: the same relation to whichever other copy represents them
            assert rels[png] == rels[orig] == "near-duplicate"
    for _, members in groups["cluster"]:
        assert sum(1 for m in members if m[2]) == 1


def test_second_run_is_idempotent(deduped) -> None:
    store, _, _ = deduped
    before = _groups(store)
    again = dedupe(store)
    assert again.queried == 0 and again.candidates == 0
    assert _groups(store) == before


def test_incremental_run_queries_only_new_captures_and_matches_a_fresh_run(variants: VariantTruth,
                                                                           tmp_path: Path) -> None:
    root = Path(variants.root)
    half = tmp_path / "half"
    rest = tmp_path / "rest"
    files = sorted(variants.files, key=lambda f: f.path)
    for i, f in enumerate(files):
        dest = (half if i % 2 == 0 else rest) / f.path
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / f.path, dest)
    inc = init_store(tmp_path / "inc")
    ingest(inc, [str(half)], IngestOptions(workers=1))
    first = dedupe(inc)
    ingest(inc, [str(rest)], IngestOptions(workers=1))
    second = dedupe(inc)
    assert first.queried == first.captures
    assert second.queried == second.captures - first.captures > 0
    fresh = init_store(tmp_path / "fresh")
    ingest(fresh, [str(half), str(rest)], IngestOptions(workers=1))
    dedupe(fresh)
    assert _groups(inc) == _groups(fresh)
    other = dedupe(inc, 4)  # another threshold starts over
    assert other.full_rebuild and other.queried == other.captures
    back = dedupe(inc)
    assert back.full_rebuild and _groups(inc) == _groups(fresh)


def test_corrections_survive_a_rerun(variants: VariantTruth, deduped, tmp_path: Path) -> None:
    from rainset.dedupe.corrections import add_correction
    from rainset.dedupe.groups import regroup

    store = init_store(tmp_path / "s")
    ingest(store, [variants.root], IngestOptions(workers=1))
    dedupe(store)
    cap = _capture_of(store, variants.root)
    a, b = cap["cam/src000.jpg"], cap["web/src000_rotate1.jpg"]
    c, d = cap["cam/src001.jpg"], cap["cam/src002.jpg"]
    pick = cap["web/src003_resize50.jpg"]
    out1, out2 = cap["web/src004_crop3.jpg"], cap["web/src004_jpeg70.jpg"]
    rest4 = cap["cam/src004.jpg"]
    catalog = open_catalog(store.db_url)
    try:
        with catalog.session() as s:
            add_correction(s, "not-duplicate", [a, b])
            add_correction(s, "merge", [c, d])
            add_correction(s, "representative", [pick])
            add_correction(s, "split", [out1, out2])
            regroup(s, 6, 5.0)
    finally:
        catalog.close()
    for _ in range(2):
        groups = _groups(store)
        assert _predicted(groups, a, b) != "duplicate"
        assert _predicted(groups, c, d) == "duplicate"
        rep = [m for _, ms in groups["cluster"] for m in ms if m[2]]
        assert (pick, "near-duplicate", True) in rep
        assert _predicted(groups, out1, rest4) != "duplicate" and _predicted(groups, out2, rest4) != "duplicate"
        assert _predicted(groups, out1, out2) == "duplicate"  # split out together, they stay together
        assert _predicted(groups, out1, rest4) == "same-scene"  # still one scene for the splits
        dedupe(store)


def test_representative_prefers_raw_then_resolution_then_sharpness() -> None:
    from rainset.dedupe.representative import Candidate, choose_representative

    raw_small = Candidate("c3", True, 100, 1.0)
    big = Candidate("c1", False, 400, 5.0)
    big_sharper = Candidate("c2", False, 400, 9.0)
    assert choose_representative([big, raw_small, big_sharper]) == "c3"
    assert choose_representative([big, big_sharper]) == "c2"
    assert choose_representative([Candidate("c9", False, 500, 0.0), big_sharper]) == "c9"
    assert choose_representative([big, big_sharper], override="c1") == "c1"
    assert choose_representative([big, big_sharper], override="c7") == "c2"  # not a member: ignored


def test_web_copies_never_represent_and_bursts_are_found(tmp_path: Path) -> None:
    from rainset.synth import generate_dataset

    truth = generate_dataset(tmp_path / "caps", 12, seed=5, raw_pairs=2, bursts=1, near_duplicates=3,
                             exact_copies=1, corrupt=False)
    store = init_store(tmp_path / "s")
    ingest(store, [truth.root], IngestOptions(workers=1))
    dedupe(store)
    cap = _capture_of(store, truth.root)
    groups = _groups(store)
    near = [f for f in truth.files if f.kind == "near-duplicate"]
    reps = {m[0] for _, ms in groups["cluster"] for m in ms if m[2]}
    for f in near:  # half-size or cropped q70 copies: the original has more pixels
        assert _predicted(groups, cap[f.path], cap[f.duplicate_of]) == "duplicate"
        assert cap[f.path] not in reps and cap[f.duplicate_of] in reps
    for burst in {f.burst_id for f in truth.files if f.burst_id is not None}:
        frames = {cap[f.path] for f in truth.files if f.burst_id == burst}
        assert any(frames == {m[0] for m in ms} for _, ms in groups["burst"])
        assert any(frames <= {m[0] for m in ms} for _, ms in groups["scene"])


def test_low_entropy_frames_are_flagged_and_kept_out_of_the_search(tmp_path: Path) -> None:
    from rainset.synth.writers import encode_jpeg

    caps = tmp_path / "flat"
    caps.mkdir()
    rng = np.random.default_rng(0)
    for k, grey in enumerate((60, 120, 180, 200)):  # overcast-sky-like frames that pass ingest's blank check
        img = np.clip(grey + rng.normal(0, 2.0, (240, 320, 3)), 0, 255).astype(np.uint8)
        (caps / f"flat{k}.jpg").write_bytes(encode_jpeg(img, None, quality=95))
    generate_dataset(caps / "real", 4, seed=9, raw_pairs=0, bursts=0, near_duplicates=0, exact_copies=0,
                     corrupt=False)
    store = init_store(tmp_path / "s")
    ingest(store, [str(caps)], IngestOptions(workers=1))
    result = dedupe(store)
    cap = _capture_of(store, str(caps.resolve()))
    flat = {cap[f"flat{k}.jpg"] for k in range(4)}
    catalog = open_catalog(store.db_url)
    with catalog.session() as s:
        flags = dict(s.execute(select(Capture.id, Capture.flags)).all())
    catalog.close()
    assert result.low_entropy == 4
    assert all("low-entropy" in flags[c] for c in flat)
    assert not any("low-entropy" in f for c, f in flags.items() if c not in flat)
    assert not any(flat & {m[0] for m in ms} for _, ms in _groups(store)["cluster"])
