"""The training configuration: one dataclass, two presets, ``key=value`` overrides.

Every field carries its help text (``metadata["help"]``, listed by :func:`config_table`).
``rainset train nlcl`` takes any field as a ``key=value`` override and prints the resolved config
with ``--show-config``; docs/trainer.md describes every field, and a test fails when it misses one.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field, fields
from typing import Any

from rainset.errors import ConfigError


def _f(default: Any, help: str) -> Any:  # noqa: A002
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run (saved in the run folder and in every checkpoint)."""

    rainy: str = _f("", "folder of rainy training images (any size; random crops are taken)")
    clean: str = _f("", "folder of unpaired clean images (the clean pool)")
    shards: str = _f("", "shards folder or fsspec URL (holding index.json) to read instead of the two folders")
    rainy_labels: str = _f("drizzle,heavy,streak,fog-mixed", "rain types of the rainy stream, read from the shards")
    clean_labels: str = _f("no-rain", "rain types of the clean stream, read from the shards")
    out: str = _f("runs/nlcl", "run folder: config.json, metrics.csv, samples/, checkpoint.pt")
    steps: int = _f(0, "number of optimisation steps (each: one generator and one discriminator update); 0: the "
                       "whole schedule, epochs epochs of max(rainy, clean) images; a smaller budget stops early "
                       "without changing the lr curve")
    epochs: int = _f(210, "epochs of the schedule (released: 200 constant + 10 decay); fewer keep the proportions, "
                          "round(epochs * 10 / 210) (at least 1) of them decaying")
    lr_schedule: str = _f("released", "released (lr constant, then linear decay over the last epochs to lr / "
                                      "(decay + 1): lr/11 for 10) or constant (checkpoints saved before this "
                                      "field existed)")
    batch_size: int = _f(1, "crops per step and per process (DDP: per GPU)")
    crop: int = _f(256, "crop side in pixels (see small_images)")
    small_images: str = _f("squash", "images with a side <= crop: squash (resized to crop x crop, aspect ignored, as "
                                     "released) or upscale (aspect kept, shorter side to crop; checkpoints saved "
                                     "before this field existed); folder input only, shards keep the loader's rule")
    flip: bool = _f(False, "random horizontal flips of the crops (released: none; checkpoints saved before this "
                           "field existed flipped)")
    lr: float = _f(2e-4, "Adam learning rate of every network")
    beta1: float = _f(0.5, "Adam beta1")
    beta2: float = _f(0.999, "Adam beta2")
    gen_channels: int = _f(32, "generator width")
    gen_blocks: int = _f(16, "residual blocks per generator")
    gen_head_relu: bool = _f(False, "ReLU after the generator's first convolution (false: the released NLCL "
                                    "generator; checkpoints saved before this field existed had it)")
    disc_channels: int = _f(64, "channels of the first discriminator block")
    disc_layers: int = _f(3, "PatchGAN depth (downsampling blocks after the first)")
    disc_antialias: bool = _f(True, "discriminator downsamples by stride-1 convolutions + a [1,2,1] binomial blur "
                                    "with stride 2 (the released no_antialias False); false: stride-2 convolutions "
                                    "(checkpoints saved before this field existed)")
    head_dim: int = _f(256, "projection head width and embedding size")
    contrastive: bool = _f(True, "non-local sampling and both contrastive losses (false: the convolution floor)")
    window: int = _f(40, "non-local search window side (see window_span)")
    window_span: str = _f("centres", "what window measures: centres (the range of patch centres, window² candidates, "
                                     "1,600 for 40, anchor centres drawn in [patch, side - patch]: the released "
                                     "search) or pixels (the region's pixel extent, (window - patch + 1)² candidates, "
                                     "anchors anywhere; checkpoints saved before this field existed)")
    patch: int = _f(16, "patch side of the non-local search")
    k_b: int = _f(8, "patches kept on B around each anchor (positives)")
    k_r: int = _f(128, "patches kept on R around each anchor (negatives)")
    anchors: int = _f(1, "anchors per image per step")
    layer_anchors: str = _f("independent", "anchors of the layer-contrastive sampling: independent (B and R each draw "
                                           "their own, as released) or shared (one anchor for both; checkpoints "
                                           "saved before this field existed)")
    layer_features: str = _f("released", "discriminator features of the layer-contrastive loss: released (level 0 "
                                          "the input RGB, level 1 the first conv after its in-place LeakyReLU, level "
                                          "i+1 block i's conv before its IN, as D(x, [0,3,7,11], encode_only=True) "
                                          "holds them) or blocks (level i: block i's output; checkpoints saved before "
                                          "this field existed)")
    layer_levels: tuple[int, ...] = _f((0, 1, 2, 3), "levels of layer_features feeding the layer-contrastive loss "
                                                     "(released: the four the released loss zips with its layers)")
    separate_heads: bool = _f(True, "separate layer-contrastive projection heads for B and for R samples (released); "
                                    "false: one shared set (checkpoints saved before this field existed)")
    tau: float = _f(0.07, "SupCon temperature (symmetric form)")
    asymmetric: bool = _f(False, "asymmetric layer-contrastive loss: tau_b/tau_r and weight_b/weight_r per anchor class")
    asymmetric_form: str = _f("anchor-mean", "how the asymmetric loss pools anchors: anchor-mean (class-weighted "
                                             "mean over all anchors; equal temperatures and weights 1 give exactly "
                                             "the CVPR loss) or class-means (weight_b * mean_B + weight_r * mean_R; "
                                             "checkpoints saved before this field existed)")
    tau_b: float = _f(0.1, "temperature of B (image) anchors, asymmetric form")
    tau_r: float = _f(0.05, "temperature of R (rain) anchors, asymmetric form")
    weight_b: float = _f(1.0, "weight of the B-anchor mean, asymmetric form")
    weight_r: float = _f(1.0, "weight of the R-anchor mean, asymmetric form")
    nce_layers: tuple[int, ...] = _f((0, 2, 4, 8, 12), "G_B layers used by PatchNCE (0: first conv, i: after block "
                                                        "i; the released gen_nce_layers 0,2,4,8,12 index the same "
                                                        "modules of its gen Sequential)")
    nce_locations: int = _f(256, "PatchNCE locations per image")
    nce_sampling: str = _f("nonlocal", "PatchNCE locations: nonlocal (the nce_locations patches nearest to one random "
                                       "anchor, searched with window/patch on the first nce layer's features of the "
                                       "source image, as the released non_localOne) or uniform (random locations; "
                                       "checkpoints saved before this field existed)")
    nce_tau: float = _f(0.07, "PatchNCE temperature")
    nce_identity: bool = _f(True, "PatchNCE identity term on clean images (G_B(C) against C)")
    lambda_gan: float = _f(1.0, "weight of the LSGAN generator loss")
    lambda_layer: float = _f(1.0, "weight of the layer-contrastive loss")
    lambda_location: float = _f(1.0, "weight of the location-contrastive loss")
    lambda_consistency: float = _f(1.0, "weight of the consistency loss mean (B + R - O)^2")
    lambda_sparsity: float = _f(0.1, "weight of the sparsity loss mean |O - B|")
    seed: int = _f(0, "seed of weights, crops, anchors and PatchNCE locations")
    init: str = _f("released", "weight init: released (xavier-normal gain 0.02 for D and the heads, PyTorch's "
                               "default for the generators) or normal (N(0, 0.02) everywhere; checkpoints saved "
                               "before this field existed)")
    d_first: bool = _f(True, "each step updates D before G, as the released code does (the D step runs between "
                             "making B and the generator losses); false: G first (checkpoints saved before this "
                             "field existed)")
    device: str = _f("auto", "auto (CUDA when available), cpu, cuda or cuda:N")
    amp: bool = _f(False, "mixed precision (float16 autocast + GradScaler), opt-in; CUDA only, ignored on CPU "
                          "(released: fp32)")
    workers: int = _f(2, "DataLoader worker processes (0: load in the training process)")
    log_every: int = _f(50, "steps between metric rows in metrics.csv (and TensorBoard)")
    sample_every: int = _f(1000, "steps between sample grids (rainy | derained | rain layer) in samples/")
    ckpt_every: int = _f(1000, "steps between checkpoints (one is always written at the end)")
    max_minutes: float = _f(0.0, "stop (with a checkpoint) after this many minutes; 0: no limit")
    resume: bool = _f(True, "continue from out/checkpoint.pt when it exists")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# Fields that may change between a run and its resumption; every other field must match.
