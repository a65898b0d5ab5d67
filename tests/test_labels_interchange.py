"""Label Studio export/import (round trip into a second store of the same captures) and bulk labels."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from sqlalchemy import func, select

from rainset.catalog.db import open_catalog
from rainset.catalog.models import Capture, Label
from rainset.errors import FilterError, LabelError
from rainset.ingest import IngestOptions, Provenance, ingest
from rainset.labels.bulk import set_labels
from rainset.labels.consensus import current_labels
from rainset.labels.interchange import export_labelstudio, import_labelstudio, labelstudio_config
from rainset.labels.queue import next_capture
from rainset.labels.record import adjudicate, record_label, undo_last
from rainset.labels.users import add_user, find_user, get_user
from rainset.store import init_store
from rainset.synth import generate_dataset

TAX = ["drizzle", "heavy", "streak", "fog-mixed", "no-rain", "not-usable", "unsure"]
KW = dict(taxonomy=TAX, taxonomy_version=1)


@pytest.fixture(scope="module")
def caps(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("lbl") / "caps"
    generate_dataset(root, 6, seed=7, size=(160, 120), raw_pairs=0, bursts=0, near_duplicates=0, exact_copies=0,
                     corrupt=False)
    (root / "clear").mkdir()
    return root


def _store(tmp_path: Path, caps: Path, name: str):
    store = init_store(tmp_path / name)
    ingest(store, [str(caps)], IngestOptions(workers=1, provenance=Provenance("field", None, None)))
    return store


def _summary(session):
    return {cid: (c.rain_type, c.attributes, c.source, c.adjudicated_by,
                  sorted((r.user, r.rain_type, r.attributes, r.taxonomy_version) for r in c.labels))
            for cid, c in current_labels(session).items() if c.labels or c.source}


def test_round_trip_into_a_fresh_store(tmp_path, caps) -> None:
    first, second = _store(tmp_path, caps, "a"), _store(tmp_path, caps, "b")
    cat = open_catalog(first.db_url)
    with cat.session() as s:
        a, b = (get_user(s, add_user(s, n, "annotator").id) for n in ("ann", "bob"))
        rev = get_user(s, add_user(s, "rev", "reviewer").id)
        ids = []
        for i, (ra, rb) in enumerate([("heavy", "heavy"), ("drizzle", "streak"), ("fog-mixed", "fog-mixed")]):
            cid = next_capture(s, a, k=2).capture_id
            assert next_capture(s, b, k=2).capture_id == cid
            record_label(s, a, cid, ra, ["night"] if i == 0 else [], duration_ms=1500, **KW)
            record_label(s, b, cid, rb, **KW)
            ids.append(cid)
        adjudicate(s, rev, ids[1], "streak", ["splash"], **KW)
        cid = next_capture(s, a, k=2).capture_id
        record_label(s, a, cid, "no-rain", **KW)
        undo_last(s, a)  # retracted: not exported
        tasks = export_labelstudio(s, first, image_prefix="http://host/")
        expected = _summary(s)
    cat.close()
    tasks = json.loads(json.dumps(tasks))  # what goes through a file
    n_caps = len(tasks)
    assert n_caps == 6 and all(t["data"]["image"].startswith("http://host/previews/") for t in tasks)
    by_id = {t["data"]["capture_id"]: t for t in tasks}
    assert (first.root / by_id[ids[0]]["data"]["image"].removeprefix("http://host/")).is_file()
    anns = by_id[ids[1]]["annotations"]
    assert [a["ground_truth"] for a in anns] == [False, False, True]
    assert anns[2]["completed_by"] == "rev" and anns[2]["result"][1]["value"]["choices"] == ["splash"]
    assert by_id[ids[0]]["annotations"][0]["lead_time"] == 1.5
    assert by_id[ids[0]]["annotations"][0]["result"][0] == {
        "from_name": "rain_type", "to_name": "image", "type": "choices", "value": {"choices": ["heavy"]}}

    cat2 = open_catalog(second.db_url)
    try:
        with cat2.session() as s:
            summary = import_labelstudio(s, tasks, **KW)
            assert summary.users_created == ("ann", "bob", "rev")
            assert (summary.labelled, summary.adjudicated, summary.skipped) == (6, 1, 0)
            assert find_user(s, "rev").role == "reviewer"
            assert _summary(s) == expected
        with cat2.session() as s:  # importing again changes nothing
            again = import_labelstudio(s, tasks, **KW)
            assert (again.labelled, again.adjudicated, again.skipped, again.users_created) == (0, 0, 7, ())
            assert _summary(s) == expected
            assert s.scalar(select(func.count()).select_from(Label)) == 7
    finally:
        cat2.close()


def test_import_errors_name_the_task(tmp_path, caps) -> None:
    store = _store(tmp_path, caps, "s")
    cat = open_catalog(store.db_url)
    try:
        with cat.session() as s:
            cid = s.scalars(select(Capture.id)).first()
            add_user(s, "ann", "annotator")
        good = {"from_name": "rain_type", "to_name": "image", "type": "choices", "value": {"choices": ["heavy"]}}
        cases = [
            ([{"data": {"capture_id": "nope", "image": "x.jpg"}, "annotations": []}], "task 0: no capture"),
            ([{"data": {"capture_id": cid}, "annotations": [{"completed_by": "ann", "result": [
                {**good, "value": {"choices": ["hail"]}}]}]}], "unknown rain type 'hail'"),
            ([{"data": {"capture_id": cid}, "annotations": [{"result": [good]}]}], "completed_by"),
            ([{"data": {"capture_id": cid}, "annotations": [{"completed_by": "ann", "ground_truth": True,
                                                             "result": [good]}]}], "not a reviewer"),
            ({"not": "tasks"}, "task 0: a task needs a 'data' object"),
            ("text", "expected a list of tasks"),
        ]
        for tasks, message in cases:
            with pytest.raises(LabelError, match=message), cat.session() as s:
                import_labelstudio(s, tasks, **KW)
        with pytest.raises(LabelError, match="no user named 'zed'"), cat.session() as s:
            import_labelstudio(s, [{"data": {"capture_id": cid}, "annotations": [{"completed_by": "zed",
                                                                                  "result": [good]}]}],
                               create_users=False, **KW)
        with cat.session() as s:  # found by the preview hash in the image URL, recorded as --as user
            sha = s.get(Capture, cid).representative_sha256
            # "completions": the key of older Label Studio exports.
            out = import_labelstudio(s, [{"data": {"image": f"/data/upload/{sha}.jpg"},
                                          "completions": [{"completed_by": 42, "result": [good]},
                                                          {"was_cancelled": True, "result": [good]}]}],
                                     as_user="ann", **KW)
            assert (out.labelled, out.skipped) == (1, 1)
            assert current_labels(s)[cid].labels[0].user == "ann"
            assert s.scalar(select(func.count()).select_from(Label)) == 1  # the failed imports left nothing
    finally:
        cat.close()


def test_labelstudio_config_lists_taxonomy_and_attributes() -> None:
    root = ET.fromstring(labelstudio_config(TAX))
    rain, attrs = root.findall("Choices")
    assert [c.get("value") for c in rain] == TAX and rain.get("name") == "rain_type"
    assert [c.get("value") for c in attrs] == ["night", "lens-droplets", "splash"]


def test_bulk_labels_a_source(tmp_path, caps) -> None:
    store = _store(tmp_path, caps, "bulk")
    generate_dataset(tmp_path / "clear", 3, seed=11, size=(160, 120), raw_pairs=0, bursts=0, near_duplicates=0,
                     exact_copies=0, corrupt=False)
    ingest(store, [str(tmp_path / "clear")], IngestOptions(workers=1, provenance=Provenance("clear-days", None, None)))
    cat = open_catalog(store.db_url)
    try:
        with cat.session() as s:
            add_user(s, "curator", "admin")
            ann = get_user(s, add_user(s, "ann", "annotator").id)
            summary = set_labels(s, "no-rain", "source_name = 'clear-days'", "curator", **KW)
            assert (summary.matched, summary.labelled, summary.skipped) == (3, 3, 0)
            clear = set(s.scalars(select(Capture.id).where(Capture.source_name == "clear-days")))
            labels = current_labels(s)
            assert {cid for cid, c in labels.items() if c.rain_type == "no-rain"} == clear
            assert all(labels[c].labels[0].user == "curator" for c in clear)
            again = set_labels(s, "no-rain", "source_name = 'clear-days'", "curator", **KW)
            assert (again.matched, again.labelled, again.skipped) == (3, 0, 3)
            # The consensus column is filterable too.
            only = set_labels(s, "unsure", "rain_type is null and iso >= 0", "curator", **KW)
            assert only.matched == 6
            # Bulk-labelled captures still get one human look at K = 2, never from the curator.
            got = []
            while (item := next_capture(s, ann, k=2)) is not None:
                got.append(item.capture_id)
                record_label(s, ann, item.capture_id, "heavy", **KW)
            assert len(got) == 9
            with pytest.raises(FilterError):
                set_labels(s, "no-rain", "sorce_name = 'x'", "curator", **KW)
            with pytest.raises(LabelError, match="no user named 'nobody'"):
                set_labels(s, "no-rain", "iso > 0", "nobody", **KW)
            with pytest.raises(LabelError, match="unknown rain type"):
                set_labels(s, "sunny", "iso > 0", "curator", **KW)
    finally:
        cat.close()
