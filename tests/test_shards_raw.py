"""rainset shards: 16-bit TIFF and original bytes for RAW-born captures, redacted columns, link-mode
stores, a real camera RAW, PostgreSQL, and the demo stage."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from rainset.catalog.db import open_catalog
from rainset.catalog.models import Version
from rainset.errors import ShardsError
from rainset.ingest import IngestOptions, ingest
from rainset.manifests.export import export_manifest
from rainset.manifests.versions import open_version
from rainset.shards.render import RenderSettings
from rainset.shards.writer import ShardOptions, build_shards
from rainset.store import Store, init_store
from tests.shards_helpers import shard_store, tar_members


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    return shard_store(tmp_path_factory.mktemp("shards-raw"), n=6, raw_pairs=3)


def _samples(folder: str | Path) -> dict[str, dict[str, bytes]]:
    """key → {ext: bytes} over every shard of the folder."""
    out: dict[str, dict[str, bytes]] = {}
    for tar in sorted(Path(folder).glob("*.tar")):
        for name, data in tar_members(tar):
            key, ext = name.split(".", 1)
            out.setdefault(key, {})[ext] = data
    return out


def _decode(data: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)


def test_tiff16_and_original_bytes_for_raw_born_captures(store: Store) -> None:
    rows = {r["sample_id"]: r for r in open_version(store, "v1").rows()}
    raw_ids = {sid for sid, r in rows.items() if r["format"] == "raw"}
    assert len(raw_ids) == 3 and len(rows) == 6  # each DNG twin became its capture's representative
    result = build_shards(store, "t16", ShardOptions(RenderSettings("tiff16", with_raw=True)), manifest="v1")
    samples = _samples(result.path)
    assert set(samples) == set(rows) and result.fallbacks == 3
    for sid, members in samples.items():
        row = rows[sid]
        if sid in raw_ids:
            assert list(members) == ["json", "tiff", "dng"]  # member order of the contract
            img = _decode(members["tiff"])
            assert img.dtype == np.uint16 and img.shape == (row["height"], row["width"], 3)
            assert np.any(img % 256 != 0)  # real 16-bit data, not 8-bit scaled up
            assert members["dng"] == store.object_path(row["sha256"]).read_bytes()
        else:
            assert list(members) == ["json", "png"]  # 8-bit originals fall back to 8-bit PNG
            assert _decode(members["png"]).dtype == np.uint8
    index = json.loads((Path(result.path) / "index.json").read_text())
    images: dict[str, int] = {}
    for body in index["splits"].values():
        for entry in body["shardlist"]:
            for k, v in entry["images"].items():
                images[k] = images.get(k, 0) + v
    assert images == {"tiff": 3, "png": 3} and index["settings"]["with_raw"] is True


def test_png_of_a_raw_is_the_high_byte_of_its_16_bit_render(store: Store) -> None:
    rows = {r["sample_id"]: r for r in open_version(store, "v1").rows()}
    png = _samples(build_shards(store, "p8", ShardOptions(RenderSettings("png")), manifest="v1").path)
    t16 = _samples(build_shards(store, "t16b", ShardOptions(RenderSettings("tiff16")), manifest="v1").path)
    for sid, row in rows.items():
        if row["format"] == "raw":
            np.testing.assert_array_equal(_decode(png[sid]["png"]), (_decode(t16[sid]["tiff"]) >> 8).astype(np.uint8))
        else:
            assert t16[sid]["png"] == png[sid]["png"]  # the 8-bit fallback is the plain PNG


def test_redacted_columns_stay_out_of_the_json(store: Store) -> None:
    export_manifest(store, "v-red", include_unlabelled=True, redact=["gps", "serial"])
    redacted = _samples(build_shards(store, "v-red", ShardOptions()).path)
    full = _samples(build_shards(store, "full", ShardOptions(), manifest="v1").path)
    assert set(redacted) == set(full)
    for sid in redacted:
        meta, whole = json.loads(redacted[sid]["json"]), json.loads(full[sid]["json"])
        assert {"gps_lat", "gps_lon", "gps_alt", "serial"} <= set(whole)
        assert set(whole) - set(meta) == {"gps_lat", "gps_lon", "gps_alt", "serial"}
        assert redacted[sid]["jpg"] == full[sid]["jpg"]


def test_undecodable_original_is_named(tmp_path: Path, store: Store) -> None:
    shutil.copytree(store.root, tmp_path / "copy")
    from rainset.store import open_store

    st = open_store(tmp_path / "copy")
    victim = sorted(open_version(st, "v1").rows(), key=lambda r: r["sample_id"])[0]
    # A JPEG whose bytes no longer decode, recorded with its new sha256: the hash check passes, the decoder fails.
    import hashlib

    junk = b"\xff\xd8\xff\xe0" + bytes(200) + b"\xff\xd9"
    digest = hashlib.sha256(junk).hexdigest()
    st.object_path(digest).parent.mkdir(parents=True, exist_ok=True)
    st.object_path(digest).write_bytes(junk)
    catalog = open_catalog(st.db_url)
    from rainset.catalog.models import Capture, File

    with catalog.session() as s:
        cap = s.get(Capture, victim["sample_id"])
        s.query(File).filter_by(sha256=cap.representative_sha256).update({"sha256": digest})
        cap.representative_sha256, cap.format = digest, "jpeg"
    catalog.close()
    export_manifest(st, "v-junk", include_unlabelled=True)
    with pytest.raises(ShardsError, match=f"sample {victim['sample_id']} .*undecodable"):
        build_shards(st, "v-junk", ShardOptions())
    assert not (st.root / "shards" / "v-junk").exists()


def test_real_camera_raw_in_a_link_mode_store(tmp_path: Path, fixtures_dir: Path) -> None:
    src = fixtures_dir / "rawpy/test/RAW_KODAK_DC50_é.KDC"
    if not src.is_file():
        pytest.skip(f"{src} not found")
    (tmp_path / "in").mkdir()
    shutil.copyfile(src, tmp_path / "in" / src.name)
    st = init_store(tmp_path / "store")
    ingest(st, [str(tmp_path / "in")], IngestOptions(workers=1, link=True))
    export_manifest(st, "kodak", include_unlabelled=True)
    row = open_version(st, "kodak").rows()[0]
    assert row["path"] is None and row["format"] == "raw"  # link mode: read from where it was ingested
    result = build_shards(st, "kodak", ShardOptions(RenderSettings("tiff16", max_side=384, with_raw=True)))
    (members,) = _samples(result.path).values()
    assert list(members) == ["json", "tiff", "kdc"] and members["kdc"] == src.read_bytes()
    img = _decode(members["tiff"])
    assert img.dtype == np.uint16 and max(img.shape[:2]) == 384 and img.shape[1] > img.shape[0]


@pytest.mark.postgres
def test_shards_on_postgresql(tmp_path: Path, pg_url: str) -> None:
    st = shard_store(tmp_path, n=5, raw_pairs=1, db_url=pg_url)
    result = build_shards(st, "v1", ShardOptions(target_size=30_000))
    with pytest.raises(ShardsError, match="already exist"):
        build_shards(st, "v1", ShardOptions())
    catalog = open_catalog(st.db_url)
    with catalog.session() as s:
        rows = s.query(Version).filter_by(kind="shards").all()
        assert [(r.name, r.parent, r.info["samples"]) for r in rows] == [("v1", "v1", 5)]
        assert rows[0].info["splits"] == {k: {"nsamples": v["nsamples"], "shards": v["shards"], "bytes": v["bytes"]}
                                    for k, v in result.splits.items()}
    catalog.close()


def test_demo_stage(tmp_path: Path) -> None:
    from rainset.demo.shards import demo_stage

    st = shard_store(tmp_path, n=10, raw_pairs=1, manifest="demo-v1")
    result = demo_stage(st, "demo-v1", target_size=60_000)
    rows = {r["sample_id"]: r for r in open_version(st, "demo-v1").rows()}
    assert result.shards.samples == len(rows) and result.shards.shards >= 3
    assert result.check.problems == [] and result.check.ok == result.shards.shards
    assert 1 <= len(result.batch) <= 4
    for item in result.batch:
        row = rows[item["key"]]
        assert row["split"] == "train" and item["rain_type"] == row["rain_type"]
        assert item["shape"] == [row["height"], row["width"], 3] and item["dtype"] == "uint8"
    assert any("read back a batch" in line for line in result.lines())
    json.dumps(result.to_dict())
    with pytest.raises(ShardsError, match="already exist"):
        demo_stage(st, "demo-v1")


def test_half_size_raw_decode_matches_the_full_decode(tmp_path: Path) -> None:
    from rainset.capture import decode_full
    from rainset.imageops import fit_long_side as resize_to
    from rainset.shards.render import RenderJob, decode_upright
    from rainset.synth import generate_dataset

    generate_dataset(tmp_path, 2, size=(640, 480), raw_pairs=1, bursts=0, near_duplicates=0, exact_copies=0,
                     corrupt=False)
    data = next(tmp_path.rglob("*.dng")).read_bytes()
    job = RenderJob("k", "", "", "raw", "x.dng", None, RenderSettings("tiff16", max_side=200))
    half = decode_upright(data, job)
    assert half.shape == (240, 320, 3) and half.dtype == np.uint16  # LibRaw's half size: 2x2 Bayer blocks
    full = decode_full(data, "x", "raw", orientation=None, max_pixels=10**8)
    assert full.shape == (480, 640, 3)
    a, b = resize_to(half, 200).astype(float) / 257, resize_to(full, 200).astype(float) / 257
    assert a.shape == b.shape == (150, 200, 3)
    # In 8-bit grey levels: no shift of brightness or colour; detail differs a little (binning vs demosaic).
    assert np.abs((a - b).mean(axis=(0, 1))).max() < 1.0 and np.abs(a - b).mean() < 5.0  # measured 0.6 and 3.6