RESUMABLE = frozenset({"steps", "out", "device", "amp", "workers", "log_every", "sample_every", "ckpt_every",
                       "max_minutes", "resume", "rainy", "clean", "shards"})

PRESETS: dict[str, dict[str, Any]] = {
    # The published settings: full model, 256² crops, batch 1, k_B 8 / k_R 128, tau 0.07, Adam 2e-4 (0.5, 0.999).
    "paper": {},
    # About a minute on a CPU (docs/trainer.md measures it): small crops, few blocks, 8 steps, everything logged.
    "cpu-smoke": dict(steps=8, batch_size=2, crop=64, gen_blocks=2, disc_channels=16, head_dim=64, window=32,
                      patch=8, k_b=4, k_r=32, nce_layers=(0, 1, 2), nce_locations=64, device="cpu", workers=0,
                      log_every=1, sample_every=4, ckpt_every=4),
}


def _parse(name: str, kind: Any, text: str) -> Any:
    kind_s = str(kind)
    try:
        if kind_s in ("bool", "<class 'bool'>"):
            low = text.strip().lower()
            if low not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(text)
            return low in ("true", "1", "yes")
        if kind_s in ("int", "<class 'int'>"):
            return int(text)
        if kind_s in ("float", "<class 'float'>"):
            return float(text)
        if kind_s.startswith("tuple"):
            return tuple(int(x) for x in text.replace("(", "").replace(")", "").split(",") if x.strip())
        return text
    except ValueError:
        raise ConfigError(f"config field {name}: cannot read {text!r} as {kind_s}") from None


