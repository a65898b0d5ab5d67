"""Label Studio export/import (round trip into a second store of the same captures) and bulk labels."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from sqlalchemy import func, select

from rainset.catalog.db import open_catalog
from rainset.catalog.models import Capture, Label
from rainset.catalog.rainstats_tables import Suggestion
from rainset.errors import FilterError, LabelError
from rainset.ingest import IngestOptions, Provenance, ingest
from rainset.labels.bulk import set_labels
from rainset.labels.consensus import current_labels
from rainset.labels.interchange import export_labelstudio, import_labelstudio, labelstudio_config
from rainset.labels.queue import next_capture
from rainset.labels.record import adjudicate, record_label, undo_last
from rainset.labels.user_map import parse_user_map
from rainset.labels.users import add_user, find_user, get_user, user_rows
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
        a = get_user(s, add_user(s, "ann", "annotator").id)  # no e-mail: exported as ann@rainset.invalid
        b = get_user(s, add_user(s, "bob", "annotator", email="bob@example.org").id)
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
        s.add(Suggestion(capture_id=ids[0], rain_type="heavy", confidence=0.81234, model="rules-1", features="preview"))
        s.flush()
        tasks = export_labelstudio(s, first, image_prefix="http://host/")
        assert export_labelstudio(s, first, image_prefix="http://host/") == tasks  # ids are stable
        assert all("predictions" not in t for t in export_labelstudio(s, first, predictions=False))
        expected = _summary(s)
    cat.close()
    tasks = json.loads(json.dumps(tasks))  # what goes through a file
    n_caps = len(tasks)
    assert n_caps == 6 and all(t["data"]["image"].startswith("http://host/previews/") for t in tasks)
    by_id = {t["data"]["capture_id"]: t for t in tasks}
    assert (first.root / by_id[ids[0]]["data"]["image"].removeprefix("http://host/")).is_file()
    anns = by_id[ids[1]]["annotations"]
    assert [a["ground_truth"] for a in anns] == [False, False, True]
    assert [a["completed_by"] for a in anns] == [{"email": "ann@rainset.invalid"}, {"email": "bob@example.org"},
                                                 {"email": "rev@rainset.invalid"}]
    assert anns[2]["result"][1]["value"]["choices"] == ["splash"] and not any(a["was_cancelled"] for a in anns)
    assert by_id[ids[0]]["annotations"][0]["lead_time"] == 1.5
    first_result = by_id[ids[0]]["annotations"][0]["result"][0]
    assert {k: v for k, v in first_result.items() if k != "id"} == {
        "from_name": "rain_type", "to_name": "image", "type": "choices", "value": {"choices": ["heavy"]}}
    result_ids = [r["id"] for t in tasks for a in t["annotations"] for r in a["result"]]
    assert all(isinstance(i, str) and i for i in result_ids) and len(set(result_ids)) == len(result_ids)
    assert by_id[ids[0]]["predictions"] == [{"model_version": "rules-1", "score": 0.8123, "result": [
        {"id": f"{ids[0]}-suggestion", "from_name": "rain_type", "to_name": "image", "type": "choices",
         "value": {"choices": ["heavy"]}}]}]
    assert sum("predictions" in t for t in tasks) == 1

    cat2 = open_catalog(second.db_url)
    try:
        with cat2.session() as s:
            summary = import_labelstudio(s, tasks, **KW)
            assert summary.users_created == ("ann", "bob", "rev")
            assert (summary.labelled, summary.adjudicated, summary.skipped, summary.cancelled) == (6, 1, 0, 0)
            assert find_user(s, "rev").role == "reviewer"
            # bob keeps his e-mail; ann and rev had none, and get none from their default identity.
            assert {r.name: r.email for r in user_rows(s)} == {"ann": None, "bob": "bob@example.org", "rev": None}
            assert _summary(s) == expected
            assert s.scalar(select(func.count()).select_from(Suggestion)) == 0  # predictions are not labels
        with cat2.session() as s:  # importing again changes nothing
            again = import_labelstudio(s, tasks, **KW)
            assert (again.labelled, again.adjudicated, again.skipped, again.users_created) == (0, 0, 7, ())
            # The plain-name form rainset wrote before still imports (and here changes nothing).
            for t in tasks:
                for a in t["annotations"]:
                    a["completed_by"] = a.pop("rainset_user")
            assert import_labelstudio(s, tasks, **KW).skipped == 7
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
            ([{"data": {"capture_id": cid}, "annotations": [{"completed_by": 17, "result": [good]}]}],
             "task 0, annotation 0: completed_by is Label Studio member id 17: map ids .* --user-map"),
            ([{"data": {"capture_id": cid}, "annotations": [{"completed_by": {"email": "no way"}, "result": [good]}]}],
             "invalid e-mail address 'no way'"),
            ([{"data": {"capture_id": cid}, "annotations": [{"completed_by": {"email": "ann@elsewhere.org"},
                                                             "result": [good]}]}],
             "no user has e-mail 'ann@elsewhere.org', and user 'ann' exists with no e-mail: set it with"),
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
        with pytest.raises(LabelError, match="member id 18 is not in --user-map"), cat.session() as s:
            import_labelstudio(s, [{"data": {"capture_id": cid}, "annotations": [{"completed_by": 18,
                                                                                  "result": [good]}]}],
                               user_map={17: "ann"}, **KW)
        with cat.session() as s:  # found by the preview hash in the image URL, recorded as --as user
            sha = s.get(Capture, cid).representative_sha256
            # "completions": the key of older Label Studio exports.
            out = import_labelstudio(s, [{"data": {"image": f"/data/upload/{sha}.jpg"},
                                          "completions": [{"completed_by": 42, "result": [good]},
                                                          {"was_cancelled": True, "result": [good]}]}],
                                     as_user="ann", **KW)
            assert (out.labelled, out.skipped, out.cancelled) == (1, 0, 1)
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


def _ls_annotation(ann_id: int, task_id: int, member: int, choices: list[str], *, cancelled: bool = False,
                   attrs: list[str] | None = None) -> dict:
    """An annotation as Label Studio's JSON export writes it (docs: "Label Studio JSON format of annotated tasks")."""
    result = [{"id": f"Xk{ann_id}aB9", "type": "choices", "value": {"choices": choices}, "origin": "manual",
               "to_name": "image", "from_name": "rain_type"}]
    if attrs:
        result.append({"id": f"Yq{ann_id}cD2", "type": "choices", "value": {"choices": attrs}, "origin": "manual",
                       "to_name": "image", "from_name": "attributes"})
    return {"id": ann_id, "completed_by": member, "result": [] if cancelled else result,
            "was_cancelled": cancelled, "ground_truth": False, "created_at": "2025-03-09T22:16:08.728353Z",
            "updated_at": "2025-03-09T22:16:08.728378Z", "draft_created_at": None, "lead_time": 4.288,
            "prediction": {}, "result_count": 0, "unique_id": f"4f1c{ann_id:04d}-aaaa-bbbb-cccc-0123456789ab",
            "import_id": None, "last_action": None, "task": task_id, "project": 3, "updated_by": member,
            "parent_prediction": None, "parent_annotation": None, "last_created_by": None}


