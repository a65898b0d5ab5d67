"""Ingest against files that change under it, workers that die, and headers that lie (issue 19)."""

from __future__ import annotations

import io
import os
import signal
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile

from rainset.catalog.models import File, IngestRun, Reject
from rainset.ingest import IngestOptions, ingest
from rainset.ingest import pipeline
from rainset.ingest.stage import process_unit
from rainset.store import init_store
from tests.catalog_helpers import catalog_rows as _rows


def _jpeg(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    img = cv2.GaussianBlur(rng.integers(0, 255, (240, 320, 3), dtype=np.uint8), (0, 0), 3)
    return cv2.imencode(".jpg", img)[1].tobytes()


def _card(tmp_path: Path, names: list[str]) -> Path:
    src = tmp_path / "card"
    src.mkdir()
    for i, name in enumerate(names):
        (src / name).write_bytes(_jpeg(i))
    return src


def _after_discovery(monkeypatch, change) -> None:  # noqa: ANN001
    """Run ``change()`` right after ingest has listed its sources, before any file is processed."""
    real = pipeline.discover

    def discover(sources):  # noqa: ANN001
        files = real(sources)
        change()
        return files

    monkeypatch.setattr(pipeline, "discover", discover)


@pytest.mark.timeout(60)
def test_file_replaced_by_fifo_after_discovery_is_a_reject_not_a_hang(tmp_path: Path, monkeypatch) -> None:
    src = _card(tmp_path, ["a.jpg", "b.jpg"])

    def to_fifo() -> None:
        (src / "a.jpg").unlink()
        os.mkfifo(src / "a.jpg")

    _after_discovery(monkeypatch, to_fifo)
    store = init_store(tmp_path / "s")
    summary = ingest(store, [str(src)], IngestOptions(workers=1))
    (reject,) = _rows(store, Reject)
    assert (Path(reject.uri).name, reject.reason) == ("a.jpg", "not-a-regular-file")
    assert reject.mtime == os.stat(src / "a.jpg").st_mtime  # seen on the opened descriptor
    assert [Path(f.uri).name for f in _rows(store, File)] == ["b.jpg"]
    assert summary.rejects_by_reason == {"not-a-regular-file": 1}
    monkeypatch.undo()
    assert ingest(store, [str(src)]).processed == 0  # the FIFO is now known: not opened again


def test_file_cut_short_or_touched_during_ingest_records_what_was_read(tmp_path: Path, monkeypatch) -> None:
    src = _card(tmp_path, ["cut.jpg", "touched.jpg"])

    def change() -> None:
        cut = src / "cut.jpg"
        cut.write_bytes(cut.read_bytes()[:2000])
        os.utime(cut, (1_600_000_000, 1_600_000_000))
        os.utime(src / "touched.jpg", (1_500_000_000, 1_500_000_000))

    _after_discovery(monkeypatch, change)
    store = init_store(tmp_path / "s")
    ingest(store, [str(src)], IngestOptions(workers=1))
    (reject,) = _rows(store, Reject)
    assert reject.reason == "truncated"
    assert (reject.size, reject.mtime) == (2000, 1_600_000_000.0)
    (row,) = _rows(store, File)
    assert Path(row.uri).name == "touched.jpg" and row.mtime == 1_500_000_000.0
    monkeypatch.undo()
    assert ingest(store, [str(src)]).processed == 0  # not re-processed on every rerun


def _float_tiff_with_unknown_compression() -> bytes:
    """A TIFF whose header tifffile reads but that no decoder can decode (Pillow cannot identify it)."""
    buf = io.BytesIO()
    tifffile.imwrite(buf, np.random.default_rng(0).random((64, 64, 3)), compression="zlib", photometric="rgb")
    data = bytearray(buf.getvalue())
    ifd = struct.unpack("<I", data[4:8])[0]
    for i in range(struct.unpack("<H", data[ifd:ifd + 2])[0]):
        at = ifd + 2 + 12 * i
        if struct.unpack("<H", data[at:at + 2])[0] == 259:  # Compression
            data[at + 8:at + 10] = struct.pack("<H", 60001)
    return bytes(data)


def _png_header_bomb(side: int = 15800) -> bytes:
    """A tiny PNG whose IHDR declares side x side RGBA at 16 bits (8 bytes a pixel)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", side, side, 16, 6, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 4096))
            + chunk(b"IEND", b""))


def test_reject_details_are_plain_and_decoded_size_is_budgeted(tmp_path: Path) -> None:
    src = tmp_path / "card"
    src.mkdir()
    (src / "odd.tif").write_bytes(_float_tiff_with_unknown_compression())
    (src / "bomb.png").write_bytes(_png_header_bomb())
    store = init_store(tmp_path / "s")
    assert 15800 * 15800 <= store.settings["max_pixels"]  # only the memory budget can refuse it
    ingest(store, [str(src)], IngestOptions(workers=1))
    rejects = {Path(r.uri).name: r for r in _rows(store, Reject)}
    assert rejects["odd.tif"].reason == "decode-failed"
    assert "Pillow" in rejects["odd.tif"].detail and " at 0x" not in rejects["odd.tif"].detail
    bomb = rejects["bomb.png"]
    assert bomb.reason == "too-large"
    assert str(15800 * 15800 * 4 * 2) in bomb.detail and "max_decode_bytes" in bomb.detail


def dying_stage(unit, store, options):  # noqa: ANN001
    """process_unit, except that the worker holding ``die.jpg`` kills itself as the OOM killer would."""
    if any(src.name == "die.jpg" for src in unit):
        os.kill(os.getpid(), signal.SIGKILL)
    return process_unit(unit, store, options)


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_a_worker_killed_on_a_file_makes_a_worker_died_reject_and_the_run_goes_on(tmp_path: Path) -> None:
    names = ["a.jpg", "b.jpg", "c.jpg", "die.jpg", "e.jpg", "f.jpg", "g.jpg", "h.jpg", "i.jpg", "j.jpg"]
    src = _card(tmp_path, names)
    store = init_store(tmp_path / "s")
    summary = ingest(store, [str(src)], IngestOptions(workers=2, batch_size=3), stage=dying_stage)
    (reject,) = _rows(store, Reject)
    assert (Path(reject.uri).name, reject.reason) == ("die.jpg", "worker-died")
    assert "SIGKILL" in reject.detail
    assert sorted(Path(f.uri).name for f in _rows(store, File)) == [n for n in names if n != "die.jpg"]
    assert summary.rejects_by_reason == {"worker-died": 1} and summary.new_files == len(names) - 1
    (run,) = _rows(store, IngestRun)
    assert run.status == "done"
    assert ingest(store, [str(src)]).processed == 0  # the reject is known: a rerun does not meet it again