def make_config(preset: str = "paper", overrides: list[str] | dict[str, Any] | None = None) -> TrainConfig:
    """The preset with ``key=value`` overrides applied, validated.

    Raises:
        ConfigError: unknown preset or field, unreadable value, or inconsistent settings.
    """
    if preset not in PRESETS:
        raise ConfigError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    kinds = {f.name: f.type for f in fields(TrainConfig)}
    values: dict[str, Any] = dict(PRESETS[preset])
    items = overrides.items() if isinstance(overrides, dict) else [_split(o) for o in overrides or []]
    for key, value in items:
        if key not in kinds:
            raise ConfigError(f"unknown config field {key!r} (see docs/trainer.md for the list)")
        values[key] = _parse(key, kinds[key], value) if isinstance(value, str) else value
    cfg = TrainConfig(**values)
    validate(cfg)
    return cfg


def _split(item: str) -> tuple[str, str]:
    if "=" not in item:
        raise ConfigError(f"override {item!r} is not key=value")
    key, value = item.split("=", 1)
    return key.strip(), value


def validate(cfg: TrainConfig) -> None:
    """Raise ConfigError naming the field when a setting cannot work."""
    for name, choices in (("layer_features", ("released", "blocks")), ("init", ("released", "normal")),
                          ("window_span", ("centres", "pixels")), ("layer_anchors", ("independent", "shared")),
                          ("nce_sampling", ("nonlocal", "uniform")), ("lr_schedule", ("released", "constant")),
                          ("small_images", ("squash", "upscale")), ("asymmetric_form", ("anchor-mean", "class-means"))):
        if getattr(cfg, name) not in choices:
            raise ConfigError(f"config field {name}: {getattr(cfg, name)!r} is not {' or '.join(choices)}")
    if cfg.steps < 0:
        raise ConfigError(f"config field steps must be 0 (the whole schedule) or positive, got {cfg.steps}")
    positive = ("epochs", "batch_size", "crop", "gen_channels", "gen_blocks", "disc_channels", "disc_layers",
                "head_dim", "window", "patch", "k_b", "k_r", "anchors", "nce_locations", "log_every",
                "sample_every", "ckpt_every")
    for name in positive:
        if getattr(cfg, name) <= 0:
            raise ConfigError(f"config field {name} must be positive, got {getattr(cfg, name)}")
    for name in ("tau", "tau_b", "tau_r", "nce_tau", "lr"):
        if getattr(cfg, name) <= 0:
            raise ConfigError(f"config field {name} must be positive, got {getattr(cfg, name)}")
    if cfg.contrastive:
        centres = cfg.window_span == "centres"
        extent = cfg.window + cfg.patch - 1 if centres else cfg.window
        if extent > cfg.crop:
            raise ConfigError(f"config field window ({cfg.window}, a {extent}-pixel search region) must fit in "
                              f"crop ({cfg.crop})")
        if centres and 2 * cfg.patch > cfg.crop:
            raise ConfigError(f"config field patch ({cfg.patch}): anchor centres lie in [patch, crop - patch], "
                              f"empty for crop {cfg.crop}")
        if not centres and cfg.patch > cfg.window:
            raise ConfigError(f"config field patch ({cfg.patch}) must not exceed window ({cfg.window})")
        room = cfg.window ** 2 if centres else (cfg.window - cfg.patch + 1) ** 2
        names = ("k_b", "k_r", "nce_locations") if cfg.nce_sampling == "nonlocal" else ("k_b", "k_r")
        for name in names:
            if getattr(cfg, name) > room:
                raise ConfigError(f"config field {name} ({getattr(cfg, name)}) exceeds the {room} patch positions "
                                  f"of a {cfg.window}² window (window_span={cfg.window_span})")
        if not cfg.nce_layers or any(i < 0 or i > cfg.gen_blocks for i in cfg.nce_layers):
            raise ConfigError(f"config field nce_layers {cfg.nce_layers} must name layers 0..{cfg.gen_blocks}")
        top = cfg.disc_layers + 1 if cfg.layer_features == "released" else cfg.disc_layers
        if not cfg.layer_levels or any(i < 0 or i > top for i in cfg.layer_levels):
            raise ConfigError(f"config field layer_levels {cfg.layer_levels} must name levels 0..{top} "
                              f"(layer_features={cfg.layer_features}, disc_layers={cfg.disc_layers})")
    _validate_inputs(cfg)
    if cfg.device not in ("auto", "cpu", "cuda") and not cfg.device.startswith("cuda:"):
        raise ConfigError(f"config field device: {cfg.device!r} is not auto, cpu, cuda or cuda:N")


