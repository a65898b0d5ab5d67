"""Real rain layers: rain no renderer of ours drew, tiled onto other backgrounds at camera size.

Two sources of layers (signed RGB, in image units 0..1: what the rain adds to the background):

- **rainy − clean** of paired data (Rain100L, Rain100H in ../shared/fixtures, see SOURCES.md):
  :func:`pair_layer`, :func:`fixture_pair_layers`.
- **the released NLCL rain generator** G_R applied to real rainy photos (RealRain): its output is
  the rain layer R with rainy = B + R in the network's [-1, 1] units, so R/2 in image units
  (:func:`generator_layer`, :func:`realrain_layers`; the user passes ``latest_net_Rain.pth``).

:func:`tile_layer` repeats a layer over a frame **at its own pixel size** (never upscaled, so 1–2 px
streaks stay 1–2 px at 12 MP), from an offset, with mirrored repeats so the seams do not make
edges. :func:`write_real_captures` writes captures like the renderers' writers: each source
frame gets one layer at one offset (its copies reuse those pixels); each burst frame gets the same
layer kind at a different offset and mirror (fresh rain over the same background).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from rainset.synth.depth_rain import write_captures
from rainset.synth.variants import VARIANTS, VariantTruth

RAIN100 = (("mspfn-rain100h/model/test/test_data/R100H/inputcrop/{}.png",
            "mspfn-rain100h/model/test/test_data/R100H/cleancrop/{}.png", ("1", "2", "3", "4", "5"), "rain100h"),
           ("deraincyclegan-rain100l/datasets/{}/trainA/rain-001.png",
            "deraincyclegan-rain100l/datasets/{}/trainB/norain-001.png", ("rainy_Rain100L", "test_rain100L"),
            "rain100l"))
REALRAIN = "nlcl-realrain/datasets/RealRain/valA/Eg{}.JPG"


@dataclass(frozen=True, eq=False)
class RainLayer:
    """One real rain layer: a name, its kind (``rain100h``, ``rain100l``, ``realrain``) and the signed RGB layer."""

    name: str
    kind: str
    layer: np.ndarray  # H×W×3 float32, image units (−1..1), what rain adds


def read_rgb(path: str | os.PathLike[str]) -> np.ndarray:
    """An image file as RGB uint8; ValueError naming it when it cannot be read."""
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError(f"{path}: not a readable image")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def pair_layer(rainy: np.ndarray, clean: np.ndarray, name: str, kind: str) -> RainLayer:
    """rainy − clean of an aligned pair (RGB uint8, same size) as a layer."""
    if rainy.shape != clean.shape:
        raise ValueError(f"{name}: rainy {rainy.shape} and clean {clean.shape} differ in size")
    return RainLayer(name, kind, (rainy.astype(np.float32) - clean.astype(np.float32)) / np.float32(255))


def fixture_pair_layers(fixtures_dir: str | os.PathLike[str]) -> list[RainLayer]:
    """The rainy − clean layers of the fixtures' Rain100H crops 1–5 and Rain100L pairs."""
    root = Path(fixtures_dir)
    out = []
    for rainy, clean, keys, kind in RAIN100:
        for key in keys:
            out.append(pair_layer(read_rgb(root / rainy.format(key)), read_rgb(root / clean.format(key)),
                                  f"{kind}/{key}", kind))
    return out


def generator_layer(rain_generator, rgb: np.ndarray, name: str) -> RainLayer:
    """The rain layer of a real rainy photo (RGB uint8) by the released NLCL G_R (a loaded generator)."""
    from rainset.nlcl.released import released_forward  # heavy: torch, only with the released weights
    out = released_forward(rain_generator, rgb)
    return RainLayer(name, "realrain", (out * np.float32(0.5)).astype(np.float32))