def _ls_task(task_id: int, data: dict, annotations: list[dict]) -> dict:
    """A task of Label Studio's JSON export: ``id``, ``data`` as imported, annotations, bookkeeping fields."""
    return {"id": task_id, "annotations": annotations, "file_upload": None, "drafts": [],
            "predictions": [{"id": 9, "model_version": "rules-1", "created_ago": "3 hours", "score": 0.7,
                             "result": [{"id": "p1", "type": "choices", "value": {"choices": ["drizzle"]},
                                         "to_name": "image", "from_name": "rain_type"}]}],
            "data": data, "meta": {}, "created_at": "2025-03-09T21:52:49.513742Z",
            "updated_at": "2025-03-09T22:16:08.746926Z", "inner_id": task_id, "total_annotations": len(annotations),
            "cancelled_annotations": sum(a["was_cancelled"] for a in annotations), "total_predictions": 1,
            "comment_count": 0, "unresolved_comment_count": 0, "last_comment_updated_at": None, "project": 3,
            "updated_by": None, "comment_authors": []}


def test_label_studio_own_export_imports_through_a_user_map(tmp_path, caps) -> None:
    store = _store(tmp_path, caps, "ls")
    cat = open_catalog(store.db_url)
    try:
        with cat.session() as s:
            add_user(s, "ann", "annotator", email="ann@example.org")
            first, second = (s.get(Capture, c) for c in list(s.scalars(select(Capture.id).order_by(Capture.id)))[:2])
            # Tasks that went out through our export and came back: data kept as exported (capture_id or not).
            tasks = [
                _ls_task(101, {"image": f"http://host/previews/{first.representative_sha256}.jpg",
                               "capture_id": first.id, "source_name": first.source_name},
                         [_ls_annotation(1, 101, 1, ["heavy"], attrs=["night"]), _ls_annotation(2, 101, 2, ["streak"]),
                          _ls_annotation(3, 101, 2, [], cancelled=True)]),
                _ls_task(102, {"image": f"/data/upload/3/{second.representative_sha256}.jpg"},
                         [_ls_annotation(4, 102, 1, ["drizzle"])]),
            ]
            tasks = json.loads(json.dumps(tasks))
            members = parse_user_map("id,user\n1,ann\n2,lsuser\n", "map.csv")
            out = import_labelstudio(s, tasks, user_map=members, **KW)
            assert (out.tasks, out.annotations, out.labelled, out.skipped, out.cancelled) == (2, 4, 3, 0, 1)
            assert out.users_created == ("lsuser",)
            labels = current_labels(s)
            assert sorted((r.user, r.rain_type, r.attributes) for r in labels[first.id].labels) == [
                ("ann", "heavy", ("night",)), ("lsuser", "streak", ())]
            assert [(r.user, r.rain_type) for r in labels[second.id].labels] == [("ann", "drizzle")]
            assert s.scalar(select(func.count()).select_from(Label)) == 3  # predictions imported as nothing
        with pytest.raises(LabelError, match="task 0, annotation 1: Label Studio member id 2 is not in --user-map"), \
                cat.session() as s:
            import_labelstudio(s, tasks, user_map={1: "ann"}, **KW)
        with cat.session() as s:  # matched by e-mail, as Label Studio's own import does
            tasks[1]["annotations"][0]["completed_by"] = {"email": "ANN@example.org"}
            tasks[1]["annotations"][0]["result"][0]["value"]["choices"] = ["fog-mixed"]
            again = import_labelstudio(s, tasks, user_map=members, **KW)
            assert (again.labelled, again.skipped, again.cancelled) == (1, 2, 1)
            assert [r.rain_type for r in current_labels(s)[second.id].labels] == ["fog-mixed"]
    finally:
        cat.close()


def test_user_map_files() -> None:
    assert parse_user_map('{"17": "ann", "18": "bob"}', "m.json") == {17: "ann", 18: "bob"}
    assert parse_user_map("17,ann\n\n18, bob\n", "m.csv") == {17: "ann", 18: "bob"}
    for text, message in [('{"x": "ann"}', "m: key 'x': Label Studio member id must be an integer"),
                          ('{"1": "bad name"}', "m: id 1: invalid user name 'bad name'"),
                          ("id,user\n1,ann,extra\n", "m, line 2: expected two columns"),
                          ("id,user\n", "no id,user rows"), ("{oops", "m: not valid JSON")]:
        with pytest.raises(LabelError, match=message):
            parse_user_map(text, "m")
