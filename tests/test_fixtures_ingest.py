"""Ingest ../shared/fixtures as a whole and pin the outcome of every file.

The oracle for make, model and GPS is the fixtures' own SOURCES.md table (read with exifread by
whoever collected them), not our code.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import select

from rainset.catalog.db import open_catalog
from rainset.catalog.models import Capture, File, Reject
from rainset.ingest import IngestOptions, ingest
from rainset.store import init_store

STUB = "truncated"
EXPECTED_REJECTS = {
    # constant-colour frames (pHash would collide on them)
    "exif-py/tests/resources/jpg/Sony_alpha_a58.JPG": "blank-frame",
    "exif-samples/jpg/tests/67-0_length_string.jpg": "blank-frame",
    "exiftool/t/images/ExifTool.tif": "blank-frame",
    "exiftool/t/images/GPS.jpg": "blank-frame",
    # real RAW that the PyPI LibRaw cannot decode (GoPro VC-5), or not RAW data at all
    "gopro-gpr/data/samples/Hero6/GOPR0024.GPR": "decode-failed",
    "exiftool/t/images/CanonRaw.cr2": "decode-failed",
    "file-type/fixture/fixture-sony-zv-e10.arw": "decode-failed",
    # truncated real RAW and metadata-only stubs: never a zero-filled preview
    "file-type/fixture/fixture-Leica-M10.dng": STUB,
    "exif-py/tests/resources/raw/sony_alpha_a7iii_raw_image.ARW": STUB,
    "exif-py/tests/resources/raw/nikon_z_9_high_efficiency_compressed_dx_cropped_max_overexposed.dng": STUB,
    "exiftool/t/images/CanonRaw.cr3": STUB,
    "exiftool/t/images/CanonRaw.crw": STUB,
    "exiftool/t/images/DNG.dng": STUB,
    "exiftool/t/images/FujiFilm.raf": STUB,
    "exiftool/t/images/KyoceraRaw.raw": STUB,
    "exiftool/t/images/Minolta.mrw": STUB,
    "exiftool/t/images/Nikon.nef": STUB,
    "exiftool/t/images/Panasonic.rw2": STUB,
    "exiftool/t/images/PhaseOne.iiq": STUB,
    "exiftool/t/images/Sigma.x3f": STUB,
    "exiftool/t/images/SigmaDP2.x3f": STUB,
    "exiv2/test/data/IMG_1361.dng": STUB,
}
DOCS = re.compile(r"(README|LICENSE|COPYING|SOURCES\.md|license|README\.(md|rst|txt)|LICENSE\.txt)$")


def _sources_table(fixtures: Path) -> dict[str, tuple[str, str, bool]]:
    """path -> (make, model, has_gps) for every image row of SOURCES.md with EXIF make/model."""
    table, section = {}, None
    for line in (fixtures / "SOURCES.md").read_text(encoding="utf-8").splitlines():
        if m := re.match(r"^## (\S+)", line):
            section = m.group(1)
        elif (m := re.match(r"^\| `([^`]+)` \| \d+ \| ([^|]*) \| ([^|]*) \|", line)) and section:
            parts = m.group(3).strip().split("; ")
            if len(parts) < 2:
                continue
            make, _, model = parts[1].partition(" /")
            table[f"{section}/{m.group(1)}"] = (make.strip(), model.strip(), len(parts) > 2 and parts[2] == "GPS")
    return table


@pytest.fixture(scope="module")
def ingested(fixtures_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    store = init_store(tmp_path_factory.mktemp("fx") / "store")
    summary = ingest(store, [str(fixtures_dir)], IngestOptions(workers=2))
    cat = open_catalog(store.db_url)
    with cat.session() as s:
        files = {f.uri: f for f in s.scalars(select(File))}
        captures = {c.id: c for c in s.scalars(select(Capture))}
        rejects = {r.uri: r for r in s.scalars(select(Reject))}
    cat.close()
    rel = lambda uri: str(Path(uri).relative_to(fixtures_dir))  # noqa: E731
    return (store, summary, {rel(u): f for u, f in files.items()}, captures,
            {rel(u): r for u, r in rejects.items()})


@pytest.mark.timeout(300)
def test_every_fixture_file_has_a_pinned_outcome(ingested, fixtures_dir: Path) -> None:
    store, summary, files, captures, rejects = ingested
    on_disk = {str(p.relative_to(fixtures_dir)) for p in fixtures_dir.rglob("*") if p.is_file()}
    assert set(files) | set(rejects) == on_disk and not set(files) & set(rejects)
    assert summary.seen == len(on_disk)
    docs = {p for p in on_disk if DOCS.search(p)}
    assert {p: r.reason for p, r in rejects.items() if p not in docs} == EXPECTED_REJECTS
    assert {rejects[p].reason for p in docs} == {"unsupported-format"}
    for path, rej in rejects.items():
        assert rej.detail and rej.size == (fixtures_dir / path).stat().st_size
    for f in files.values():  # every capture file has a real, non-blank preview
        assert store.preview_path(f.sha256).stat().st_size > 500


def test_make_model_and_gps_match_the_sources_table(ingested, fixtures_dir: Path) -> None:
    _, _, files, captures, _ = ingested
    table = _sources_table(fixtures_dir)
    checked = 0
    for path, (make, model, has_gps) in table.items():
        if path not in files:
            continue
        cap = captures[files[path].capture_id]
        assert ((cap.make or ""), (cap.model or "")) == (make, model), path
        assert (cap.gps_lat is not None) == has_gps, path
        checked += 1
    assert checked >= 100


def test_known_files(ingested) -> None:
    _, _, files, captures, _ = ingested
    kdc = files["rawpy/test/RAW_KODAK_DC50_é.KDC"]
    assert (kdc.format, kdc.role) == ("raw", "raw") and kdc.width > 0 and kdc.decoder.startswith("raw")
    gps = captures[files["exif-samples/jpg/gps/DSCN0010.jpg"].capture_id]
    assert gps.gps_lat == pytest.approx(43.46745, abs=1e-4) and gps.gps_lon == pytest.approx(11.88512, abs=1e-4)
    for i in range(1, 9):  # all EXIF orientations end upright: landscape 600x450
        f = files[f"exif-samples/jpg/orientation/landscape_{i}.jpg"]
        assert (f.width, f.height) == (600, 450), i
    for heic in ("exif-samples/heic/IMG_5195.HEIC", "exif-py/tests/resources/heic/spring_1440x960.heic"):
        assert files[heic].format == "heic"
    a, b = files["mspfn-rain100h/model/test/test_data/R100H/cleancrop/3.png"], \
        files["mspfn-rain100h/model/test/test_data/R100H/cleancrop/4.png"]
    assert a.sha256 == b.sha256 and a.capture_id == b.capture_id and b.duplicate_of == a.id
    broken = ("exif-samples/jpg/corrupted.jpg", "exif-samples/jpg/tests/28-hex_value.jpg",
              "exif-samples/jpg/tests/87_OSError.jpg")
    for path in broken:  # broken EXIF does not stop anything: a capture, with what could be read
        assert path in files
    corrupted = captures[files["exif-samples/jpg/corrupted.jpg"].capture_id]
    assert any("grey fill" in w for w in corrupted.warnings)  # kept, with the damage recorded
