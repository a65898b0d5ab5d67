"""The released NLCL generators (yunguo224/NLCL, ``checkpoints/RealRain``) inside rainset.

The authors ship G_B and G_R as plain ``state_dict`` files (``latest_net_Back.pth``,
``latest_net_Rain.pth``) of their ``Generator(3, 3)``: ``gen.0`` conv 3→C, ``gen.1`` …
``gen.<n>`` residual blocks (``model.0.conv`` and ``model.1.conv``; the norms have no
parameters), ``gen.<n+1>.conv.0`` / ``.conv.3`` (conv–IN–ReLU–conv), ``gen.<n+2>`` conv C→3.
That network is rainset's :class:`~rainset.nlcl.model.Generator` with ``head_relu=False``
(zero padding, biases, instance norm without affine parameters, eps 1e-5), so the weights map
key for key (:func:`rainset_keys`) and compute the same outputs.

:func:`import_released` turns such a pair into a rainset checkpoint (the ``paper`` config, a
freshly initialised discriminator and projection heads, and the source files' sha256s).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rainset.errors import TrainError
from rainset.hashing import sha256_file
from rainset.nlcl.checkpoint import read_torch_file
from rainset.nlcl.config import TrainConfig, make_config
from rainset.nlcl.model import Discriminator, Generator, count_parameters
from rainset.nlcl.train import build_models, save_checkpoint

ORIGIN = "yunguo224/NLCL @ f4b44ac1135766ced93b4256b53fb1e507066c4e, checkpoints/RealRain"

_BLOCK = re.compile(r"gen\.(\d+)\.model\.([01])\.conv\.(weight|bias)")


def is_released_generator(state: Any) -> bool:
    """Whether a loaded object looks like a released generator's state dict (by its keys)."""
    return (isinstance(state, Mapping) and "gen.0.weight" in state
            and all(isinstance(k, str) and k.startswith("gen.") for k in state))


def rainset_keys(blocks: int) -> dict[str, str]:
    """Released key → rainset :class:`Generator` key, for a generator with ``blocks`` residual blocks."""
    keys = {}
    for p in ("weight", "bias"):
        keys[f"gen.0.{p}"] = f"head.0.{p}"
        for i in range(1, blocks + 1):
            keys[f"gen.{i}.model.0.conv.{p}"] = f"blocks.{i - 1}.body.0.{p}"
            keys[f"gen.{i}.model.1.conv.{p}"] = f"blocks.{i - 1}.body.3.{p}"
        keys[f"gen.{blocks + 1}.conv.0.{p}"] = f"tail.0.{p}"
        keys[f"gen.{blocks + 1}.conv.3.{p}"] = f"tail.3.{p}"
        keys[f"gen.{blocks + 2}.{p}"] = f"tail.4.{p}"
    return keys


def check_shapes(state: Mapping[str, Any], mapping: Mapping[str, str], expected: Mapping[str, torch.Tensor],
                 source: str | Path, what: str) -> None:
    """Raise TrainError naming ``source`` and the key when a released tensor does not fit its rainset
    counterpart (``mapping``: released key → rainset key; ``what``: generator or discriminator)."""
    for old, new in mapping.items():
        value = state[old]
        if not isinstance(value, torch.Tensor) or value.shape != expected[new].shape:
            shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            raise TrainError(f"{source}: released {what} key {old} has shape {shape}, "
                             f"expected {tuple(expected[new].shape)}")


def generator_from_released(state: Mapping[str, Any], source: str | Path) -> Generator:
    """A rainset Generator (``head_relu=False``) holding a released generator's weights, in eval mode.

    Raises:
        TrainError: naming ``source``, when keys are missing or unexpected or a shape differs.
    """
    blocks = len({m.group(1) for k in state if (m := _BLOCK.fullmatch(k))})
    weight = state.get("gen.0.weight")
    if not isinstance(weight, torch.Tensor) or weight.dim() != 4 or tuple(weight.shape[1:]) != (3, 3, 3):
        shape = tuple(weight.shape) if isinstance(weight, torch.Tensor) else type(weight).__name__
        raise TrainError(f"{source}: not a released NLCL generator (gen.0.weight is {shape}, expected C×3×3×3)")
    mapping = rainset_keys(blocks)
    missing = sorted(set(mapping) - set(state))
    extra = sorted(set(state) - set(mapping))
    if missing or extra:
        what = "; ".join(filter(None, [f"missing {', '.join(missing[:3])}" if missing else "",
                                       f"unexpected {', '.join(extra[:3])}" if extra else ""]))
        raise TrainError(f"{source}: not a released NLCL generator state dict ({what})")
    gen = Generator(int(weight.shape[0]), blocks, head_relu=False)
    check_shapes(state, mapping, gen.state_dict(), source, "generator")
    gen.load_state_dict({new: state[old].float() for old, new in mapping.items()})
    return gen.eval()


