"""The browse library: filter (the CLI's --where), facets, order and paging over plain catalog rows."""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import insert

from rainset.browse import SnapshotCache, browse
from rainset.browse.query import BROWSE_COLUMNS
from rainset.catalog.db import open_catalog
from rainset.catalog.models import Capture, File, Group, GroupMember
from rainset.catalog.rainstats_tables import Suggestion
from rainset.errors import InvalidInputError
from rainset.labels.bulk import capture_rows
from rainset.labels.record import append_label
from rainset.labels.users import add_user, get_user
from rainset.manifests.rows import filter_view, load_rows
from rainset.where import compile_where

from tests.labels_helpers import add_captures

KW = {"taxonomy": ["heavy", "drizzle", "no-rain"], "taxonomy_version": 1}
N = 30


@pytest.fixture()
def catalog(tmp_path):
    cat = open_catalog(f"sqlite:///{tmp_path}/catalog.db")
    with cat.session() as s:
        ids = add_captures(s, N, source="src")
        for i, cid in enumerate(ids):
            row = s.get(Capture, cid)
            row.flags = ["blurry"] if i % 4 == 0 else []
            row.source_name = "roof" if i % 3 == 0 else "street"
            row.capture_time = None if i == 5 else f"2024-02-{1 + i % 28:02d}T10:00:{i:02d}"
        s.execute(insert(File), [{"capture_id": cid, "uri": f"/data/{'a' if i % 2 else 'b'}/IMG_{i}.jpg",
                                  "source_dir": "/data", "stem": f"IMG_{i}", "sha256": f"{i:064x}", "size": 1,
                                  "format": "jpeg", "role": "raster", "storage": "copy", "width": 640,
                                  "height": 480, "bit_depth": 8, "decoder": "pillow", "exif": {},
                                  "sharpness": None if i == 7 else float((i * 37) % 101)}
                                 for i, cid in enumerate(ids)])
        s.execute(insert(Suggestion), [{"capture_id": cid, "rain_type": ("heavy", "drizzle")[i % 2],
                                        "confidence": (i % 10) / 10, "model": "t", "features": "preview",
                                        "info": {}} for i, cid in enumerate(ids) if i % 5])
        users = [get_user(s, add_user(s, f"a{j}", "annotator").id) for j in range(2)]
        for i, cid in enumerate(ids[:12]):
            append_label(s, users[0], cid, "heavy" if i % 3 else "no-rain", (), **KW)
            if i % 2:
                append_label(s, users[1], cid, "drizzle", (), **KW)  # disagreement: no consensus
        gid = s.execute(insert(Group).values(kind="cluster", info={})).inserted_primary_key[0]
        s.execute(insert(GroupMember), [{"group_id": gid, "capture_id": c, "relation": "near-duplicate",
                                         "is_representative": j == 0} for j, c in enumerate(ids[20:24])])
    yield cat
    cat.close()


def stored(cat) -> list[dict]:
    with cat.session() as s:
        return capture_rows(s)


def test_the_filter_selects_what_the_cli_filter_selects(catalog):
    rows = stored(catalog)
    for where in ("rain_type = 'heavy'", "'blurry' in flags and source_name = 'roof'", "rain_type is null",
                  "iso >= 300 or labelled", "not labelled and source_name like 'st%'"):
        expected = {r["id"] for r in rows if compile_where(where, BROWSE_COLUMNS)(r)}
        with catalog.session() as s:
            page = browse(s, where=where, limit=500)
        assert page.total == len(expected) == len(page.items), where
        assert {i.capture_id for i in page.items} == expected, where


def test_facets_count_what_was_stored(catalog):
    rows = {r["id"]: r for r in stored(catalog)}
    with catalog.session() as s:
        page = browse(s, where="source_name = 'street'", limit=500)
        sugg = {c: x.rain_type for c, x in ((r.capture_id, r) for r in s.query(Suggestion))}
    matched = [cid for cid, r in rows.items() if r["source_name"] == "street"]
    facets = {f.name: {v.value: v.count for v in f.values} for f in page.facets}
    assert facets["source_name"] == {"street": len(matched)}
    assert facets["rain_type"] == dict(Counter(rows[c]["rain_type"] for c in matched))
    assert facets["suggested_rain_type"] == dict(Counter(sugg.get(c) for c in matched))
    assert facets["flags"] == dict(Counter(f for c in matched for f in rows[c]["flags"]))
    assert facets["group_kinds"] == {"cluster": sum(1 for c in matched if c in {f"c{i:04d}" for i in range(20, 24)})}
    assert facets["camera"] == {"Nimbus N1": len(matched)}


def test_a_facet_filter_selects_its_count(catalog):
    with catalog.session() as s:
        page = browse(s, limit=500)
        for facet in page.facets:
            for value in facet.values:
                narrowed = browse(s, where=value.where, limit=1)
                assert narrowed.total == value.count, (facet.name, value)


