"""The NLCL stage of ``rainset demo``: a short CPU training run and one derained sample.

Imports torch (through the trainer): ``rainset.demo`` imports it only when the run asks to train.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from rainset.demo.training_data import make_folders
from rainset.nlcl.config import make_config
from rainset.nlcl.data import read_image
from rainset.nlcl.derain import derain_files
from rainset.nlcl.evaluate import psnr
from rainset.nlcl.train import train


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
