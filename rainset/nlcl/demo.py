"""Generated training folders and the demo stage: a short CPU run and one derained sample."""

from __future__ import annotations

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

    def to_dict(self) -> dict:
        return asdict(self)

    def lines(self) -> list[str]:
        return [
            f"nlcl: trained the cpu-smoke preset for {self.steps} steps in {self.train_seconds:.1f} s "
            f"(generator loss {self.first_loss:.3f} -> {self.last_loss:.3f}); run folder {self.run_dir}",
            f"nlcl: derained {self.sample_input} -> {self.sample_output} "
            f"(PSNR against the truth {self.psnr_input:.2f} dB as input, {self.psnr_output:.2f} dB derained)",
            f"try:   rainset derain --checkpoint {self.checkpoint} {self.sample_input} --out DIR",
        ]


def demo_stage(base_dir: str | Path, *, steps: int = 6, images: int = 4, seed: int = 0) -> NLCLDemoResult:
    """Train the ``cpu-smoke`` preset for a few steps on generated rainy/clean crops, derain one sample.

    Args:
        base_dir: folder for the generated images (``nlcl-data/``) and the run (``nlcl-run/``).
        steps: training steps (seconds on a CPU).
        images: generated images per folder.
        seed: seed of the data and the run.
    """
    from rainset.nlcl.config import make_config
    from rainset.nlcl.derain import derain_files
    from rainset.nlcl.data import read_image
    from rainset.nlcl.evaluate import psnr
    from rainset.nlcl.train import train

    base = Path(base_dir)
    folders = make_folders(base / "nlcl-data", images, (96, 80), seed=seed)
    cfg = make_config("cpu-smoke", dict(rainy=folders.rainy, clean=folders.clean, out=str(base / "nlcl-run"),
                                        steps=steps, seed=seed, sample_every=steps, ckpt_every=steps))
    t0 = time.perf_counter()
    result = train(cfg)
    seconds = time.perf_counter() - t0
    sample = Path(folders.rainy) / "0000.png"
    outputs = derain_files(result.checkpoint, [sample], base / "nlcl-derained")
    truth, _ = read_image(Path(folders.truth) / "0000.png")
    rainy, _ = read_image(sample)
    derained, _ = read_image(outputs[0])
    return NLCLDemoResult(run_dir=result.run_dir, checkpoint=result.checkpoint, steps=result.step,
                          train_seconds=round(seconds, 2), first_loss=result.history[0]["total"],
                          last_loss=result.history[-1]["total"], sample_input=str(sample),
                          sample_output=str(outputs[0]), psnr_input=round(psnr(rainy, truth, 1.0), 3),
                          psnr_output=round(psnr(derained, truth, 1.0), 3))
