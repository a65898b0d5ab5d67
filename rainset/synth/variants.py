"""Generated captures with known duplicate relations: the dedupe acceptance data set.

Each *source* frame (a rendered scene with rain) is written once as a camera JPEG with EXIF, then
as the near-copies a real dump holds: resized to 50 %, re-encoded at JPEG q=70, cropped by 3 %,
brightened or darkened by 10 %, rotated by 1°, and re-encoded as PNG (same pixels: an exact
duplicate in another container). The resized, re-encoded, cropped and rotated copies keep the
original's EXIF (a tool that preserves metadata: same DateTimeOriginal and SubSecTimeOriginal);
the brightened, darkened and PNG copies carry none. Bursts are frames of one scene 1–3 s apart
(with sub-seconds) from one camera body, each with its own rain and a small hand-held shift: the
same scene, different exposures, never duplicates. Distractors are unrelated scenes. The truth
says which frame each file shows.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import combinations
from pathlib import Path

import cv2
import numpy as np

from rainset.synth.rain import add_rain
from rainset.synth.scene import render_scene
from rainset.synth.writers import SynthExif, encode_jpeg, write_jpeg

VARIANTS: tuple[str, ...] = ("resize50", "jpeg70", "crop3", "bright+10", "dark-10", "rotate1", "png")
_RAINS = ("drizzle", "heavy", "streak", "fog-mixed")
_BASE = datetime(2024, 3, 2, 8, 0, 0)
KEEP_EXIF: tuple[str, ...] = ("resize50", "jpeg70", "crop3", "rotate1")  # copies that keep the original's EXIF


@dataclass(frozen=True)
class VariantFile:
    """One generated file: its path (relative), the frame it shows and the scene it belongs to.

    ``frame`` is equal for files showing the same frame (duplicates); ``scene`` is equal for files
    of one scene (burst frames with different rain share the scene, not the frame). ``variant``
    is ``original``, one of :data:`VARIANTS`, ``burst`` or ``distractor``.
    """

    path: str
    frame: str
    scene: str
    variant: str
    rain: str = ""  # the rain type or layer drawn (where the writer records it)


@dataclass(frozen=True)
class VariantTruth:
    """The files of a variants data set and the relation of every pair of them."""

    root: str
    files: tuple[VariantFile, ...]

    def relation(self, a: VariantFile, b: VariantFile) -> str:
        """``duplicate`` (same frame), ``same-scene`` (same scene, other frame) or ``none``."""
        if a.frame == b.frame:
            return "duplicate"
        return "same-scene" if a.scene == b.scene else "none"

    def pairs(self) -> dict[tuple[str, str], str]:
        """Relation of every unordered pair of paths that is related (``none`` pairs left out)."""
        out: dict[tuple[str, str], str] = {}
        for a, b in combinations(self.files, 2):
            rel = self.relation(a, b)
            if rel != "none":
                out[tuple(sorted((a.path, b.path)))] = rel  # type: ignore[index]
        return out


def prepare_out_dir(out_dir: str | Path, variants) -> Path:  # noqa: ANN001
    """Check ``variants`` against :data:`VARIANTS` (ValueError naming the unknown ones) and make the
    ``cam``, ``web`` and ``burst`` folders under ``out_dir``."""
    bad = [v for v in variants if v not in VARIANTS]
    if bad:
        raise ValueError(f"unknown variants {bad}; expected some of {VARIANTS}")
    root = Path(out_dir)
    for sub in ("cam", "web", "burst"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    return root


def brightness(rgb: np.ndarray, factor: float) -> np.ndarray:
    """Scale pixel values by ``factor`` (clipped)."""
    return np.clip(rgb.astype(np.float32) * factor + 0.5, 0, 255).astype(np.uint8)


def rotate(rgb: np.ndarray, degrees: float) -> np.ndarray:
    """Rotate about the centre, same size, borders reflected."""
    h, w = rgb.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    return cv2.warpAffine(rgb, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def crop(rgb: np.ndarray, fraction: float) -> np.ndarray:
    """Cut ``fraction`` of the width and height, split between the sides (top-left heavy)."""
    h, w = rgb.shape[:2]
    dy, dx = int(round(h * fraction)), int(round(w * fraction))
    return np.ascontiguousarray(rgb[dy - dy // 2:h - dy // 2, dx - dx // 2:w - dx // 2])


def _exif(serial: str, when: datetime) -> SynthExif:
    """Camera EXIF for an exposure at ``when`` (its milliseconds become SubSecTimeOriginal)."""
    return SynthExif(make="Nimbus", model="Nimbus N1", serial=serial, lens="Nimbus 24-70mm F2.8",
                     capture_time=when.replace(microsecond=0), subsec=f"{when.microsecond // 1000:03d}",
                     offset="+01:00", exposure_time=1 / 250, f_number=4.0,
                     iso=400, focal_length=35.0, gps=None)


def _write_variant(root: Path, stem: str, rgb: np.ndarray, decoded: np.ndarray, variant: str,
                   exif: SynthExif) -> str:
    h, w = rgb.shape[:2]
    if variant == "png":  # the camera JPEG's own pixels in another container
        rel = f"web/{stem}_png.png"
        cv2.imwrite(str(root / rel), cv2.cvtColor(decoded, cv2.COLOR_RGB2BGR))
        return rel
    img = {"resize50": lambda: cv2.resize(rgb, (w // 2, h // 2), interpolation=cv2.INTER_AREA),
           "jpeg70": lambda: rgb, "crop3": lambda: crop(rgb, 0.03),
           "bright+10": lambda: brightness(rgb, 1.1), "dark-10": lambda: brightness(rgb, 0.9),
           "rotate1": lambda: rotate(rgb, 1.0)}[variant]()
    rel = f"web/{stem}_{variant}.jpg"
    (root / rel).write_bytes(encode_jpeg(img, exif if variant in KEEP_EXIF else None,
                                         quality=70 if variant == "jpeg70" else 90))
    return rel


def generate_variants(out_dir: str | os.PathLike[str], sources: int = 8, *, bursts: int = 3, burst_len: int = 3,
                      distractors: int = 8, size: tuple[int, int] = (480, 360), seed: int = 0,
                      variants: tuple[str, ...] = VARIANTS) -> VariantTruth:
    """Write originals, their near-copies, bursts and distractors; return the truth.

    Args:
        out_dir: destination folder (created).
        sources: source frames; each gets one file per entry of ``variants``.
        bursts: bursts of ``burst_len`` frames (one camera body, 1–3 s apart, different rain).
        burst_len: frames per burst.
        distractors: unrelated single frames.
        size: (width, height) of originals.
        seed: the data set is a pure function of the arguments.
        variants: which near-copies to write per source (subset of :data:`VARIANTS`).

    Returns:
        VariantTruth with one entry per file written (paths relative to ``out_dir``).
    """
    root = prepare_out_dir(out_dir, variants)
    w, h = size
    files: list[VariantFile] = []
    when = _BASE + timedelta(days=seed % 200)
    for k in range(sources + distractors):
        rng = np.random.default_rng([seed, 11, k])
        rgb = add_rain(render_scene(rng, w, h), _RAINS[k % len(_RAINS)], rng)
        when += timedelta(minutes=10)
        stem = f"src{k:03d}" if k < sources else f"other{k:03d}"
        rel = f"cam/{stem}.jpg"
        exif = _exif("NB0000001", when)
        write_jpeg(root / rel, rgb, exif)
        files.append(VariantFile(rel, stem, stem, "original" if k < sources else "distractor"))
        if k >= sources:
            continue
        decoded = cv2.cvtColor(cv2.imread(str(root / rel), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        for v in variants:
            files.append(VariantFile(_write_variant(root, stem, rgb, decoded, v, exif), stem, stem, v))
    for b in range(bursts):
        rng = np.random.default_rng([seed, 12, b])
        clean = render_scene(rng, w, h)
        when += timedelta(minutes=10)
        gaps = np.random.default_rng([seed, 13, b]).uniform(1.0, 3.0, burst_len)  # own stream: rain unchanged
        shot = when
        for f in range(burst_len):
            shift = np.float32([[1, 0, rng.uniform(-3, 3)], [0, 1, rng.uniform(-2, 2)]])
            moved = cv2.warpAffine(clean, shift, (w, h), borderMode=cv2.BORDER_REFLECT)
            rgb = add_rain(moved, _RAINS[(b + f) % len(_RAINS)], rng)
            rel = f"burst/b{b:02d}_{f}.jpg"
            write_jpeg(root / rel, rgb, _exif("NB0000002", shot))
            shot += timedelta(seconds=float(gaps[f]))
            files.append(VariantFile(rel, f"b{b:02d}_{f}", f"burst{b:02d}", "burst"))
    return VariantTruth(root=str(root.resolve()), files=tuple(files))
