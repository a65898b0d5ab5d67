"""Generate a folder of synthetic captures with ground truth: the test and demo data set.

The folder mimics a real dump: two cameras, a burst, RAW+JPEG pairs, exact copies in a backup
folder, re-encoded/resized copies in ``web/``, broken files in ``broken/`` and one valid capture
with a hostile file name. The truth (:class:`SynthTruth`) is returned, never written in the folder.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path

import cv2
import numpy as np

from rainset.synth.rain import RAIN_TYPES, add_rain
from rainset.synth.scene import render_scene
from rainset.synth.writers import SynthExif, encode_jpeg, write_dng, write_jpeg

HOSTILE_NAME = "pluie «nuit» d'orage ☔ #1.jpg"
_CAMERAS = (  # folder, make, model, serial, lens, offset, home GPS (lat, lon, alt), file name pattern
    ("cam-a", "Nimbus", "Nimbus N1", "NB0012345", "Nimbus 24-70mm F2.8", "+01:00", (45.7640, 4.8357, 170.0),
     "IMG_{:04d}.jpg"),
    ("cam-b", "Cirrus", "Cirrus X2", "CX-98765-B", "Cirrus 35mm F1.8", "-07:00", (47.6062, -122.3321, 56.0),
     "DSC{:05d}.JPG"),
)
_SHORT_EXPOSURES = (1 / 1000, 1 / 500, 1 / 250, 1 / 125, 1 / 60)
_LONG_EXPOSURES = (1 / 30, 1 / 15, 1 / 8)
_BASE_TIME = datetime(2023, 10, 14, 6, 0, 0)


@dataclass(frozen=True)
class SynthFile:
    """One file of a generated data set and what ingest should make of it."""

    path: str
    kind: str
    rain_type: str | None
    scene_id: int | None
    burst_id: int | None
    duplicate_of: str | None
    expected_reject: str | None
    serial: str | None
    capture_time: str | None


@dataclass(frozen=True)
class SynthTruth:
    """The ground truth of a generated data set: its root folder and every file in it."""

    root: str
    files: tuple[SynthFile, ...]

    def to_json(self) -> str:
        """Serialise to a JSON string (UTF-8 text, non-ASCII file names kept as is)."""
        return json.dumps({"root": self.root, "files": [asdict(f) for f in self.files]},
                          ensure_ascii=False, indent=1)

    @classmethod
    def from_json(cls, text: str) -> "SynthTruth":
        """Parse the output of :meth:`to_json`."""
        data = json.loads(text)
        return cls(root=data["root"], files=tuple(SynthFile(**f) for f in data["files"]))

    def by_kind(self, kind: str) -> list[SynthFile]:
        """The files of one kind, in generation order."""
        return [f for f in self.files if f.kind == kind]


@dataclass(frozen=True)
class _Shot:
    index: int
    camera: int
    rain_type: str
    scene_id: int
    burst_id: int | None
    exif: SynthExif


def _make_exif(cam: int, when: datetime, rng: np.random.Generator, rain_type: str) -> SynthExif:
    _, make, model, serial, lens, offset, home, _ = _CAMERAS[cam]
    pool = _LONG_EXPOSURES if rain_type == "streak" else _SHORT_EXPOSURES
    gps = None
    if cam == 0 or rng.random() < 0.5:
        gps = (round(home[0] + rng.uniform(-0.02, 0.02), 6), round(home[1] + rng.uniform(-0.02, 0.02), 6),
               round(home[2] + rng.uniform(-5, 5), 1))
    return SynthExif(make=make, model=model, serial=serial, lens=lens, capture_time=when,
                     subsec=f"{int(rng.integers(0, 1000)):03d}", offset=offset,
                     exposure_time=float(pool[int(rng.integers(len(pool)))]),
                     f_number=float(rng.choice([1.8, 2.8, 4.0, 5.6, 8.0])),
                     iso=int(rng.choice([100, 200, 400, 800, 1600, 3200])),
                     focal_length=float(rng.choice([24.0, 35.0, 50.0, 70.0])), gps=gps)


def _plan_shots(n_captures: int, bursts: int, burst_len: int, seed: int) -> list[_Shot]:
    """Decide every distinct shot: camera, rain type, scene, burst, EXIF. Bursts go to cam-b."""
    if bursts * burst_len > n_captures:
        raise ValueError(f"{bursts} bursts of {burst_len} frames do not fit in {n_captures} captures")
    rng = np.random.default_rng([seed, 1])
    singles = n_captures - bursts * burst_len
    slots: list[int | None] = [None] * singles + [b for b in range(bursts) for _ in range(burst_len)]
    shots: list[_Shot] = []
    when = _BASE_TIME + timedelta(days=int(seed % 300))
    scene = -1
    for i, burst in enumerate(slots):
        first_of_burst = burst is not None and (i == singles or slots[i - 1] != burst)
        if burst is None or first_of_burst:
            scene += 1
            when += timedelta(minutes=float(rng.uniform(2, 40)))
            rain_type = RAIN_TYPES[(scene + seed) % len(RAIN_TYPES)]
        else:
            when += timedelta(seconds=float(rng.uniform(1, 3)))
        cam = 1 if burst is not None else int(i % 3 == 2)
        exif = _make_exif(cam, when.replace(microsecond=0), rng, rain_type)
        shots.append(_Shot(i, cam, rain_type, scene, burst, exif))
    return shots


def _render_shot(shot: _Shot, seed: int, size: tuple[int, int]) -> np.ndarray:
    width, height = size
    clean = render_scene(np.random.default_rng([seed, 2, shot.scene_id]), width, height)
    rng = np.random.default_rng([seed, 3, shot.index])
    if shot.burst_id is not None:  # a hand-held burst: the frame shifts by a few pixels
        shift = np.float32([[1, 0, rng.uniform(-4, 4)], [0, 1, rng.uniform(-3, 3)]])
        clean = cv2.warpAffine(clean, shift, (width, height), borderMode=cv2.BORDER_REFLECT)
    return add_rain(clean, shot.rain_type, rng, exposure_time=shot.exif.exposure_time)


def _capture_paths(shots: list[_Shot], hostile: int) -> dict[int, str]:
    """File path of every shot: camera folder and numbering, the hostile name for one of them."""
    counters = [0] * len(_CAMERAS)
    paths: dict[int, str] = {}
    for shot in shots:
        folder, pattern = _CAMERAS[shot.camera][0], _CAMERAS[shot.camera][7]
        counters[shot.camera] += 1
        number = 100 * (shot.camera + 1) + counters[shot.camera]
        paths[shot.index] = f"phone/{HOSTILE_NAME}" if shot.index == hostile else f"{folder}/{pattern.format(number)}"
    return paths


def _entry(path: str, kind: str, shot: _Shot | None, **extra: object) -> SynthFile:
    fields: dict[str, object] = dict(rain_type=None, scene_id=None, burst_id=None, duplicate_of=None,
                                     expected_reject=None, serial=None, capture_time=None)
    if shot is not None:
        fields.update(rain_type=shot.rain_type, scene_id=shot.scene_id, burst_id=shot.burst_id,
                      serial=shot.exif.serial, capture_time=shot.exif.iso_time)
    fields.update(extra)
    return SynthFile(path=path, kind=kind, **fields)  # type: ignore[arg-type]


def _write_corrupt(root: Path, seed: int, size: tuple[int, int], exif: SynthExif) -> list[SynthFile]:
    rng = np.random.default_rng([seed, 4])
    (root / "broken").mkdir(parents=True, exist_ok=True)
    out: list[SynthFile] = []
    rainy = add_rain(render_scene(rng, *size), "heavy", rng)
    data = encode_jpeg(rainy, exif)
    (root / "broken/truncated.jpg").write_bytes(data[: int(len(data) * 0.6)])
    out.append(_entry("broken/truncated.jpg", "corrupt", None, expected_reject="truncated"))
    (root / "broken/empty.jpg").write_bytes(b"")
    out.append(_entry("broken/empty.jpg", "corrupt", None, expected_reject="empty-file"))
    (root / "broken/IMG_9999.CR2").write_bytes(rng.integers(0, 256, 48_000, dtype=np.uint8).tobytes())
    out.append(_entry("broken/IMG_9999.CR2", "corrupt", None, expected_reject="decode-failed"))
    write_jpeg(root / "broken/grey.jpg", np.full((size[1], size[0], 3), 128, np.uint8), exif)
    out.append(_entry("broken/grey.jpg", "corrupt", None, expected_reject="blank-frame"))
    (root / "broken/notes.txt").write_text("rain log: light drizzle all morning, heavier after 9.\n",
                                           encoding="utf-8")
    out.append(_entry("broken/notes.txt", "corrupt", None, expected_reject="unsupported-format"))
    return out


def _write_near_duplicate(root: Path, src: str, rgb: np.ndarray, exif: SynthExif, k: int) -> str:
    h, w = rgb.shape[:2]
    stem = Path(src).stem
    if k % 2 == 0:  # resized to half, EXIF stripped (as a web upload)
        img = cv2.resize(rgb, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
        rel, keep = f"web/{stem}_small.jpg", None
    else:  # centre crop to 90 %, EXIF kept
        dy, dx = h // 20, w // 20
        img = np.ascontiguousarray(rgb[dy:h - dy, dx:w - dx])
        rel, keep = f"web/{stem}_crop.jpg", exif
    (root / rel).write_bytes(encode_jpeg(img, keep, quality=70))
    return rel


def generate_dataset(out_dir: str | os.PathLike[str], n_captures: int = 60, *, seed: int = 0,
                     size: tuple[int, int] = (640, 480), raw_pairs: int = 4, bursts: int = 2,
                     burst_len: int = 3, near_duplicates: int = 4, exact_copies: int = 2,
                     corrupt: bool = True) -> SynthTruth:
    """Write a synthetic capture folder and return its ground truth.

    Args:
        out_dir: destination folder (created; existing files with the same names are overwritten).
        n_captures: distinct shots, burst frames included. With ``corrupt`` one of them is written
            under a hostile name (:data:`HOSTILE_NAME`, kind ``capture``).
        seed: the data set is a pure function of the arguments: same seed, same bytes.
        size: (width, height) of the captures.
        raw_pairs: captures that also get a DNG twin (same folder and stem).
        bursts: number of bursts (cam-b, frames 1–3 s apart, same serial).
        burst_len: frames per burst.
        near_duplicates: q70 re-encodes of captures, resized or cropped, in ``web/``.
        exact_copies: byte-identical copies of captures in ``backup/``.
        corrupt: also write the broken files of ``broken/`` and the hostile-name capture.

    Returns:
        The truth: one :class:`SynthFile` per file written, paths relative to ``out_dir``.

    Raises:
        ValueError: when the bursts, pairs or copies need more single captures than there are.
    """
    root = Path(out_dir)
    shots = _plan_shots(n_captures, bursts, burst_len, seed)
    singles = [s for s in shots if s.burst_id is None]
    if max(raw_pairs, near_duplicates, exact_copies) + int(corrupt) > len(singles):
        raise ValueError(f"not enough single captures ({len(singles)}) for the pairs and copies asked")
    hostile = singles[-1].index if corrupt else -1
    paths = _capture_paths(shots, hostile)
    plain = [s.index for s in singles if s.index != hostile]
    cam_a = [i for i in plain if shots[i].camera == 0]
    pairs = set((cam_a if raw_pairs <= len(cam_a) else plain)[:raw_pairs])
    copies = (plain[1::3] + plain[0::3] + plain[2::3])[:exact_copies]
    near = (plain[2::3] + plain[0::3] + plain[1::3])[:near_duplicates]
    files: list[SynthFile] = []
    kept: dict[int, np.ndarray] = {}
    for shot in shots:
        rel = paths[shot.index]
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        rgb = _render_shot(shot, seed, size)
        write_jpeg(root / rel, rgb, shot.exif)
        files.append(_entry(rel, "burst" if shot.burst_id is not None else "capture", shot))
        if shot.index in pairs:
            dng = Path(rel).with_suffix(".dng").as_posix()
            write_dng(root / dng, rgb, shot.exif)
            files.append(_entry(dng, "raw-pair", shot, duplicate_of=rel))
        if shot.index in near:
            kept[shot.index] = rgb
    for i in copies:
        rel = f"backup/{Path(paths[i]).name}"
        (root / "backup").mkdir(exist_ok=True)
        shutil.copyfile(root / paths[i], root / rel)
        files.append(_entry(rel, "exact-copy", shots[i], duplicate_of=paths[i]))
    for k, i in enumerate(near):
        (root / "web").mkdir(exist_ok=True)
        rel = _write_near_duplicate(root, paths[i], kept[i], shots[i].exif, k)
        files.append(_entry(rel, "near-duplicate", shots[i], duplicate_of=paths[i]))
    if corrupt:
        files += _write_corrupt(root, seed, size, shots[0].exif)
    return SynthTruth(root=str(root.resolve()), files=tuple(files))


def generate_large_jpegs(out_dir: str | os.PathLike[str], n: int, *, size: tuple[int, int] = (4000, 3000),
                         seed: int = 0, quality: int = 90) -> list[Path]:
    """Write ``n`` distinct large rainy JPEGs with EXIF (for the ingest benchmark).

    Scenes and rain are rendered at half resolution, upscaled, and given full-resolution grain
    so that the files have realistic size and sharpness.

    Args:
        out_dir: destination folder (created).
        n: number of files.
        size: (width, height) of each file.
        seed: base seed; file ``i`` depends only on (seed, i).
        quality: JPEG quality.

    Returns:
        The paths written, in order (``large_0000.jpg``, …).
    """
    root = Path(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    width, height = size
    paths: list[Path] = []
    for i in range(n):
        rng = np.random.default_rng([seed, 5, i])
        rain_type = RAIN_TYPES[i % (len(RAIN_TYPES) - 1)]  # always rainy
        exif = _make_exif(i % 2, _BASE_TIME + timedelta(minutes=7 * i), rng, rain_type)
        small = render_scene(rng, max(2, width // 2), max(2, height // 2))
        small = add_rain(small, rain_type, rng, exposure_time=exif.exposure_time)
        big = cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)
        grain = rng.integers(-4, 5, size=(height, width), dtype=np.int16)
        big = np.clip(big.astype(np.int16) + grain[..., None], 0, 255).astype(np.uint8)
        path = root / f"large_{i:04d}.jpg"
        write_jpeg(path, big, exif, quality=quality)
        paths.append(path)
    return paths
