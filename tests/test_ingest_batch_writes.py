"""The driver's batch writes: one bulk read per batch gives the same catalog as per-file queries."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import event, select

from rainset.catalog.db import open_catalog
from rainset.catalog.models import Capture, File, Hash
from rainset.ingest import IngestOptions, ingest
from rainset.ingest import pipeline, writer
from rainset.store import init_store
from rainset.synth import generate_dataset


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("synth") / "caps"
    generate_dataset(root, 24, seed=5)
    return root


def _catalog(store) -> tuple:
    """Files, captures and hashes keyed by what does not depend on row ids."""
    cat = open_catalog(store.db_url)
    try:
        with cat.session() as s:
            files = s.scalars(select(File).order_by(File.id)).all()
            uri_of = {f.id: f.uri for f in files}
            frows = sorted((f.uri, f.capture_id, f.role, f.sha256, uri_of.get(f.duplicate_of)) for f in files)
            caps = sorted((c.id, c.representative_sha256, c.format, c.serial, c.capture_time, c.make)
                          for c in s.scalars(select(Capture)))
            hashes = sorted((h.sha256, h.phash, h.pixel_hash) for h in s.scalars(select(Hash)))
            return frows, caps, hashes
    finally:
        cat.close()


def test_one_batch_writes_the_same_catalog_as_one_file_per_batch(synth: Path, tmp_path: Path) -> None:
    one = init_store(tmp_path / "one")
    ingest(one, [str(synth)], IngestOptions(batch_size=1))
    whole = init_store(tmp_path / "whole")
    summary = ingest(whole, [str(synth)], IngestOptions(batch_size=1000))
    frows, caps, hashes = _catalog(whole)
    assert (frows, caps, hashes) == _catalog(one)
    assert summary.exact_copies and summary.paired  # the set has copies and RAW+JPEG pairs in one batch
    assert any(dup is not None for *_, dup in frows)


def test_batch_reads_do_not_grow_with_the_batch(synth: Path, tmp_path: Path, monkeypatch) -> None:
    """A batch's look-ups are five bulk reads (plus one per reject), not about six queries per file."""
    counts: list[tuple[int, int, int]] = []
    real = pipeline._write_batch

    def counting(catalog, batch, run_id, options):  # noqa: ANN001
        reads = []

        def listener(conn, cursor, statement, *args) -> None:  # noqa: ANN001
            if statement.lstrip().upper().startswith("SELECT"):
                reads.append(statement)

        event.listen(catalog.engine, "before_cursor_execute", listener)
        try:
            return real(catalog, batch, run_id, options)
        finally:
            event.remove(catalog.engine, "before_cursor_execute", listener)
            rejects = sum(not r.ok for _, results in batch for r in results)
            counts.append((len(reads), sum(len(u) for u, _ in batch), rejects))

    monkeypatch.setattr(pipeline, "_write_batch", counting)
    store = init_store(tmp_path / "s")
    ingest(store, [str(synth)], IngestOptions(batch_size=1000))
    ((reads, files, rejects),) = counts
    assert files - rejects > 20
    assert reads <= 5 + rejects, (reads, files, rejects)


def test_look_ups_split_into_small_in_lists_give_the_same_catalog(synth: Path, tmp_path: Path, monkeypatch) -> None:
    one = init_store(tmp_path / "one")
    ingest(one, [str(synth)], IngestOptions(batch_size=1))
    monkeypatch.setattr(writer, "IN_CHUNK", 2)  # every IN (...) list split, folders and stems crossed
    chunked = init_store(tmp_path / "chunked")
    ingest(chunked, [str(synth)], IngestOptions(batch_size=1000))
    assert _catalog(chunked) == _catalog(one)


def test_batch_inserts_are_bulk(synth: Path, tmp_path: Path, monkeypatch) -> None:
    """Rows go in with one INSERT per table per batch (plus one round per exact copy of a file of the
    same batch, whose id it needs), not one statement per row."""
    counts: list[tuple[int, int]] = []
    real = pipeline._write_batch

    def counting(catalog, batch, run_id, options):  # noqa: ANN001
        inserts = []

        def listener(conn, cursor, statement, *args) -> None:  # noqa: ANN001
            if statement.lstrip().upper().startswith("INSERT"):
                inserts.append(statement)

        event.listen(catalog.engine, "before_cursor_execute", listener)
        try:
            out = real(catalog, batch, run_id, options)
        finally:
            event.remove(catalog.engine, "before_cursor_execute", listener)
        counts.append((len(inserts), out.exact_copies))
        return out

    monkeypatch.setattr(pipeline, "_write_batch", counting)
    store = init_store(tmp_path / "s")
    summary = ingest(store, [str(synth)], IngestOptions(batch_size=1000))
    ((inserts, copies),) = counts
    rows = summary.new_files + summary.new_captures + sum(summary.rejects_by_reason.values())
    assert rows > 40
    assert inserts <= 5 * (1 + copies) < rows, (inserts, copies, rows)