def realrain_layers(fixtures_dir: str | os.PathLike[str], rain_weights: str | os.PathLike[str],
                    images: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7), crop: int | None = None) -> list[RainLayer]:
    """G_R's rain layers of the fixtures' RealRain photos (``valA/EgN.JPG``, 1024×512).

    Args:
        fixtures_dir: ../shared/fixtures.
        rain_weights: the released ``latest_net_Rain.pth``.
        images: which of Eg1..Eg7.
        crop: run G_R on the central ``crop``×``crop`` only (CPU time: a whole photo takes seconds).
    """
    from rainset.nlcl.released import load_released  # heavy: torch, only with the released weights
    gen = load_released(rain_weights)
    out = []
    for n in images:
        rgb = read_rgb(Path(fixtures_dir) / REALRAIN.format(n))
        if crop:
            h, w = rgb.shape[:2]
            y, x = max(0, (h - crop) // 2), max(0, (w - crop) // 2)
            rgb = np.ascontiguousarray(rgb[y:y + crop, x:x + crop])
        out.append(generator_layer(gen, rgb, f"realrain/Eg{n}"))
    return out


def tile_layer(layer: np.ndarray, size: tuple[int, int], offset: tuple[int, int] = (0, 0),
               mirror: int = 0) -> np.ndarray:
    """Repeat ``layer`` over a (width, height) frame at its own pixel size, from ``offset``.

    Repeats alternate with their mirror images (no step at the seams); ``mirror`` (0–3) flips the
    whole pattern left-right (bit 0) and/or up-down (bit 1) — rain keeps falling downwards only
    when bit 1 is clear, so callers use 0 or 1 for streaks.
    """
    w, h = size
    lh, lw = layer.shape[:2]
    src = layer[:, ::-1] if mirror & 1 else layer
    src = src[::-1] if mirror & 2 else src
    block = np.concatenate([src, src[:, ::-1]], axis=1)  # 2·lw wide period, seamless
    block = np.concatenate([block, block[::-1]], axis=0)  # 2·lh tall period
    ox, oy = offset[0] % (2 * lw), offset[1] % (2 * lh)
    reps_x, reps_y = (w + ox) // (2 * lw) + 2, (h + oy) // (2 * lh) + 2
    big = np.tile(block, (reps_y, reps_x, 1))
    return np.ascontiguousarray(big[oy:oy + h, ox:ox + w])


def add_layer(clean: np.ndarray, layer: np.ndarray) -> np.ndarray:
    """``clean`` (RGB uint8) plus a signed layer of the same size, clipped."""
    return np.clip(clean.astype(np.float32) + layer * np.float32(255) + 0.5, 0, 255).astype(np.uint8)


def rain_over(clean: np.ndarray, layer: RainLayer, rng: np.random.Generator) -> np.ndarray:
    """``clean`` with ``layer`` tiled over it from a random offset and left-right mirror."""
    h, w = clean.shape[:2]
    lh, lw = layer.layer.shape[:2]
    offset = (int(rng.integers(0, 2 * lw)), int(rng.integers(0, 2 * lh)))
    return add_layer(clean, tile_layer(layer.layer, (w, h), offset, int(rng.integers(0, 2))))


def write_real_captures(out_dir: str | os.PathLike[str], layers: list[RainLayer], sources: int = 4, *,
                        bursts: int = 4, burst_len: int = 3, size: tuple[int, int] = (4000, 3000), seed: int = 0,
                        variants: tuple[str, ...] = VARIANTS, exif: bool = True,
                        scene_size: tuple[int, int] | None = None) -> VariantTruth:
    """Write camera JPEGs with real rain layers, their copies and bursts (as
    :func:`~rainset.synth.depth_rain.write_depth_captures`); return the truth.

    Source ``k`` and burst ``b`` take layer ``k`` / ``b`` (cycling); a burst's frames take the same
    layer at different offsets and mirrors: fresh rain of one kind over one background. The truth's
    ``rain`` is the layer's name. Exposure time in the EXIF: 1/250 s.
    """
    if not layers:
        raise ValueError("no rain layers given")

    def frame(background: np.ndarray, k: int, rng: np.random.Generator) -> tuple[np.ndarray, float]:
        return rain_over(background, layers[k % len(layers)], rng), 1 / 250

    def burst(background: np.ndarray, b: int, n: int, rng: np.random.Generator) -> list[tuple[np.ndarray, float]]:
        return [(rain_over(background, layers[b % len(layers)], rng), 1 / 250) for _ in range(n)]

    return write_captures(out_dir, frame, burst, [layers[k % len(layers)].name for k in range(sources)],
                          [layers[b % len(layers)].name for b in range(bursts)], burst_len=burst_len, size=size,
                          seed=seed, variants=variants, exif=exif, scene_size=scene_size)