def load_released(path: str | Path) -> Generator:
    """Read a released generator file (e.g. ``latest_net_Back.pth``); TrainError naming it otherwise."""
    state = read_torch_file(path)
    if not is_released_generator(state):
        raise TrainError(f"{path}: not a released NLCL generator state dict (no gen.* keys)")
    return generator_from_released(state, path)


def released_disc_keys(layers: int) -> dict[str, str]:
    """Released ``NLayerDiscriminator`` key → rainset :class:`Discriminator` key (anti-aliased layout).

    The released ``model`` Sequential: 0 conv, 1 LeakyReLU, 2 Downsample; then per block ``n`` of
    1 … ``layers - 1``: conv, IN, LeakyReLU, Downsample; block ``layers``: conv, IN, LeakyReLU;
    last the 1-channel conv. So the convolutions sit at 0, 3, 7, … and the output conv three after
    the last of them (0, 3, 7, 11, 14 for three layers).
    """
    convs = [0] + [3 + 4 * (n - 1) for n in range(1, layers + 1)]
    keys = {}
    for p in ("weight", "bias"):
        for i, index in enumerate(convs):
            keys[f"model.{index}.{p}"] = f"blocks.{i}.0.{p}"
        keys[f"model.{convs[-1] + 3}.{p}"] = f"out.{p}"
    return keys


def discriminator_from_released(state: Mapping[str, Any], source: str | Path) -> Discriminator:
    """A rainset Discriminator (anti-aliased, released features) holding a released
    ``NLayerDiscriminator`` state dict (``define_D(..., 'basic', n_layers, 'instance', no_antialias=False)``).

    Width and depth come from the keys; the blur filters (``model.<i>.filt``) are checked against
    the fixed [1, 2, 1] binomial of :class:`BlurDownsample`, not loaded.

    Raises:
        TrainError: naming ``source``, when keys are missing or unexpected, a shape differs or a
            blur filter is not the binomial one.
    """
    weight = state.get("model.0.weight")
    if not isinstance(weight, torch.Tensor) or weight.dim() != 4 or tuple(weight.shape[1:]) != (3, 4, 4):
        shape = tuple(weight.shape) if isinstance(weight, torch.Tensor) else type(weight).__name__
        raise TrainError(f"{source}: not a released NLCL discriminator (model.0.weight is {shape}, expected C×3×4×4)")
    filters = sorted(k for k in state if k.endswith(".filt"))
    layers = len(filters)
    mapping = released_disc_keys(layers)
    missing = sorted(set(mapping) - set(state))
    extra = sorted(set(state) - set(mapping) - set(filters))
    if layers == 0 or missing or extra:
        what = "; ".join(filter(None, [f"missing {', '.join(missing[:3])}" if missing else "",
                                       f"unexpected {', '.join(extra[:3])}" if extra else "",
                                       "no blur filters (an anti-aliased discriminator has model.<i>.filt)"
                                       if layers == 0 else ""]))
        raise TrainError(f"{source}: not a released anti-aliased NLCL discriminator state dict ({what})")
    disc = Discriminator(int(weight.shape[0]), layers, antialias=True, features="released")
    check_shapes(state, mapping, disc.state_dict(), source, "discriminator")
    for n in range(layers):  # block n's blur is released module 4n + 2
        key, blur = f"model.{4 * n + 2}.filt", disc.blocks[n][-1]
        value = state.get(key)
        if not (isinstance(value, torch.Tensor) and value.shape == blur.filt.shape
                and torch.allclose(value.float(), blur.filt)):
            raise TrainError(f"{source}: released discriminator key {key} is not the [1, 2, 1] binomial blur "
                             f"rainset applies to {blur.channels} channels")
    disc.load_state_dict({new: state[old].float() for old, new in mapping.items()})
    return disc.eval()


