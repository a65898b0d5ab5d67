"""rainset export --images embed|embed-full and --redact on the embedded bytes: a real ingest of JPEGs
whose EXIF carries GPS, a body serial and an orientation (written here with Pillow's Exif), plus a
synthetic JPEG + DNG pair (RAW-born: embedded as PNG)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image, ImageOps

from rainset.errors import ConfigError
from rainset.manifests.export import export_manifest
from rainset.manifests.images import strip_jpeg_metadata
from rainset.manifests.versions import open_version
from rainset.store import Store
from tests.hf_helpers import BODY_SERIAL, GPS_IFD, ORIENTATION, exif_of, exif_store, upright_like


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Store:
    return exif_store(tmp_path_factory.mktemp("hf"))


def _rows(store: Store, name: str) -> dict[str, dict]:
    return {r["file_name"]: r for r in open_version(store, name).rows(["file_name", "sample_id", "sha256", "format",
                                                                        "width", "height", "image"])}


def test_path_mode_has_no_image_column_and_records_the_mode(store: Store) -> None:
    result = export_manifest(store, "plain", include_unlabelled=True)
    version = open_version(store, "plain")
    assert result.images == "path" and version.info["settings"]["images"] == "path"
    assert "image" not in pq.read_schema(version.data_files()[0]).names


def test_embed_puts_the_preview_in_an_hf_image_column(store: Store) -> None:
    export_manifest(store, "prev", include_unlabelled=True, images="embed")
    version = open_version(store, "prev")
    assert version.info["settings"]["images"] == "embed"
    schema = pq.read_schema(version.data_files()[0])
    assert str(schema.field("image").type) == "struct<bytes: binary, path: string>"
    assert json.loads(schema.metadata[b"huggingface"])["info"]["features"]["image"] == {"_type": "Image"}
    rows = _rows(store, "prev")
    assert len(rows) == 4
    for r in rows.values():
        assert r["image"]["bytes"] == store.preview_path(r["sha256"]).read_bytes()
        assert r["image"]["path"] == f"{r['sample_id']}.jpg"
        img = Image.open(io.BytesIO(r["image"]["bytes"]))
        assert img.format == "JPEG" and upright_like(img.size, r)
    # the metadata rows without images still read as before (image column read only when asked)
    assert "image" not in open_version(store, "prev").rows()[0]


def test_pandas_reads_an_embedding_version(store: Store) -> None:
    import pandas as pd

    if "prev" not in {p.name for p in (store.root / "manifests").iterdir()}:
        export_manifest(store, "prev", include_unlabelled=True, images="embed")
    df = pd.read_parquet(store.root / "manifests" / "prev" / "data")
    assert len(df) == 4 and isinstance(df["image"].iloc[0]["bytes"], bytes)


def test_embed_full_without_redaction_keeps_the_original_bytes(store: Store) -> None:
    export_manifest(store, "full", include_unlabelled=True, images="embed-full")
    rows = _rows(store, "full")
    for name in ("gps_upright.jpg", "gps_rotated.jpg"):
        r = rows[name]
        assert hashlib.sha256(r["image"]["bytes"]).hexdigest() == r["sha256"]
        ifd0, gps, exif = exif_of(r["image"]["bytes"])
        assert gps and exif.get(BODY_SERIAL)  # the originals do carry GPS and the serial
    raw = [r for r in rows.values() if r["format"] == "raw"]
    assert len(raw) == 1 and raw[0]["image"]["path"].endswith(".png")
    img = Image.open(io.BytesIO(raw[0]["image"]["bytes"]))
    assert img.format == "PNG" and img.size == (raw[0]["width"], raw[0]["height"])


def test_redacted_embeds_carry_no_gps_or_serial(store: Store) -> None:
    export_manifest(store, "full-red", include_unlabelled=True, images="embed-full", redact=["gps,serial"])
    export_manifest(store, "prev-red", include_unlabelled=True, images="embed", redact=["gps", "serial"])
    full = _rows(store, "full")
    for name in ("full-red", "prev-red"):
        for r in _rows(store, name).values():
            ifd0, gps, exif = exif_of(r["image"]["bytes"])
            assert GPS_IFD not in ifd0 and not gps and BODY_SERIAL not in exif, (name, r["file_name"])
            assert b"BODY0" not in r["image"]["bytes"]
    red = _rows(store, "full-red")
    for name in ("gps_upright.jpg", "gps_rotated.jpg"):
        stripped, original = red[name]["image"]["bytes"], full[name]["image"]["bytes"]
        # same pixels (no re-encode), and the rotated one still turns upright
        assert np.array_equal(np.asarray(Image.open(io.BytesIO(stripped))), np.asarray(Image.open(io.BytesIO(original))))
        upright = ImageOps.exif_transpose(Image.open(io.BytesIO(stripped)))
        assert upright.size == (red[name]["width"], red[name]["height"])
    assert exif_of(red["gps_rotated.jpg"]["image"]["bytes"])[0] == {ORIENTATION: 6}
    assert exif_of(red["gps_upright.jpg"]["image"]["bytes"])[0] == {}


def test_strip_keeps_a_real_camera_jpeg_decodable(fixtures_dir: Path) -> None:
    path = fixtures_dir / "exif-samples" / "jpg" / "gps" / "DSCN0010.jpg"
    data = path.read_bytes()
    assert exif_of(data)[1]  # the fixture has GPS
    out = strip_jpeg_metadata(data)
    assert len(out) < len(data) and not exif_of(out)[1] and exif_of(out)[0] == {}
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(out))), np.asarray(Image.open(io.BytesIO(data))))
    with pytest.raises(ValueError, match="not a JPEG"):
        strip_jpeg_metadata(b"\x89PNG....")


def test_unknown_images_mode_is_refused(store: Store) -> None:
    with pytest.raises(ConfigError, match="--images 'inline'"):
        export_manifest(store, "bad", images="inline")
    with pytest.raises(ConfigError, match="--license"):
        export_manifest(store, "bad", license="CC BY 4.0")


LOAD = """
import json, sys
from datasets import load_dataset
ds = load_dataset("parquet", data_files={"train": sys.argv[1] + "/data/*.parquet"}, cache_dir=sys.argv[2])
out = [{"id": r["sample_id"], "type": type(r["image"]).__module__ + "." + type(r["image"]).__name__,
        "size": list(r["image"].size)} for r in ds["train"]]
