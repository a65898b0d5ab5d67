"""A tiny real store for the shards tests: generated captures (JPEG + DNG pairs) ingested, labelled, exported."""

from __future__ import annotations

import hashlib
import tarfile
from pathlib import Path

from sqlalchemy import select

from rainset.catalog.db import open_catalog
from rainset.catalog.models import Capture
from rainset.ingest import IngestOptions, Provenance, ingest
from rainset.manifests.export import export_manifest
from rainset.store import Store, init_store
from rainset.synth import generate_dataset
from tests.manifest_helpers import RAIN, add_labels


def capture_ids(store: Store) -> list[str]:
    catalog = open_catalog(store.db_url)
    with catalog.session() as s:
        ids = sorted(s.scalars(select(Capture.id)))
    catalog.close()
    return ids


def shard_store(root: Path, *, n: int = 8, raw_pairs: int = 2, size: tuple[int, int] = (160, 120),
                db_url: str | None = None, manifest: str = "v1") -> Store:
    """Generate ``n`` captures (``raw_pairs`` of them with a DNG twin), ingest, label all but one, export ``manifest``.

    Labels: two annotators agree on ``RAIN[i % 5]`` for capture i (sorted ids); the last capture stays unlabelled.
    """
    generate_dataset(root / "captures", n, size=size, raw_pairs=raw_pairs, bursts=0, near_duplicates=0,
                     exact_copies=0, corrupt=False)
    store = init_store(root / "store", db_url)
    ingest(store, [str(root / "captures")], IngestOptions(workers=1, provenance=Provenance("tests", "CC0-1.0", "tests")))
    ids = capture_ids(store)
    add_labels(store, {cid: [("ann", RAIN[i % len(RAIN)], []), ("bob", RAIN[i % len(RAIN)], [])]
                       for i, cid in enumerate(ids[:-1])})
    export_manifest(store, manifest, include_unlabelled=True)
    return store


def tar_members(path: Path) -> list[tuple[str, bytes]]:
    """(name, bytes) of every member of a tar, in order."""
    with tarfile.open(path) as tar:
        return [(m.name, tar.extractfile(m).read()) for m in tar.getmembers()]  # type: ignore[union-attr]


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