def load_released_discriminator(path: str | Path) -> Discriminator:
    """Read a released discriminator file (a ``state_dict``); TrainError naming it otherwise."""
    state = read_torch_file(path)
    if not isinstance(state, Mapping) or "model.0.weight" not in state:
        raise TrainError(f"{path}: not a released NLCL discriminator state dict (no model.0.weight)")
    return discriminator_from_released(state, path)


@dataclass(frozen=True)
class ImportResult:
    """What :func:`import_released` wrote."""

    checkpoint: Path
    back: str
    back_sha256: str
    rain: str
    rain_sha256: str
    gen_channels: int
    gen_blocks: int
    parameters: int

    def to_dict(self) -> dict[str, Any]:
        return {"checkpoint": str(self.checkpoint), "back": self.back, "back_sha256": self.back_sha256,
                "rain": self.rain, "rain_sha256": self.rain_sha256, "gen_channels": self.gen_channels,
                "gen_blocks": self.gen_blocks, "parameters": self.parameters}

    def lines(self) -> list[str]:
        return [f"wrote {self.checkpoint} (paper config, {self.gen_blocks} blocks × {self.gen_channels} channels, "
                f"{self.parameters:,} parameters per generator)",
                f"  G_B from {self.back}  sha256 {self.back_sha256}",
                f"  G_R from {self.rain}  sha256 {self.rain_sha256}"]


def import_released(back: str | Path, rain: str | Path, out: str | Path, overrides: list[str] | None = None) -> ImportResult:
    """Write a rainset checkpoint holding a released G_B (``back``) and G_R (``rain``).

    The checkpoint carries the ``paper`` config (its generator shape taken from the files), the
    two generators, a discriminator and projection heads initialised as a new run would be (so
    ``rainset nlcl train`` can fine-tune from it at step 0), and ``provenance``: the origin and
    the source files' names and sha256s.

    Raises:
        TrainError: either file is not a released generator, or the two differ in shape.
    """
    g_b, g_r = load_released(back), load_released(rain)
    shape_b = (g_b.channels, len(g_b.blocks))
    shape_r = (g_r.channels, len(g_r.blocks))
    if shape_b != shape_r:
        raise TrainError(f"{rain}: its generator is {shape_r[1]} blocks × {shape_r[0]} channels, "
                         f"{back} is {shape_b[1]} × {shape_b[0]}")
    cfg: TrainConfig = make_config("paper", [f"gen_channels={shape_b[0]}", f"gen_blocks={shape_b[1]}",
                                              "gen_head_relu=false", *(overrides or [])])
    if cfg.gen_head_relu:
        raise TrainError("gen_head_relu=true cannot hold the released generators (they have no ReLU after gen.0)")
    models = build_models(cfg)
    models.gen.g_b.load_state_dict(g_b.state_dict())
    models.gen.g_r.load_state_dict(g_r.state_dict())
    back_sha, rain_sha = sha256_file(back), sha256_file(rain)
    provenance = {"origin": ORIGIN, "back": {"file": Path(back).name, "sha256": back_sha},
                  "rain": {"file": Path(rain).name, "sha256": rain_sha}}
    target = Path(out)
    target.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(target, models, cfg, {"released": provenance}, 0, provenance=provenance)
    return ImportResult(target, str(back), back_sha, str(rain), rain_sha, shape_b[0], shape_b[1],
                        count_parameters(g_b))


@torch.inference_mode()
def released_forward(gen: Generator, rgb: np.ndarray, device: str | torch.device = "cpu") -> np.ndarray:
    """One untiled pass as the released test script runs it: H×W×3 RGB uint8 → ``(x / 255 - 0.5) / 0.5``
    → ``gen`` → H×W×3 float32 in the network's [-1, 1] units, unclamped."""
    x = torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1))).float()[None].to(device)
    out, _ = gen((x / 255 - 0.5) / 0.5)
    return out[0].permute(1, 2, 0).float().cpu().numpy()


def released_to_uint8(out: np.ndarray) -> np.ndarray:
    """The released saving path: clamp to [-1, 1], ``(x + 1) / 2 * 255``, cast to uint8 by truncation."""
    return ((np.clip(out, -1, 1) + 1) / 2 * 255).astype(np.uint8)
