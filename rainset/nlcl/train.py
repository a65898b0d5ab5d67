"""NLCL training, top to bottom: config → data → models → loop → checkpoints.

One device: ``rainset train nlcl --rainy R --clean C`` (or :func:`train`). Many GPUs:
``torchrun --nproc_per_node=N -m rainset.nlcl.train --rainy R --clean C key=value …``; each
process trains on its own crops and DistributedDataParallel averages the gradients. On CUDA the
forwards run under float16 autocast with a GradScaler per optimiser.

Each step: D step (LSGAN on clean crops vs the detached B), then G step (G_B, G_R and all
projection heads, one Adam; the discriminator frozen) against the updated D, as the released code
orders them (``d_first``: the D step runs inside the generator side's forward, between making B
and computing the losses; with ``d_first=false`` the G step comes first). Both optimisers hold exactly the parameters they
should: the released code's location-head optimiser never stepped and its layer-B head optimiser
held the layer-R head's parameters.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel as DDP

from rainset.errors import TrainError
from rainset.nlcl.checkpoint import load_checkpoint, pick_device
from rainset.nlcl import shard_input
from rainset.nlcl.config import RESUMABLE, TrainConfig, config_from_dict, make_config
from rainset.nlcl.data import StepBatches, list_images, worker_init, write_image
from rainset.nlcl.model import Discriminator, init_weights, init_xavier
from rainset.nlcl.objective import GeneratorSide, discriminator_loss
from rainset.nlcl.schedule import Schedule, epoch_steps
from rainset.workers import spawn_context

CHECKPOINT = "checkpoint.pt"
METRICS = ("step", "seconds", "step_seconds", "lr", "loss_d", "gan", "consistency", "sparsity", "location", "layer", "total")


@dataclass
class Models:
    """The networks, optimisers and scalers of a run (what a checkpoint holds, plus DDP wrappers)."""

    gen: GeneratorSide
    disc: Discriminator
    opt_g: torch.optim.Adam
    opt_d: torch.optim.Adam
    scaler_g: torch.amp.GradScaler
    scaler_d: torch.amp.GradScaler
    device: torch.device
    amp: bool
    gen_run: torch.nn.Module = field(init=False)
    disc_run: torch.nn.Module = field(init=False)

    def __post_init__(self) -> None:
        self.gen_run, self.disc_run = self.gen, self.disc


@dataclass(frozen=True)
class TrainResult:
    """What a call to :func:`train` did."""

    run_dir: str
    checkpoint: str
    start_step: int
    step: int
    seconds: float
    history: tuple[dict[str, float], ...]
    param_digest: str

    def to_dict(self) -> dict[str, Any]:
        return {"run_dir": self.run_dir, "checkpoint": self.checkpoint, "start_step": self.start_step,
                "step": self.step, "seconds": self.seconds, "last": self.history[-1] if self.history else {},
                "param_digest": self.param_digest}

    def lines(self) -> list[str]:
        """The human-readable summary (``rainset train nlcl``)."""
        last = self.history[-1] if self.history else {}
        losses = ", ".join(f"{k} {v:.4f}" for k, v in last.items() if k not in ("step", "seconds", "step_seconds", "lr"))
        lines = [f"trained steps {self.start_step + 1}..{self.step} in {self.seconds:.1f} s; run folder {self.run_dir}"]
        if losses:
            lines.append(f"  last losses: {losses}")
        lines.append(f"  checkpoint: {self.checkpoint}")
        return lines


def build_models(cfg: TrainConfig, device: torch.device | str = "cpu") -> Models:
    """Networks (seeded by ``cfg.seed``), one Adam for the generator side, one for D."""
    device = torch.device(device)
    torch.manual_seed(cfg.seed)
    disc = Discriminator(cfg.disc_channels, cfg.disc_layers, cfg.disc_antialias, cfg.layer_features)
    if cfg.init == "released":
        init_xavier(disc)
    else:
        init_weights(disc)
    gen = GeneratorSide(cfg, disc)
    gen.to(device), disc.to(device)
    betas = (cfg.beta1, cfg.beta2)
    amp = cfg.amp and device.type == "cuda"
    return Models(gen, disc, torch.optim.Adam(gen.parameters(), cfg.lr, betas=betas),
                  torch.optim.Adam(disc.parameters(), cfg.lr, betas=betas),
                  torch.amp.GradScaler("cuda", enabled=amp), torch.amp.GradScaler("cuda", enabled=amp), device, amp)


def param_digest(*modules: torch.nn.Module) -> str:
    """SHA-256 of every parameter's bytes: equal digests mean bit-identical weights (DDP ranks)."""
    h = hashlib.sha256()
    for mod in modules:
        for p in mod.parameters():
            h.update(p.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def step_generator(seed: int, rank: int, step: int) -> torch.Generator:
    """The CPU generator of anchors and PatchNCE locations for one step of one rank."""
    return torch.Generator().manual_seed(((seed * 1_000_003 + rank) * 1_000_003 + step) % (2 ** 63))


def train_step(m: Models, rainy: torch.Tensor, clean: torch.Tensor, gen: torch.Generator
               ) -> tuple[torch.Tensor, torch.Tensor, dict[str, float]]:
    """One D step and one G step (D first with ``d_first``, else G first); returns B, R (detached)
    and the losses as floats.

    D first, as released: the generator side's forward makes B and R, hands the detached B to the
    D step, and only then computes its losses (so they meet the updated D; B is made once).
    """
    autocast = torch.autocast(m.device.type, dtype=torch.float16, enabled=m.amp)
    d_losses: list[torch.Tensor] = []

    def d_step(fake: torch.Tensor) -> None:
        m.disc.requires_grad_(True)
        d_losses.append(_d_step(m, clean, fake))
        m.disc.requires_grad_(False)

    m.disc.requires_grad_(False)
    with autocast:
        b, r, parts = m.gen_run(rainy, clean, m.disc, gen, d_step if m.gen.cfg.d_first else None)
    m.opt_g.zero_grad(set_to_none=True)
    m.scaler_g.scale(parts["total"]).backward()
    m.scaler_g.step(m.opt_g)
    m.scaler_g.update()
    m.disc.requires_grad_(True)
    if not d_losses:
        with autocast:
            d_losses.append(_d_step(m, clean, b))
    values = {k: float(v.detach()) for k, v in parts.items()}
    values["loss_d"] = float(d_losses[0].detach())
    return b.detach(), r.detach(), values


def _d_step(m: Models, clean: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """LSGAN step of D (forward under the caller's autocast, backward and update outside it)."""
    loss_d = discriminator_loss(m.disc_run, clean, fake)
    with torch.autocast(m.device.type, enabled=False):
        m.opt_d.zero_grad(set_to_none=True)
        m.scaler_d.scale(loss_d).backward()
        m.scaler_d.step(m.opt_d)
        m.scaler_d.update()
    return loss_d


def save_checkpoint(path: Path, m: Models, cfg: TrainConfig, inputs: dict[str, Any], step: int,
                    data: dict[str, Any] | None = None, provenance: dict[str, Any] | None = None) -> None:
    """Write the checkpoint atomically (temporary name, then rename); ``data``: the shard loader's state;
    ``provenance``: where imported weights came from (``rainset nlcl import-released``)."""
    state = {"format": 1, "config": cfg.to_dict(), "inputs": inputs, "step": step, "data": data,
             "gen": m.gen.state_dict(), "disc": m.disc.state_dict(), "opt_g": m.opt_g.state_dict(),
             "opt_d": m.opt_d.state_dict(), "scaler_g": m.scaler_g.state_dict(), "scaler_d": m.scaler_d.state_dict()}
    if provenance is not None:
        state["provenance"] = provenance
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def _resume(path: Path, m: Models, cfg: TrainConfig) -> tuple[int, dict[str, Any] | None]:
    state = load_checkpoint(path, m.device)
    saved = config_from_dict(state["config"]).to_dict()
    differ = [k for k, v in cfg.to_dict().items() if k not in RESUMABLE and saved.get(k) != v]
    if differ:
        raise TrainError(f"{path}: cannot resume, the config differs in {', '.join(differ)} "
                         f"(use another out folder or resume=false)")
    m.gen.load_state_dict(state["gen"])
    m.disc.load_state_dict(state["disc"])
    m.opt_g.load_state_dict(state["opt_g"])
    m.opt_d.load_state_dict(state["opt_d"])
    m.scaler_g.load_state_dict(state["scaler_g"])
    m.scaler_d.load_state_dict(state["scaler_d"])
    return int(state["step"]), state.get("data")


class MetricLog:
    """metrics.csv (cut back to the resumed step) and TensorBoard when it is installed."""

    def __init__(self, run_dir: Path, start_step: int) -> None:
        self.path = run_dir / "metrics.csv"
        kept: list[dict[str, str]] = []
        if self.path.exists() and start_step > 0:
            with self.path.open(newline="") as fh:
                kept = [row for row in csv.DictReader(fh) if int(row["step"]) <= start_step]
        self.fh = self.path.open("w", newline="")
        self.writer = csv.DictWriter(self.fh, fieldnames=METRICS, extrasaction="ignore")
        self.writer.writeheader()
        self.writer.writerows(kept)
        self.tb = None
        try:
            from torch.utils.tensorboard import SummaryWriter  # optional: TensorBoard
            self.tb = SummaryWriter(str(run_dir / "tensorboard"))
        except ImportError:  # TensorBoard is optional
            pass

    def write(self, row: dict[str, float]) -> None:
        self.writer.writerow(row)
        self.fh.flush()
        if self.tb is not None:
            for k, v in row.items():
                if k != "step":
                    self.tb.add_scalar(f"nlcl/{k}", v, int(row["step"]))

    def close(self) -> None:
        self.fh.close()
        if self.tb is not None:
            self.tb.close()


def save_samples(path: Path, rainy: torch.Tensor, b: torch.Tensor, r: torch.Tensor, rows: int = 2) -> None:
    """A PNG grid, one row per image: rainy | derained (B) | rain layer (R), all mapped from [-1, 1]."""
    n = min(rows, rainy.shape[0])
    grid = torch.cat([torch.cat([rainy[i], b[i], r[i]], dim=2) for i in range(n)], dim=1)
    write_image(path, ((grid.float().cpu().clamp(-1, 1) + 1) / 2).permute(1, 2, 0).numpy())


def _distributed() -> tuple[int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() and os.environ.get("RAINSET_DDP_BACKEND") != "gloo" else "gloo"
        dist.init_process_group(backend)
    return (dist.get_rank(), dist.get_world_size()) if world > 1 else (0, 1)


def _out_of_time(cfg: TrainConfig, t0: float, world: int, device: torch.device) -> bool:
    """Whether ``max_minutes`` has run out; with DDP, on any rank (so all ranks stop together)."""
    if cfg.max_minutes <= 0:
        return False
    late = torch.tensor([float(time.perf_counter() - t0 > cfg.max_minutes * 60)], device=device)
    if world > 1:
        dist.all_reduce(late, op=dist.ReduceOp.MAX)
    return bool(late.item())


def _folder_batches(data: StepBatches, cfg: TrainConfig, start: int, device: torch.device
                    ) -> Iterator[tuple[torch.Tensor, torch.Tensor, None]]:
    """The batches of steps ``start + 1 …`` from the two folders (no loader state: they are a function of the step)."""
    loader = torch.utils.data.DataLoader(data, batch_size=None, sampler=range(start + 1, cfg.steps + 1),
                                         num_workers=cfg.workers, worker_init_fn=worker_init,
                                         pin_memory=device.type == "cuda",
                                         # spawn: a forked worker can hang in OpenCV's or OpenMP's thread pool
                                         multiprocessing_context=spawn_context() if cfg.workers > 0 else None)
    for o, c in loader:
        yield o, c, None


def train(cfg: TrainConfig, progress: Callable[[int, int], None] | None = None) -> TrainResult:
    """Train (or resume) NLCL as configured; see the module docstring.

    Raises:
        TrainError: missing inputs, an unreadable or incompatible checkpoint, no CUDA when asked.
    """
    rank, world = _distributed()
    device = pick_device(cfg.device)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    streams = None
    if cfg.shards:
        streams = shard_input.open_streams(cfg, rank, world)
        inputs = streams.inputs(shard_input.source(cfg.shards))
    else:
        rainy, clean = list_images(cfg.rainy, "rainy"), list_images(cfg.clean, "clean")
        inputs = {"rainy": str(Path(cfg.rainy).resolve()), "clean": str(Path(cfg.clean).resolve()),
                  "rainy_images": len(rainy), "clean_images": len(clean), "world_size": world}
    per_epoch = (epoch_steps(len(streams.pairs), cfg.batch_size) if streams is not None
                 else epoch_steps(max(len(rainy), len(clean)), cfg.batch_size, world))
    schedule = Schedule(cfg.lr_schedule, per_epoch, cfg.epochs)
    if cfg.steps == 0:  # the whole schedule
        cfg = dataclasses.replace(cfg, steps=schedule.full_steps)
    inputs["epoch_steps"] = per_epoch
    run_dir = Path(cfg.out)
    ckpt = run_dir / CHECKPOINT
    m = build_models(cfg, device)
    start, data_state = _resume(ckpt, m, cfg) if cfg.resume and ckpt.exists() else (0, None)
    if streams is not None:
        position = shard_input.restore(streams, data_state)
        inputs["loader_resume"] = position.how
        stream = shard_input.batches(streams, cfg, position, device)
    else:
        stream = _folder_batches(StepBatches(rainy, clean, cfg.crop, cfg.batch_size, cfg.seed, rank, cfg.steps + 1,
                                             cfg.flip, cfg.small_images), cfg, start, device)
    if world > 1:
        ids = [device.index] if device.type == "cuda" else None
        m.gen_run, m.disc_run = DDP(m.gen, device_ids=ids), DDP(m.disc, device_ids=ids)
    log = None
    if rank == 0:
        (run_dir / "samples").mkdir(parents=True, exist_ok=True)
        (run_dir / "config.json").write_text(json.dumps({"config": cfg.to_dict(), "inputs": inputs}, indent=2))
        log = MetricLog(run_dir, start)
    t0 = time.perf_counter()
    history: list[dict[str, float]] = []
    step = start
    if progress is not None:  # set up: the bar counts steps from here (each reported once it completes)
        progress(start, cfg.steps)
    for step, (o, c, data_state) in zip(range(start + 1, cfg.steps + 1), stream):
        t_step = time.perf_counter()
        o, c = o.to(device, non_blocking=True), c.to(device, non_blocking=True)
        lr = cfg.lr * schedule.factor(step)
        for opt in (m.opt_g, m.opt_d):
            for group in opt.param_groups:
                group["lr"] = lr
        b, r, values = train_step(m, o, c, step_generator(cfg.seed, rank, step))
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        row = {"step": step, "seconds": round(time.perf_counter() - t0, 4),
               "step_seconds": round(time.perf_counter() - t_step, 4), "lr": lr, **values}
        if step % cfg.log_every == 0 or step == cfg.steps:
            history.append(row)
            if log is not None:
                log.write(row)
        if rank == 0 and step % cfg.sample_every == 0:
            save_samples(run_dir / "samples" / f"step_{step:07d}.png", o, b, r)
        out_of_time = _out_of_time(cfg, t0, world, device)
        if rank == 0 and (step % cfg.ckpt_every == 0 or step == cfg.steps or out_of_time):
            save_checkpoint(ckpt, m, cfg, inputs, step, data_state)
        if progress is not None:
            progress(step, cfg.steps)
        if out_of_time:
            break
    stream.close()  # stops DataLoader workers now rather than at garbage collection
    if log is not None:
        log.close()
    if world > 1:
        dist.barrier()
    return TrainResult(str(run_dir), str(ckpt), start, step, round(time.perf_counter() - t0, 3), tuple(history),
                       param_digest(m.gen, m.disc))


def main(argv: list[str] | None = None) -> None:
    """``python -m rainset.nlcl.train [--preset P] [--rainy R] [--clean C | --shards S] key=value …`` (torchrun)."""
    parser = argparse.ArgumentParser(description="NLCL training (one process of a torchrun job)")
    parser.add_argument("--preset", default="paper")
    parser.add_argument("--rainy")
    parser.add_argument("--clean")
    parser.add_argument("--shards")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args(argv)
    extra = [f"rainy={args.rainy}"] if args.rainy else []
    extra += [f"clean={args.clean}"] if args.clean else []
    extra += [f"shards={args.shards}"] if args.shards else []
    result = train(make_config(args.preset, list(args.overrides) + extra))
    if int(os.environ.get("RANK", "0")) == 0:
        print(json.dumps(result.to_dict(), indent=2))
    if dist.is_initialized():
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
