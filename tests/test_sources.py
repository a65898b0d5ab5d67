"""Source discovery: folders, single files, symlink loops, FIFOs, dangling links, hostile names, HTTP."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rainset.errors import SourceError
from rainset.ingest.sources import discover, group_units, walk_local


def test_walk_handles_loops_fifos_dangling_links_and_hostile_names(tmp_path: Path) -> None:
    root = tmp_path / "card"
    (root / "DCIM" / "100CANON").mkdir(parents=True)
    (root / "DCIM" / "100CANON" / "IMG_0001.CR2").write_bytes(b"x")
    (root / "DCIM" / "100CANON" / "IMG_0001.JPG").write_bytes(b"y")
    (root / "DCIM" / "loop").symlink_to(root / "DCIM")  # a symlink loop
    (root / "dangling.jpg").symlink_to(root / "nowhere.jpg")
    os.mkfifo(root / "pipe.jpg")
    hostile = os.fsencode(str(root)) + b"/bad\xff name 'x' \"y\" \n.jpg"
    with open(hostile, "wb") as fh:
        fh.write(b"z")
    files = walk_local(str(root))
    by_name = {f.name: f for f in files}
    assert by_name["pipe.jpg"].problem == "not-a-regular-file"
    assert by_name["dangling.jpg"].problem == "unreadable"
    hostile_entry = next(f for f in files if f.name.startswith("bad"))
    assert hostile_entry.name == "bad\\xff name 'x' \"y\" \n.jpg"  # printable, storable
    assert hostile_entry.location.encode("utf-8", "surrogateescape") == hostile  # still opens the real file
    cr2 = [f for f in files if f.name == "IMG_0001.CR2"]
    assert len(cr2) == 1  # the loop did not list the folder twice


def test_units_pair_raw_and_jpeg_by_folder_and_stem(tmp_path: Path) -> None:
    for rel in ("a/IMG_1.CR2", "a/IMG_1.JPG", "a/IMG_2.JPG", "b/IMG_1.JPG"):
        (tmp_path / rel).parent.mkdir(exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    units = group_units(discover([str(tmp_path)]))
    names = sorted(tuple(sorted(f.name for f in u)) for u in units)
    assert names == [("IMG_1.CR2", "IMG_1.JPG"), ("IMG_1.JPG",), ("IMG_2.JPG",)]


def test_missing_source_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no such file or folder"):
        discover([str(tmp_path / "nope")])
    single = tmp_path / "one.jpg"
    single.write_bytes(b"1")
    assert [f.name for f in discover([str(single)])] == ["one.jpg"]
