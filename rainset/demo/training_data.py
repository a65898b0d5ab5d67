"""Generated training data: rainy/clean image folders and labelled stores, for the NLCL demo stage,
the tests and the benchmarks.

:func:`make_folders` writes rendered scenes as PNG files (no store); :func:`labelled_store` builds a
store through the public stage functions: generate captures (``rainset.synth``), ``ingest``, bulk
labels, ``export_manifest``. Imports torch (through ``rainset.nlcl.data``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path

import cv2
import numpy as np

from rainset.catalog.db import catalog_session
from rainset.ingest import IngestOptions, Provenance, ingest
from rainset.labels.bulk import set_labels
from rainset.labels.taxonomy import store_taxonomy
from rainset.labels.users import add_user
from rainset.manifests.export import export_manifest
from rainset.nlcl.data import write_image
from rainset.store import init_store
from rainset.synth import RAIN_TYPES, SynthExif, add_rain, render_scene, write_jpeg


@dataclass(frozen=True)
class SynthFolders:
    """Folders written by :func:`make_folders`: rainy inputs, their clean truth (same names), and an
    unpaired clean pool rendered from other scenes."""

    rainy: str
    truth: str
    clean: str
    count: int


def make_folders(base: str | Path, n: int, size: tuple[int, int] = (160, 120), *, seed: int = 0,
                 rain_types: tuple[str, ...] = ("drizzle", "heavy", "streak")) -> SynthFolders:
    """Render ``n`` rainy scenes (with truth) and ``n`` other clean scenes as PNG files.

    Args:
        base: parent folder; ``rainy/``, ``truth/`` and ``clean/`` are created inside it.
        n: images per folder.
        size: (width, height) of each image.
        seed: the data is a pure function of it.
        rain_types: rain types cycled over the rainy images.
    """
    root = Path(base)
    w, h = size
    rng = np.random.default_rng(seed)
    for i in range(n):
        scene = render_scene(rng, w, h)
        rainy = add_rain(scene, rain_types[i % len(rain_types)], rng)
        write_image(root / "rainy" / f"{i:04d}.png", rainy.astype(np.float32) / 255)
        write_image(root / "truth" / f"{i:04d}.png", scene.astype(np.float32) / 255)
        write_image(root / "clean" / f"{i:04d}.png", render_scene(rng, w, h).astype(np.float32) / 255)
    return SynthFolders(str(root / "rainy"), str(root / "truth"), str(root / "clean"), n)


RAINY_TYPES: tuple[str, ...] = ("drizzle", "heavy", "streak", "fog-mixed")


@dataclass(frozen=True)
class LabelledStore:
    """A store built by :func:`labelled_store`: generated captures, ingested, labelled, exported."""

    store: str
    manifest: str
    counts: dict[str, int]  # captures per rain type

    def to_dict(self) -> dict:
        return asdict(self)


def _write_captures(folder: Path, rain_type: str, n: int, sizes: tuple[tuple[int, int], ...], seed: int) -> None:
    """``n`` JPEGs of generated scenes with ``rain_type`` rain; the camera model names the rain type so a
    label filter can pick them (``model = 'synth-drizzle'``). Scenes render at half size and are upscaled."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        rng = np.random.default_rng([seed, RAIN_TYPES.index(rain_type), i])
        w, h = sizes[i % len(sizes)]
        small = add_rain(render_scene(rng, max(2, w // 2), max(2, h // 2)), rain_type, rng)
        exif = SynthExif(make="Synth", model=f"synth-{rain_type}", serial=f"S{seed}", lens="synth 35mm",
                         capture_time=datetime(2024, 5, 1) + timedelta(minutes=len(RAIN_TYPES) * i + seed),
                         subsec="000", offset="+00:00", exposure_time=1 / 250, f_number=4.0, iso=200,
                         focal_length=35.0, gps=None)
        write_jpeg(folder / f"{rain_type}_{i:04d}.jpg", cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR),
                   exif, quality=92)


def labelled_store(base: str | Path, counts: dict[str, int], *, sizes: tuple[tuple[int, int], ...] = ((160, 120),),
                   name: str = "v1", seed: int = 0, workers: int = 1, train_only: bool = False) -> LabelledStore:
    """Generate captures per rain type, ingest them into a new store at ``base/store``, label each one
    with its rain type (bulk labels of a ``curator``), and export the manifest version ``name``.

    Args:
        counts: captures per rain type, e.g. ``{"drizzle": 4, "no-rain": 4}`` (keys from the default taxonomy).
        sizes: (width, height) cycled over each type's captures.
        train_only: put every capture in the train split (ratios 1/0/0).
    """
    root = Path(base)
    for rain_type, n in counts.items():
        _write_captures(root / "captures" / rain_type, rain_type, n, sizes, seed)
    store = init_store(root / "store")
    ingest(store, [str(root / "captures")],
           IngestOptions(workers=workers, provenance=Provenance("synth", "CC0-1.0", "rainset")))
    tax = store_taxonomy(store)
    with catalog_session(store.db_url) as s:
        add_user(s, "curator", "admin")
        for rain_type in counts:
            set_labels(s, rain_type, f"model = 'synth-{rain_type}'", "curator", taxonomy=list(tax.rain_types),
                       taxonomy_version=tax.version)
    ratios = (("train", 1.0), ("validation", 0.0), ("test", 0.0)) if train_only else None
    export_manifest(store, name, **({"ratios": ratios} if ratios else {}))
    return LabelledStore(str(store.root), name, dict(counts))
