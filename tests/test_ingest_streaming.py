"""Issue 19: streaming reads (bounded memory on bomb files) and one-line store write errors."""

from __future__ import annotations

import errno
import hashlib
import io
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from rainset.capture import read_exif
from rainset.capture.exif import MAX_PNG_CHUNKS, png_exif_head
from rainset.catalog.models import File, IngestRun, Reject
from rainset.cli import app
from rainset.ingest import IngestOptions, ingest
from rainset.ingest import stage
from rainset.store import init_store
from tests.catalog_helpers import catalog_rows as _rows


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png(side: int = 64, exif: bytes | None = None, junk: int = 0) -> bytes:
    """A real RGB PNG (optionally with an eXIf chunk before its IDAT) followed by ``junk`` zero bytes."""
    rng = np.random.default_rng(side)
    ok, enc = cv2.imencode(".png", rng.integers(0, 255, (side, side, 3), dtype=np.uint8))
    assert ok
    data = enc.tobytes()
    if exif is not None:
        data = data[:33] + _chunk(b"eXIf", exif) + data[33:]  # after the signature and IHDR
    return data + b"\x00" * junk


def _tiff_exif(make: str) -> bytes:
    ex = Image.Exif()
    ex[0x010F] = make
    raw = ex.tobytes()
    return raw[6:] if raw.startswith(b"Exif\x00\x00") else raw


def test_png_exif_is_read_from_a_bounded_walk_of_its_chunks() -> None:
    exif = _tiff_exif("RainCam")
    padded = _png(exif=exif, junk=12 * (MAX_PNG_CHUNKS + 1000))  # zero padding: thousands of empty chunks
    head = png_exif_head(padded)
    assert len(head) < len(exif) + 64  # signature + eXIf + IEND, not the file
    record = read_exif(padded, "png", "padded.png")
    assert record.make == "RainCam"
    # An eXIf chunk past MAX_PNG_CHUNKS valid chunks is not looked for.
    many = _png()[:-12] + _chunk(b"tEXt", b"k\x00v") * (MAX_PNG_CHUNKS + 1) + _chunk(b"eXIf", exif)
    assert b"eXIf" not in png_exif_head(many + _chunk(b"IEND", b""))


def _bomb_padded(pad: int) -> bytes:
    """A 15800^2 RGBA16 header (2.0 GB decoded) followed by a ``pad``-byte ancillary chunk."""
    ihdr = struct.pack(">IIBBBBB", 15800, 15800, 16, 6, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(b"\x00" * 4096))
            + _chunk(b"zzZz", b"\x00" * pad) + _chunk(b"IEND", b""))


def test_budget_checks_come_before_the_file_is_read_whole_or_copied(tmp_path: Path, monkeypatch) -> None:
    src = tmp_path / "card"
    src.mkdir()
    bomb = _bomb_padded(3 * stage.HEAD_BYTES)  # the header check must not need the whole file
    (src / "bomb.png").write_bytes(bomb)
    sparse = src / "sparse.png"
    sparse.write_bytes(_png())
    store = init_store(tmp_path / "s")
    os.truncate(sparse, store.settings["max_decode_bytes"] + 1)  # a sparse file past the budget

    def no_copy(*args, **kwargs):  # noqa: ANN002, ANN003
        raise AssertionError("a file over the budget was copied")

    monkeypatch.setattr(stage, "tmp_file", no_copy)
    summary = ingest(store, [str(src)], IngestOptions(workers=1))
    assert summary.rejects_by_reason == {"too-large": 2}
    rejects = {Path(r.uri).name: r for r in _rows(store, Reject)}
    assert "max_decode_bytes" in rejects["bomb.png"].detail and str(15800 * 15800 * 8) in rejects["bomb.png"].detail
    assert rejects["bomb.png"].sha256 == hashlib.sha256(bomb).hexdigest()
    assert rejects["sparse.png"].size == sparse.stat().st_size
    assert "not read into memory" in rejects["sparse.png"].detail
    h = hashlib.sha256()
    with open(sparse, "rb") as fh:
        while chunk := fh.read(1 << 24):
            h.update(chunk)
    assert rejects["sparse.png"].sha256 == h.hexdigest()  # hashed in full, streaming
    assert not list((store.root / "objects").rglob("*")) and not list(store.tmp_dir.iterdir())


def test_copy_is_streamed_into_the_store_and_is_the_hashed_bytes(tmp_path: Path) -> None:
    src = tmp_path / "card"
    src.mkdir()
    data = _png(side=700, exif=_tiff_exif("StreamCam"))
    (src / "a.png").write_bytes(data)
    store = init_store(tmp_path / "s")
    ingest(store, [str(src)], IngestOptions(workers=1))
    (row,) = _rows(store, File)
    assert row.sha256 == hashlib.sha256(data).hexdigest() and row.size == len(data)
    assert store.object_path(row.sha256).read_bytes() == data
    assert row.exif["make"] == "StreamCam"
    assert not list(store.tmp_dir.iterdir())


