"""Issue 19: local URIs that cannot collide (a byte 0xFF against a literal backslash), --link and
verify with undecodable names, and the migration of stored URIs (0008) on the previous release's store."""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

import cv2
import numpy as np

from rainset.catalog.db import open_catalog
from rainset.catalog.models import File, Reject
from rainset.ingest import IngestOptions, ingest
from rainset.local_uri import path_to_uri, uri_to_bytes, uri_to_path
from rainset.store import init_store, open_store
from rainset.verify import verify_store
from tests.catalog_helpers import catalog_rows as _rows

DATA = Path(__file__).resolve().parent / "data"


def _jpeg(seed: int) -> bytes:
    img = np.random.default_rng(seed).integers(0, 255, (120, 160, 3), dtype=np.uint8)
    ok, enc = cv2.imencode(".jpg", img)
    assert ok
    return enc.tobytes()


def test_uri_round_trips_and_never_collides() -> None:
    byte_name = b"/card/img\xff.jpg"
    literal = b"/card/img\\xff.jpg"
    assert path_to_uri(byte_name) != path_to_uri(literal)
    for raw in (byte_name, literal, b"/a\\\\b/\xc3\xa9\x80\\x.jpg", "/plain/é.jpg".encode()):
        assert uri_to_bytes(path_to_uri(raw)) == raw
        assert uri_to_path(path_to_uri(raw)) == os.fsdecode(raw)
    assert path_to_uri("/plain/é.jpg") == "/plain/é.jpg"


def test_byte_and_backslash_names_are_two_files_and_link_mode_verifies(tmp_path: Path) -> None:
    card = tmp_path / "card"
    card.mkdir()
    names = [os.fsencode(card) + b"/img\xff.jpg", os.fsencode(card) + b"/img\\xff.jpg"]
    for i, name in enumerate(names):
        with open(name, "wb") as fh:
            fh.write(_jpeg(i))
    for link in (False, True):
        store = init_store(tmp_path / f"s-{link}")
        summary = ingest(store, [str(card)], IngestOptions(workers=1, link=link))
        assert summary.new_files == 2 and summary.rejected == 0
        uris = sorted(f.uri for f in _rows(store, File))
        assert uris == sorted(path_to_uri(n) for n in names)
        assert not _rows(store, Reject)
        report = verify_store(store)
        assert (report.checked, report.ok, report.missing, report.damaged) == (2, 2, 0, 0)
        assert ingest(store, [str(card)], IngestOptions(workers=1, link=link)).processed == 0  # both known
    os.unlink(names[0])
    report = verify_store(store)
    assert report.missing == 1 and report.problems[0].path == path_to_uri(names[0])


def test_migration_rewrites_old_uris_of_the_previous_release(tmp_path: Path) -> None:
    root = tmp_path / "store"
    shutil.copytree(DATA / "store-v0.1.0", root)
    card = tmp_path / "card"
    card.mkdir()
    literal = card / "lit\\xff.jpg"  # a literal backslash, on disk: the old URI is read literally
    literal.write_bytes(b"x")
    old_literal = f"{card}/lit\\xff.jpg"
    old_byte = f"{card}/gone\\xff.jpg"  # neither reading exists: the byte reading wins
    old_plain = f"{card}/back\\slash.jpg"  # no \xNN escape: literal
    db = sqlite3.connect(root / "catalog.db")
    ids = [r[0] for r in db.execute("SELECT id FROM files ORDER BY id")]
    assert len(ids) >= 3
    for fid, uri in zip(ids, (old_literal, old_byte, old_plain)):
        db.execute("UPDATE files SET uri = ?, source_dir = ?, stem = 'x' WHERE id = ?", (uri, str(card), fid))
    db.execute("INSERT INTO rejects (uri, sha256, size, mtime, reason, detail, created_at) "
               "VALUES (?, '', 0, 0, 'empty-file', '', '2026-01-01 00:00:00')",
               (old_byte,))
    db.commit()
    db.close()
    store = open_store(root)
    files = {f.id: f for f in _rows(store, File)}
    assert files[ids[0]].uri == path_to_uri(os.fsencode(literal)) == f"{card}/lit\\\\xff.jpg"
    assert uri_to_path(files[ids[0]].uri) == str(literal)
    assert files[ids[1]].uri == path_to_uri(os.fsencode(card) + b"/gone\xff.jpg") == old_byte
    assert files[ids[2]].uri == f"{card}/back\\\\slash.jpg"
    assert files[ids[0]].stem == "lit\\\\xff" and files[ids[0]].source_dir == str(card)
    (reject,) = [r for r in _rows(store, Reject) if r.uri.startswith(str(card))]
    assert reject.uri == old_byte


def test_annotate_reads_a_linked_original_with_a_byte_and_a_backslash_in_its_name(tmp_path: Path) -> None:
    from rainset.annotate_ui.captures import original_of
    from rainset.annotate_ui.tiles import decode_original

    card = tmp_path / "card"
    card.mkdir()
    name = os.fsencode(card) + b"/rain\xff\\x41.jpg"  # byte 0xFF, then a literal backslash
    data = _jpeg(7)
    with open(name, "wb") as fh:
        fh.write(data)
    store = init_store(tmp_path / "s")
    assert ingest(store, [str(card)], IngestOptions(workers=1, link=True)).new_files == 1
    (row,) = _rows(store, File)
    assert row.storage == "link" and row.uri != os.fsdecode(name)  # the URI is the escaped form
    catalog = open_catalog(store.db_url)
    try:
        with catalog.session() as s:
            original = original_of(store, s, row.capture_id)
    finally:
        catalog.close()
    assert not original.is_url and os.fsencode(original.location) == name
    image = decode_original(original, max_pixels=10**8)
    expected = cv2.cvtColor(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    assert image.shape == (120, 160, 3) and np.array_equal(image, expected)