def label_list(text: str) -> tuple[str, ...]:
    """``"drizzle, heavy"`` → ``("drizzle", "heavy")`` (empty items dropped, order kept)."""
    return tuple(dict.fromkeys(x.strip() for x in text.split(",") if x.strip()))


def _validate_inputs(cfg: TrainConfig) -> None:
    if not cfg.shards:
        return
    if cfg.rainy or cfg.clean:
        raise ConfigError("config fields shards and rainy/clean: give either shards or the two folders, not both")
    rainy, clean = label_list(cfg.rainy_labels), label_list(cfg.clean_labels)
    for name, labels in (("rainy_labels", rainy), ("clean_labels", clean)):
        if not labels:
            raise ConfigError(f"config field {name} names no rain type (comma-separated, e.g. no-rain)")
    both = sorted(set(rainy) & set(clean))
    if both:
        raise ConfigError(f"config fields rainy_labels and clean_labels both name {', '.join(both)}")


# What a field missing from a saved config meant before the field existed (its value then), where
# that differs from today's default: old checkpoints keep their architecture.
LEGACY_VALUES: dict[str, Any] = {"gen_head_relu": True, "disc_antialias": False, "layer_features": "blocks",
                                 "separate_heads": False, "init": "normal", "d_first": False,
                                 "window_span": "pixels", "layer_anchors": "shared", "nce_sampling": "uniform",
                                 "lr_schedule": "constant", "small_images": "upscale", "flip": True,
                                 "asymmetric_form": "class-means"}


def config_from_dict(data: dict[str, Any]) -> TrainConfig:
    """Rebuild a config saved with :meth:`TrainConfig.to_dict` (lists back to tuples).

    A field the saved config lacks takes its :data:`LEGACY_VALUES` value when it has one (the
    behaviour before the field existed), else today's default.
    """
    known = {f.name for f in fields(TrainConfig)}
    values = {k: v for k, v in LEGACY_VALUES.items() if k not in data}
    values.update({k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in known})
    return TrainConfig(**values)


def config_table() -> list[tuple[str, str, str]]:
    """(name, default, help) of every field, in declaration order."""
    return [(f.name, json.dumps(f.default), f.metadata["help"]) for f in fields(TrainConfig)]
