"""Helpers of the suggestion tests: a small ingested store of generated captures, labels from the truth."""

from __future__ import annotations

from pathlib import Path

from rainset.catalog.db import catalog_session
from rainset.ingest import IngestOptions, ingest
from rainset.demo.labels import truth_by_capture
from rainset.store import Store, init_store
from rainset.synth import SynthTruth, generate_dataset
from tests.manifest_helpers import add_labels


def ingested(root: Path, n: int = 30, db_url: str | None = None) -> tuple[Store, SynthTruth]:
    """A store holding ``n`` generated captures (each rain type at least 5 times for n = 30)."""
    truth = generate_dataset(root / "captures", n, seed=1, raw_pairs=0, near_duplicates=0, exact_copies=0,
                             corrupt=False)
    store = init_store(root / "store", db_url)
    ingest(store, [str(root / "captures")], IngestOptions(workers=1))
    return store, truth


def label_with_truth(store: Store, truth: SynthTruth) -> dict[str, str]:
    """One annotator labels every capture with its true rain type; returns {capture id: rain type}."""
    with catalog_session(store.db_url) as s:
        expected = truth_by_capture(s, truth)
    add_labels(store, {cid: [("ann", rain, [])] for cid, rain in expected.items()})
    return expected