print(json.dumps({"features": str(ds["train"].features["image"]), "rows": out}))
"""


@pytest.mark.slow
def test_hugging_face_datasets_loads_pil_images(store: Store, tmp_path: Path) -> None:
    pytest.importorskip("datasets")
    if not (store.root / "manifests" / "prev").is_dir():
        export_manifest(store, "prev", include_unlabelled=True, images="embed")
    env = {**os.environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"),
           "HF_DATASETS_CACHE": str(tmp_path / "hf" / "datasets")}
    proc = subprocess.run([sys.executable, "-c", LOAD, str(store.root / "manifests" / "prev"), str(tmp_path / "c")],
                          env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["features"].startswith("Image(")
    rows = _rows(store, "prev")
    assert sorted(r["id"] for r in got["rows"]) == sorted(r["sample_id"] for r in rows.values())
    by_id = {r["sample_id"]: r for r in rows.values()}
    for r in got["rows"]:
        assert r["type"].startswith("PIL.") and upright_like(tuple(r["size"]), by_id[r["id"]])


def test_cli_export_images_and_licence(store: Store) -> None:
    from typer.testing import CliRunner

    from rainset.cli import app

    runner = CliRunner()
    s = str(store.root)
    r = runner.invoke(app, ["export", "cli-hf", "--store", s, "--include-unlabelled", "--images", "embed",
                            "--redact", "gps,serial", "--license", "cc-by-4.0", "-q"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    version = open_version(store, "cli-hf")
    assert version.info["settings"]["images"] == "embed" and version.info["settings"]["license"] == "cc-by-4.0"
    assert "license: \"cc-by-4.0\"" in (version.path / "README.md").read_text()
    for args, fragment in ((("--images", "inline"), "--images 'inline': unknown; choose from path, embed, embed-full"),
                           (("--license", "CC BY"), "--license 'CC BY'")):
        r = runner.invoke(app, ["export", "cli-bad", "--store", s, *args])
        assert r.exit_code == 1 and r.stderr.startswith("error:") and fragment in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) <= 2


@pytest.mark.slow
def test_strip_keeps_the_pixels_of_every_fixture_jpeg(fixtures_dir: Path) -> None:
    """Every decodable JPEG of the fixtures (progressive, CMYK, MPF, maker notes, …): same pixels, no GPS."""
    checked = 0
    for path in sorted((fixtures_dir / "exif-samples" / "jpg").rglob("*.jpg")):
        data = path.read_bytes()
        try:
            before = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
        except (OSError, ValueError):
            continue  # not decodable by Pillow either: ingest rejects it
        try:
            out = strip_jpeg_metadata(data)
        except ValueError:
            assert path.name == "corrupted.jpg"  # truncated scan: no end marker
            continue
        assert np.array_equal(np.asarray(Image.open(io.BytesIO(out)).convert("RGB")), before), path.name
        ifd0, gps, _ = exif_of(out)
        assert GPS_IFD not in ifd0 and not gps, path.name
        checked += 1
    assert checked >= 40


@pytest.mark.slow
def test_spawned_workers_embed_the_same_cells(store: Store) -> None:
    from rainset.manifests.export import embed_workers

    assert embed_workers("embed", 10_000, None) == 1 and embed_workers("embed-full", 10, None) == 1
    assert embed_workers("embed-full", 10, 3) == 3
    export_manifest(store, "w1", include_unlabelled=True, images="embed-full", redact=["gps"], workers=1)
    export_manifest(store, "w2", include_unlabelled=True, images="embed-full", redact=["gps"], workers=2)
    one, two = _rows(store, "w1"), _rows(store, "w2")
    assert one.keys() == two.keys() and len(one) == 4
    assert all(one[k]["image"] == two[k]["image"] for k in one)