def test_content_already_stored_is_not_copied_into_tmp(tmp_path: Path, monkeypatch) -> None:
    src = tmp_path / "card"
    src.mkdir()
    data = _png(side=300, exif=_tiff_exif("DupCam"))
    (src / "a.png").write_bytes(data)
    store = init_store(tmp_path / "s")
    opened: list[str] = []
    written: list[int] = []
    real_tmp_file, real_write = stage.tmp_file, stage.write_object_copy

    def counting_tmp_file(store_):  # noqa: ANN001
        opened.append("tmp")
        return real_tmp_file(store_)

    def counting_write(out, chunk):  # noqa: ANN001
        written.append(len(chunk))
        return real_write(out, chunk)

    monkeypatch.setattr(stage, "tmp_file", counting_tmp_file)
    monkeypatch.setattr(stage, "write_object_copy", counting_write)
    ingest(store, [str(src)], IngestOptions(workers=1))
    assert (len(opened), written) == (1, [len(data)])  # new content: copied once, whole
    (src / "b.png").write_bytes(data)  # the same bytes under another name, in a later run
    (src / "c.png").write_bytes(data)
    summary = ingest(store, [str(src)], IngestOptions(workers=1))
    assert summary.new_files == 2 and summary.exact_copies == 2
    assert (len(opened), written) == (1, [len(data)])  # no tmp file opened, no byte written for them
    assert {f.sha256 for f in _rows(store, File)} == {hashlib.sha256(data).hexdigest()}
    assert not list(store.tmp_dir.iterdir())


RSS_SCRIPT = """
import resource, sys
from rainset.ingest import IngestOptions, ingest
from rainset.store import open_store
s = ingest(open_store(sys.argv[1]), [sys.argv[2]], IngestOptions(workers=int(sys.argv[3])))
# VmHWM, not RUSAGE_SELF: Linux carries the spawning process's high-water mark across exec into
# ru_maxrss, so a child of a large pytest process would report pytest's size, not its own.
own = int(next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM:")))
peak = max(own, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)  # workers: spawned from this small process
print(s.rejects_by_reason, peak)
"""


@pytest.mark.slow
def test_peak_rss_on_a_2gib_sparse_png_and_a_header_bomb_is_bounded(tmp_path: Path) -> None:
    src = tmp_path / "card"
    src.mkdir()
    (src / "bomb.png").write_bytes(_bomb_padded(16))
    sparse = src / "sparse.png"
    sparse.write_bytes(_png())
    os.truncate(sparse, 2 << 30)
    store = init_store(tmp_path / "s")
    out = subprocess.run([sys.executable, "-c", RSS_SCRIPT, str(store.root), str(src), "1"],
                         capture_output=True, text=True, check=True, timeout=600)
    reasons, peak_kib = out.stdout.strip().rsplit(" ", 1)
    assert reasons == "{'too-large': 2}"
    assert int(peak_kib) < 1_500_000  # ru_maxrss is in KiB on Linux; the goal is <= 1.5 GB


def test_full_disk_is_one_line_naming_the_path_and_a_rerun_is_consistent(tmp_path: Path, monkeypatch) -> None:
    src = tmp_path / "card"
    src.mkdir()
    for i in range(3):
        (src / f"p{i}.png").write_bytes(_png(side=300 + i))
    store = init_store(tmp_path / "s")
    real_fsync = os.fsync

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    runner = CliRunner()
    result = runner.invoke(app, ["ingest", "--store", str(store.root), "--workers", "1", str(src)])
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    assert "cannot write" in lines[0] and str(store.root) in lines[0] and "no space left" in lines[0]
    assert "free some space" in lines[0]
    assert not [p for p in (store.root / "objects").rglob("*") if p.is_file()]  # nothing half-written
    assert not list(store.tmp_dir.iterdir())
    monkeypatch.setattr(os, "fsync", real_fsync)
    again = runner.invoke(app, ["ingest", "--store", str(store.root), "--workers", "1", str(src)])
    assert again.exit_code == 0, again.output
    files = _rows(store, File)
    assert len(files) == 3 and not _rows(store, Reject)
    objects = {p.name for p in (store.root / "objects").rglob("*") if p.is_file()}
    assert objects == {f.sha256 for f in files}
    for f in files:
        assert hashlib.sha256(store.object_path(f.sha256).read_bytes()).hexdigest() == f.sha256
    assert not list(store.tmp_dir.iterdir())
    statuses = sorted(r.status for r in _rows(store, IngestRun))
    assert statuses == ["done", "interrupted"]


def test_store_folder_without_write_permission_is_one_line(tmp_path: Path, monkeypatch) -> None:
    src = tmp_path / "card"
    src.mkdir()
    (src / "p.png").write_bytes(_png(side=300))
    store = init_store(tmp_path / "s")
    real_open = open

    def denied(file, mode="r", *args, **kwargs):  # noqa: ANN001, ANN002, ANN003
        if "w" in mode and str(file).startswith(str(store.tmp_dir)):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(file))
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr("builtins.open", denied)
    result = CliRunner().invoke(app, ["ingest", "--store", str(store.root), "--workers", "1", str(src)])
    assert result.exit_code == 1, result.output
    (line,) = [x for x in result.output.splitlines() if x.strip()]
    assert "permission denied" in line and str(store.tmp_dir) in line and "chmod" in line


def test_lock_on_a_read_only_file_system_is_one_line(tmp_path: Path, monkeypatch) -> None:
    src = tmp_path / "card"
    src.mkdir()
    store = init_store(tmp_path / "s")
    real_open = open

    def read_only_fs(file, mode="r", *args, **kwargs):  # noqa: ANN001, ANN002, ANN003
        if str(file).endswith("ingest.lock"):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(file))
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr("builtins.open", read_only_fs)
    result = CliRunner().invoke(app, ["ingest", "--store", str(store.root), str(src)])
    assert result.exit_code == 1, result.output
    (line,) = [x for x in result.output.splitlines() if x.strip()]
    assert str(store.root / "ingest.lock") in line and "read-only file system" in line and "remount" in line
