"""rainset shards of a redacted version: no shard member carries GPS or the body serial, although the
originals do (JPEGs with that EXIF, written with Pillow's Exif), and RAW originals are not shipped."""

from __future__ import annotations

import json

import pytest

from rainset.errors import ShardsError
from rainset.manifests.export import export_manifest
from rainset.shards.render import RenderSettings
from rainset.shards.writer import ShardOptions, build_shards
from rainset.store import Store
from tests.hf_helpers import BODY_SERIAL, GPS_IFD, exif_of, exif_store
from tests.shards_helpers import tar_members


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Store:
    st = exif_store(tmp_path_factory.mktemp("shards-redact"))
    export_manifest(st, "red", include_unlabelled=True, redact=["gps,serial"])
    return st


def _members(store: Store, name: str) -> dict[str, bytes]:
    out = {}
    for tar in sorted((store.root / "shards" / name).glob("*.tar")):
        out.update(dict(tar_members(tar)))
    return out


@pytest.mark.parametrize("fmt", ["jpg", "png"])
def test_shard_images_of_a_redacted_version_carry_no_gps_or_serial(store: Store, fmt: str) -> None:
    originals = [p.read_bytes() for p in sorted((store.root.parent / "captures").glob("gps_*.jpg"))]
    assert len(originals) == 2 and all(exif_of(d)[1] and exif_of(d)[2].get(BODY_SERIAL) for d in originals)
    build_shards(store, f"red-{fmt}", ShardOptions(RenderSettings(format=fmt)), manifest="red")
    members = _members(store, f"red-{fmt}")
    images = {k: v for k, v in members.items() if k.endswith(f".{fmt}")}
    assert len(images) == 4
    for name, data in images.items():
        ifd0, gps, exif = exif_of(data)
        assert GPS_IFD not in ifd0 and not gps and BODY_SERIAL not in exif, name
        assert b"BODY0" not in data
    for name, data in members.items():
        if name.endswith(".json"):
            meta = json.loads(data)
            assert not {"gps_lat", "gps_lon", "gps_alt", "serial"} & set(meta), name


def test_with_raw_is_refused_for_a_redacted_version(store: Store) -> None:
    with pytest.raises(ShardsError, match=r"redacted \(gps_lat, gps_lon, gps_alt, serial\): --with-raw"):
        build_shards(store, "red-raw", ShardOptions(RenderSettings(with_raw=True)), manifest="red")
    assert not (store.root / "shards" / "red-raw").exists()


def test_shards_of_an_embedding_version_leave_the_image_column_out_of_the_json(store: Store) -> None:
    export_manifest(store, "emb", include_unlabelled=True, images="embed", redact=["gps"])
    build_shards(store, "emb", ShardOptions(RenderSettings(format="jpg", max_side=64)))
    metas = [json.loads(v) for k, v in _members(store, "emb").items() if k.endswith(".json")]
    assert len(metas) == 4 and all("image" not in m and "gps_lat" not in m and "serial" in m for m in metas)
