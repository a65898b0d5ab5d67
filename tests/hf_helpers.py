"""Captures whose EXIF carries GPS, a body serial and an orientation (written with Pillow's Exif), for
the redaction tests of export and shards."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from rainset.ingest import IngestOptions, Provenance, ingest
from rainset.store import Store, init_store
from rainset.synth import generate_dataset

GPS_IFD, EXIF_IFD, BODY_SERIAL, ORIENTATION = 0x8825, 0x8769, 0xA431, 0x0112


def write_exif_jpeg(path: Path, seed: int, orientation: int, size: tuple[int, int] = (160, 120)) -> None:
    """A JPEG whose EXIF holds GPS, a body serial, make/model and ``orientation``."""
    rng = np.random.default_rng(seed)
    img = Image.fromarray((rng.random((size[1], size[0], 3)) * 255).astype("uint8"))
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    exif[0x010F], exif[0x0110] = "TestMake", "TestModel"
    exif.get_ifd(GPS_IFD).update({1: "N", 2: (48.0, 8.0, 30.0), 3: "E", 4: (11.0, 34.0, 0.0)})
    exif.get_ifd(EXIF_IFD).update({BODY_SERIAL: f"BODY{seed:05d}", 0x9003: "2025:06:01 10:00:00"})
    img.save(path, "JPEG", exif=exif, quality=90)


def upright_like(size: tuple[int, int], row: dict) -> bool:
    """Whether an image of ``size`` has the upright shape of ``row`` (previews may be smaller)."""
    return abs(size[0] / size[1] - row["width"] / row["height"]) < 0.05 and size[0] <= row["width"]


def exif_of(data: bytes) -> tuple[dict, dict, dict]:
    """(IFD0, GPS IFD, EXIF IFD) of image bytes."""
    exif = Image.open(io.BytesIO(data)).getexif()
    return dict(exif), dict(exif.get_ifd(GPS_IFD)), dict(exif.get_ifd(EXIF_IFD))


def exif_store(root: Path) -> Store:
    """A store of four captures: two JPEGs with GPS + serial (orientation 1 and 6), two synthetic ones
    (one with a DNG twin: RAW-born)."""
    src = root / "captures"
    generate_dataset(src / "synth", 2, size=(160, 120), raw_pairs=1, bursts=0, near_duplicates=0, exact_copies=0,
                     corrupt=False)
    write_exif_jpeg(src / "gps_upright.jpg", 1, orientation=1)
    write_exif_jpeg(src / "gps_rotated.jpg", 2, orientation=6)
    st = init_store(root / "store")
    ingest(st, [str(src)], IngestOptions(workers=1, provenance=Provenance("tests", "CC0-1.0", "tests")))
    return st
