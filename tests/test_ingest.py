"""Ingest end to end on generated captures: outcomes per file, pairing, copies, idempotency, link mode."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from rainset.catalog.db import open_catalog
from rainset.catalog.models import Capture, File, IngestRun, Reject
from rainset.ingest import IngestOptions, Provenance, ingest
from rainset.status import store_status
from rainset.store import init_store
from rainset.synth import generate_dataset
from rainset.verify import verify_store
from tests.snapshot import snapshot
from tests.catalog_helpers import catalog_rows as _rows


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("synth") / "caps"
    return root, generate_dataset(root, 24, seed=3)


def test_every_file_becomes_a_capture_file_or_a_reject(synth, tmp_path: Path) -> None:
    root, truth = synth
    store = init_store(tmp_path / "s")
    summary = ingest(store, [str(root)], IngestOptions(provenance=Provenance("unit-test", "CC-BY-4.0", "me")))
    files = {f.uri: f for f in _rows(store, File)}
    rejects = {r.uri: r for r in _rows(store, Reject)}
    captures = {c.id: c for c in _rows(store, Capture)}
    assert summary.seen == len(truth.files)
    for t in truth.files:
        uri = str((root / t.path).resolve())
        if t.expected_reject:
            assert uri in rejects, t.path
            assert rejects[uri].reason == t.expected_reject, (t.path, rejects[uri].detail)
            assert rejects[uri].size == (root / t.path).stat().st_size
            assert rejects[uri].detail
        else:
            assert uri in files, t.path
            sha = hashlib.sha256((root / t.path).read_bytes()).hexdigest()
            assert files[uri].sha256 == sha
            assert store.object_path(sha).read_bytes() == (root / t.path).read_bytes()
            assert store.preview_path(sha).is_file()
    assert set(files).isdisjoint(rejects)
    # RAW+JPEG twins are one capture with two files; the RAW is the representative.
    for t in truth.by_kind("raw-pair"):
        raw = files[str((root / t.path).resolve())]
        jpg = files[str((root / t.duplicate_of).resolve())]
        assert raw.capture_id == jpg.capture_id
        cap = captures[raw.capture_id]
        assert cap.representative_sha256 == raw.sha256 and cap.format == "raw"
    # Exact copies join the capture of the first file with those bytes.
    for t in truth.by_kind("exact-copy"):
        copy = files[str((root / t.path).resolve())]
        orig = files[str((root / t.duplicate_of).resolve())]
        assert copy.capture_id == orig.capture_id
        assert {copy.duplicate_of, orig.duplicate_of} == {None, min(copy.id, orig.id)}  # the later one points back
    shots = [t for t in truth.files if t.kind in ("capture", "burst", "near-duplicate")]
    assert len(captures) == summary.new_captures == len(shots)
    # Provenance and EXIF land on the capture.
    cap = next(iter(captures.values()))
    assert (cap.source_name, cap.license, cap.owner) == ("unit-test", "CC-BY-4.0", "me")
    burst = truth.by_kind("burst")[0]
    bcap = captures[files[str((root / burst.path).resolve())].capture_id]
    assert bcap.serial == burst.serial and bcap.capture_time.startswith(burst.capture_time[:19])
    assert bcap.exposure_time and bcap.iso and bcap.make


def test_ingest_twice_adds_nothing(synth, tmp_path: Path) -> None:
    root, _ = synth
    store = init_store(tmp_path / "s")
    first = ingest(store, [str(root)], IngestOptions(workers=2))
    before = snapshot(store)
    again = ingest(store, [str(root)], IngestOptions(workers=2))
    assert again.skipped == first.seen and again.processed == 0
    assert again.new_files == again.new_captures == again.rejected == 0
    assert snapshot(store) == before
    assert [r.status for r in _rows(store, IngestRun)] == ["done", "done"]


def test_new_half_of_a_pair_joins_the_existing_capture(synth, tmp_path: Path) -> None:
    root, truth = synth
    pair = truth.by_kind("raw-pair")[0]
    store = init_store(tmp_path / "s")
    ingest(store, [str(root / pair.duplicate_of)])  # the JPEG alone first
    ingest(store, [str(root / pair.path)])  # the DNG later
    files = _rows(store, File)
    assert len(files) == 2 and files[0].capture_id == files[1].capture_id
    (cap,) = _rows(store, Capture)
    assert cap.format == "raw" and cap.id == files[0].capture_id  # id stays the JPEG-born id


def test_link_mode_stores_references_and_verify_checks_them(synth, tmp_path: Path) -> None:
    root, _ = synth
    store = init_store(tmp_path / "s")
    ingest(store, [str(root)], IngestOptions(link=True))
    assert not any(p.is_file() for p in (store.root / "objects").rglob("*"))
    assert {f.storage for f in _rows(store, File)} == {"link"}
    report = verify_store(store)
    assert report.checked > 0 and report.ok == report.checked


def test_verify_reports_missing_and_damaged_objects(synth, tmp_path: Path) -> None:
    root, _ = synth
    store = init_store(tmp_path / "s")
    ingest(store, [str(root)])
    status = store_status(store)
    shas = sorted({f.sha256 for f in _rows(store, File)})
    assert verify_store(store).ok == len(shas) == status.files - status.exact_copies
    store.object_path(shas[0]).unlink()
    store.object_path(shas[1]).chmod(0o644)
    store.object_path(shas[1]).write_bytes(b"bit rot")
    report = verify_store(store)
    assert (report.missing, report.damaged, report.ok) == (1, 1, len(shas) - 2)
    assert {p.sha256 for p in report.problems} == {shas[0], shas[1]}


def test_status_counts(synth, tmp_path: Path) -> None:
    root, truth = synth
    store = init_store(tmp_path / "s")
    ingest(store, [str(root)])
    st = store_status(store)
    corrupt = [t for t in truth.files if t.expected_reject]
    assert st.rejects == len(corrupt)
    assert st.files == len(truth.files) - len(corrupt)
    assert st.raw_files == len(truth.by_kind("raw-pair"))
    assert st.exact_copies == len(truth.by_kind("exact-copy"))
    assert st.bytes == sum((root / t.path).stat().st_size for t in truth.files if not t.expected_reject)
    assert st.runs == 1 and st.runs_unfinished == 0


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_ingest_twice_adds_nothing_on_each_backend(synth, tmp_path: Path, backend: str,
                                                   request: pytest.FixtureRequest) -> None:
    root, _ = synth
    url = request.getfixturevalue("pg_url") if backend == "postgres" else None
    store = init_store(tmp_path / "s", url)
    first = ingest(store, [str(root)])
    before = snapshot(store)
    again = ingest(store, [str(root)])
    assert first.new_captures > 0 and again.processed == 0 and again.new_files == again.rejected == 0
    assert snapshot(store) == before
    # ingest refreshed the planner's statistics of the tables it filled (ANALYZE)
    catalog = open_catalog(store.db_url)
    with catalog.engine.connect() as conn:
        if backend == "postgres":
            analyzed = conn.exec_driver_sql("SELECT last_analyze FROM pg_stat_user_tables "
                                            "WHERE relname = 'captures'").scalar()
        else:
            analyzed = conn.exec_driver_sql("SELECT stat FROM sqlite_stat1 WHERE tbl = 'captures'").first()
    catalog.close()
    assert analyzed is not None


def test_hostile_inputs_become_rejects_and_nothing_hangs(tmp_path: Path) -> None:
    import os

    import cv2
    import numpy as np

    src = tmp_path / "card"
    src.mkdir()
    img = (np.indices((300, 400)).sum(axis=0) % 251).astype(np.uint8)
    good = cv2.imencode(".jpg", np.dstack([img, img[::-1], img]))[1].tobytes()
    hostile = os.fsencode(str(src)) + b"/\xff\xfe rain; rm -rf ~ `x` $(y) \n.jpg"
    with open(hostile, "wb") as fh:
        fh.write(good)
    (src / "IMG_0001.CR2").write_bytes(np.random.default_rng(1).bytes(50_000))
    (src / "zero.NEF").write_bytes(b"")
    (src / "gone.jpg").symlink_to(src / "nowhere.jpg")
    (src / "loop").symlink_to(src)
    os.mkfifo(src / "pipe.jpg")
    store = init_store(tmp_path / "s")
    summary = ingest(store, [str(src)], IngestOptions(workers=2))
    rejects = {Path(r.uri).name: r.reason for r in _rows(store, Reject)}
    assert rejects == {"IMG_0001.CR2": "decode-failed", "zero.NEF": "empty-file", "gone.jpg": "unreadable",
                       "pipe.jpg": "not-a-regular-file"}
    (f,) = _rows(store, File)
    assert f.uri.endswith("\\xff\\xfe rain; rm -rf ~ `x` $(y) \n.jpg")
    assert store.object_path(f.sha256).read_bytes() == good
    assert summary.seen == 5 and ingest(store, [str(src)]).processed == 0


def test_raw_and_jpeg_in_different_folders_pair_by_serial_and_time(synth, tmp_path: Path) -> None:
    import shutil

    root, truth = synth
    pair = truth.by_kind("raw-pair")[0]
    (tmp_path / "jpg").mkdir()
    (tmp_path / "raw").mkdir()
    shutil.copy(root / pair.duplicate_of, tmp_path / "jpg" / "shot.jpg")
    shutil.copy(root / pair.path, tmp_path / "raw" / "DSC_renamed.dng")
    other = truth.by_kind("capture")[-2]
    shutil.copy(root / other.path, tmp_path / "jpg" / "other.jpg")
    store = init_store(tmp_path / "s")
    summary = ingest(store, [str(tmp_path / "jpg"), str(tmp_path / "raw")])
    assert (summary.new_captures, summary.new_files, summary.paired) == (2, 3, 1)
    files = {Path(f.uri).name: f for f in _rows(store, File)}
    assert files["shot.jpg"].capture_id == files["DSC_renamed.dng"].capture_id != files["other.jpg"].capture_id
