"""Dedupe on the real fixtures (../shared/fixtures, SOURCES.md): NLCL re-encodes, Rain100 twins, flags."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from rainset.catalog.db import open_catalog
from rainset.catalog.dedupe_tables import DedupePair
from rainset.catalog.models import Capture, File
from rainset.dedupe.groups import list_groups
from rainset.dedupe.run import dedupe
from rainset.ingest import IngestOptions, ingest
from rainset.store import init_store

NLCL = "nlcl-realrain/datasets/RealRain/"
R100H = "mspfn-rain100h/model/test/test_data/R100H/"
R100L = "deraincyclegan-rain100l/datasets/"


@pytest.fixture(scope="module")
def fixture_store(fixtures_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    store = init_store(tmp_path_factory.mktemp("fx") / "store")
    sources = [str(fixtures_dir / d) for d in ("nlcl-realrain", "mspfn-rain100h", "deraincyclegan-rain100l")]
    ingest(store, sources, IngestOptions(workers=1))
    result = dedupe(store)
    catalog = open_catalog(store.db_url)
    with catalog.session() as s:
        cap = {uri.split("fixtures/", 1)[1]: cid for uri, cid in s.execute(select(File.uri, File.capture_id))}
        pairs = {(p.a, p.b): p.relation for p in s.scalars(select(DedupePair))}
        flags = dict(s.execute(select(Capture.id, Capture.flags)).all())
        groups = list_groups(s)
    catalog.close()
    return result, cap, pairs, flags, groups


def _relation(pairs: dict, a: str, b: str) -> str | None:
    return pairs.get(tuple(sorted((a, b))))  # type: ignore[arg-type]


def _together(groups, kind: str, a: str, b: str) -> bool:
    return any({a, b} <= {m.capture_id for m in g.members} for g in groups if g.kind == kind)


def test_nlcl_png_and_its_jpeg_reencode_are_near_duplicates(fixture_store) -> None:
    _, cap, pairs, _, groups = fixture_store
    for n in ("Eg1", "Eg4"):
        a, b = cap[f"{NLCL}trainA/{n}.png"], cap[f"{NLCL}valA/{n}.JPG"]
        assert _relation(pairs, a, b) == "near-duplicate"
        assert _together(groups, "cluster", a, b)


def test_rain100_rainy_frames_and_clean_twins_are_same_scene_not_duplicates(fixture_store) -> None:
    _, cap, pairs, _, groups = fixture_store
    twins = [(f"{R100H}inputcrop/{i}.png", f"{R100H}cleancrop/{i}.png") for i in range(1, 6)]
    twins += [(f"{R100L}{d}/trainA/rain-001.png", f"{R100L}{d}/trainB/norain-001.png")
              for d in ("rainy_Rain100L", "test_rain100L")]
    for rainy, clean in twins:
        a, b = cap[rainy], cap[clean]
        assert a != b
        assert _relation(pairs, a, b) == "same-scene", (rainy, clean)
        assert not _together(groups, "cluster", a, b), (rainy, clean)
        assert _together(groups, "scene", a, b), (rainy, clean)


def test_nlcl_derained_twins_are_same_scene_not_duplicates(fixture_store) -> None:
    _, cap, pairs, _, groups = fixture_store
    for n in ("Eg1", "Eg4"):
        rainy, derained = cap[f"{NLCL}trainA/{n}.png"], cap[f"{NLCL}trainB/{n}.png"]
        assert _relation(pairs, rainy, derained) == "same-scene", n
        assert _together(groups, "scene", rainy, derained) and not _together(groups, "cluster", rainy, derained)


def test_byte_identical_rain100h_clean_frames_are_one_exact_capture(fixture_store) -> None:
    _, cap, _, _, _ = fixture_store
    assert cap[f"{R100H}cleancrop/3.png"] == cap[f"{R100H}cleancrop/4.png"]


def test_rainy_and_foggy_real_frames_are_not_flagged_blurry_or_dark(fixture_store) -> None:
    _, cap, _, flags, _ = fixture_store
    rainy = [f"{NLCL}trainA/Eg1.png", f"{NLCL}trainA/Eg4.png"] + [f"{NLCL}valA/Eg{i}.JPG" for i in range(1, 8)]
    rainy += [f"{R100H}inputcrop/{i}.png" for i in range(1, 6)]
    rainy += [f"{R100L}{d}/trainA/rain-001.png" for d in ("rainy_Rain100L", "test_rain100L")]
    for path in rainy:
        assert not {"blurry", "dark"} & set(flags[cap[path]]), (path, flags[cap[path]])