def test_order_and_paging(catalog):
    with catalog.session() as s:
        everything = browse(s, order="sharpness", limit=500)
        sharp = [i.sharpness for i in everything.items]
        assert sharp[-1] is None and sharp[:-1] == sorted(sharp[:-1])
        down = [i.sharpness for i in browse(s, order="-sharpness", limit=500).items]
        assert down[:-1] == sorted(sharp[:-1], reverse=True) and down[-1] is None
        conf = [i.suggestion_confidence for i in browse(s, order="-confidence", limit=500).items]
        present = [c for c in conf if c is not None]
        assert present == sorted(present, reverse=True) and conf[len(present):] == [None] * (N - len(present))
        times = [i.capture_time for i in browse(s, order="capture_time", limit=500).items]
        assert times[:-1] == sorted(times[:-1]) and times[-1] is None
        pages = [browse(s, order="capture_time", limit=7, offset=o) for o in range(0, N, 7)]
        assert [i.capture_id for p in pages for i in p.items] == [i.capture_id for i in
                                                                  browse(s, order="capture_time", limit=500).items]
        assert all(p.total == N for p in pages) and len(pages[-1].items) == N % 7


def test_items_name_the_representative_file(catalog):
    with catalog.session() as s:
        item = browse(s, where="id = 'c0003'", limit=1).items[0]
    assert (item.file_name, item.path, item.camera) == ("IMG_3.jpg", "/data/a/IMG_3.jpg", "Nimbus N1")
    assert item.preview_key == f"{3:064x}" and item.suggestion_confidence == pytest.approx(0.3)


@pytest.mark.parametrize("kwargs, needle", [
    ({"where": "rain_typ = 'heavy'"}, "rain_typ"), ({"where": "iso = 'x'"}, "compares"),
    ({"order": "size"}, "order"), ({"limit": 0}, "limit"), ({"limit": 501}, "limit"), ({"offset": -1}, "offset"),
    ({"where": "split = 'train'"}, "version"),
])
def test_bad_input_is_one_invalid_input_error(catalog, kwargs, needle):
    with catalog.session() as s, pytest.raises(InvalidInputError, match=needle):
        browse(s, **kwargs)


def test_the_cache_sees_new_labels_and_serves_the_same_page(catalog):
    cache = SnapshotCache(ttl_s=3600)
    with catalog.session() as s:
        first = browse(s, where="rain_type = 'drizzle'", cache=cache)
        assert browse(s, where="rain_type = 'drizzle'", cache=cache) == first
        cid = next(c["id"] for c in capture_rows(s) if not c["labelled"])
        append_label(s, get_user(s, 1), cid, "drizzle", (), **KW)
    with catalog.session() as s:
        after = browse(s, where="rain_type = 'drizzle'", cache=cache)
        assert after.total == first.total + 1 and cid in {i.capture_id for i in after.items}


def test_capture_rows_are_the_filter_views_of_the_manifest_rows(catalog):
    with catalog.session() as s:
        fast = capture_rows(s)
        plain = [{**filter_view(r), "id": r["sample_id"], "labelled": bool(r["labels"])} for r in load_rows(s).rows]
    assert [list(r) for r in fast] == [list(r) for r in plain] and fast == plain
    assert len(fast) == N and any(r["labelled"] for r in fast) and not all(r["labelled"] for r in fast)


def test_a_snapshot_build_pauses_the_cyclic_collector_and_restores_it(catalog, monkeypatch):
    import gc

    from rainset.browse import snapshot

    seen = []
    real = snapshot.capture_rows
    monkeypatch.setattr(snapshot, "capture_rows", lambda s: (seen.append(gc.isenabled()), real(s))[1])
    assert gc.isenabled()
    with catalog.session() as s:
        built = snapshot.build_snapshot(s)
        with snapshot.cyclic_gc_paused():  # nested: the inner end leaves it paused, the outer restores it
            with snapshot.cyclic_gc_paused():
                assert not gc.isenabled()
            assert not gc.isenabled()
        assert gc.isenabled() and seen == [False] and len(built) == N
        monkeypatch.setattr(snapshot, "capture_rows", lambda s: 1 / 0)
        with pytest.raises(ZeroDivisionError):
            snapshot.build_snapshot(s)
        assert gc.isenabled()
        gc.disable()
        try:  # a collector the caller turned off stays off
            monkeypatch.setattr(snapshot, "capture_rows", real)
            snapshot.build_snapshot(s)
            assert not gc.isenabled()
        finally:
            gc.enable()


def test_snapshot_paths_and_keys_are_the_representative_files(catalog):
    from rainset.browse.snapshot import build_snapshot
    from rainset.capture_paths import representative_paths

    with catalog.session() as s:
        snap = build_snapshot(s)
        reps = {c.id: c.representative_sha256 for c in s.query(Capture)}
        paths = representative_paths(s)
    for i, cid in enumerate(snap.ids):
        assert snap.paths[i] == paths.get(cid)
        assert snap.preview_keys[i] == (reps[cid] if cid in paths else "")
    assert any(snap.paths)
