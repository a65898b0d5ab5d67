"""Generated training folders and the demo stage: a short CPU run and one derained sample."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from rainset.nlcl.data import write_image


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
    from rainset.synth import add_rain, render_scene

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


@dataclass(frozen=True)
class NLCLDemoResult:
    """What the NLCL demo stage did (its part of ``rainset demo --json``)."""

    run_dir: str
    checkpoint: str
    steps: int
    train_seconds: float
    first_loss: float
    last_loss: float
    sample_input: str
    sample_output: str
    psnr_input: float
    psnr_output: float
    data: str = "generated folders"  # or "shards PATH (rainy N, clean M)"

    def to_dict(self) -> dict:
        return asdict(self)

    def lines(self) -> list[str]:
        return [
            f"nlcl: trained the cpu-smoke preset for {self.steps} steps in {self.train_seconds:.1f} s on "
            f"{self.data} (generator loss {self.first_loss:.3f} -> {self.last_loss:.3f}); run folder {self.run_dir}",
            f"nlcl: derained {self.sample_input} -> {self.sample_output} "
            f"(PSNR against the truth {self.psnr_input:.2f} dB as input, {self.psnr_output:.2f} dB derained)",
            f"try:   rainset derain --checkpoint {self.checkpoint} {self.sample_input} --out DIR",
        ]


def demo_stage(base_dir: str | Path, *, steps: int = 6, images: int = 4, seed: int = 0,
               shards: str | Path | None = None) -> NLCLDemoResult:
    """Train the ``cpu-smoke`` preset for a few steps, derain one generated sample (with its truth).

    Args:
        base_dir: folder for the generated images (``nlcl-data/``) and the run (``nlcl-run/``).
        steps: training steps (seconds on a CPU).
        images: generated images per folder.
        seed: seed of the data and the run.
        shards: a shards folder (``rainset shards``): train on its rainy labels against ``no-rain``
            instead of the generated folders.
    """
    from rainset.nlcl.config import make_config
    from rainset.nlcl.derain import derain_files
    from rainset.nlcl.data import read_image
    from rainset.nlcl.evaluate import psnr
    from rainset.nlcl.train import train

    base = Path(base_dir)
    folders = make_folders(base / "nlcl-data", images, (96, 80), seed=seed)
    inputs = dict(shards=str(shards)) if shards else dict(rainy=folders.rainy, clean=folders.clean)
    cfg = make_config("cpu-smoke", dict(**inputs, out=str(base / "nlcl-run"), steps=steps, seed=seed,
                                        sample_every=steps, ckpt_every=steps))
    t0 = time.perf_counter()
    result = train(cfg)
    seconds = time.perf_counter() - t0
    data = "generated folders"
    if shards:
        saved = json.loads((Path(result.run_dir) / "config.json").read_text())["inputs"]
        data = f"shards {shards} (rainy {saved['rainy_samples']}, clean {saved['clean_samples']})"
    sample = Path(folders.rainy) / "0000.png"
    outputs = derain_files(result.checkpoint, [sample], base / "nlcl-derained")
    truth, _ = read_image(Path(folders.truth) / "0000.png")
    rainy, _ = read_image(sample)
    derained, _ = read_image(outputs[0])
    return NLCLDemoResult(run_dir=result.run_dir, checkpoint=result.checkpoint, steps=result.step,
                          train_seconds=round(seconds, 2), first_loss=result.history[0]["total"],
                          last_loss=result.history[-1]["total"], sample_input=str(sample),
                          sample_output=str(outputs[0]), psnr_input=round(psnr(rainy, truth, 1.0), 3),
                          psnr_output=round(psnr(derained, truth, 1.0), 3), data=data)


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
    from datetime import datetime, timedelta

    import cv2

    from rainset.synth import RAIN_TYPES, SynthExif, add_rain, render_scene, write_jpeg

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
    from rainset.catalog.db import catalog_session
    from rainset.ingest import IngestOptions, Provenance, ingest
    from rainset.labels.bulk import set_labels
    from rainset.labels.taxonomy import store_taxonomy
    from rainset.labels.users import add_user
    from rainset.manifests.export import export_manifest
    from rainset.store import init_store

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
