"""Render one manifest sample for a shard: read its original, decode it upright, resize, encode.

Runs in worker processes: :func:`render_sample` takes and returns plain picklable dataclasses and
never raises for a bad sample (it returns a :class:`RenderFailure` the driver turns into an error
naming the sample, or a skip it records).
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import PurePath

import cv2
import fsspec
import numpy as np

from rainset.capture import decode_full, decode_working
from rainset.capture.raster import to_uint8
from rainset.capture.video import VIDEO_ERRORS, decode_frame
from rainset.errors import ConfigError, RejectError
from rainset.hashing import sha256_file
from rainset.imageops import fit_long_side

FORMATS = ("jpg", "png", "tiff16")
_EXT_RE = re.compile(r"[a-z0-9]{1,8}")


@dataclass(frozen=True)
class RenderSettings:
    """How images are rendered (part of the shards' settings)."""

    format: str = "jpg"
    max_side: int | None = None
    quality: int = 95
    with_raw: bool = False
    max_pixels: int = 250_000_000

    def check(self) -> "RenderSettings":
        """Validate; returns self. Raises ConfigError naming the option."""
        if self.format not in FORMATS:
            raise ConfigError(f"--format {self.format!r}: unknown; choose from {', '.join(FORMATS)}")
        if self.max_side is not None and not 16 <= self.max_side <= 65_500:
            raise ConfigError(f"--max-side {self.max_side}: must be between 16 and 65500 pixels")
        if not 1 <= self.quality <= 100:
            raise ConfigError(f"--quality {self.quality}: must be between 1 and 100")
        return self


@dataclass(frozen=True)
class RenderJob:
    """One sample to render: where its original is and what the manifest says about it."""

    sample_id: str
    location: str  # a local path, or an fsspec URL (link-mode files)
    sha256: str
    format: str  # the capture's format: jpeg, png, tiff, raw, heic
    file_name: str
    orientation: int | None
    settings: RenderSettings
    frame_index: int | None = None  # a video frame: ``location`` is the video, decoded at this frame
    frame_pts: float | None = None
    pair: tuple[str, str, str] | None = None  # a pair row: the rainy, clean and mask PNG files (local paths)


@dataclass(frozen=True)
class Rendered:
    """The encoded members of one sample (without its JSON)."""

    sample_id: str
    image_ext: str  # jpg | png | tiff
    image: bytes
    raw_ext: str | None
    raw: bytes | None
    fallback: bool  # tiff16 asked, but the original has 8 bits: written as 8-bit PNG
    extra: tuple[tuple[str, bytes], ...] = ()  # members after the image (a pair: clean.png, mask.png)


@dataclass(frozen=True)
class RenderFailure:
    """A sample that cannot be rendered: ``reason`` is missing | damaged | unreadable | undecodable."""

    sample_id: str
    reason: str
    detail: str


def raw_extension(file_name: str) -> str:
    """The original's extension for its tar member (``IMG_1.DNG`` → ``dng``; odd or none → ``raw``)."""
    ext = PurePath(file_name).suffix.lower().lstrip(".")
    return ext if _EXT_RE.fullmatch(ext) else "raw"


def read_original(location: str) -> bytes:
    """The bytes of an original: a local path or (link mode) an fsspec URL. Raises OSError."""
    if "://" in location:
        with fsspec.open(location, "rb") as fh:
            return fh.read()
    with open(location, "rb") as fh:
        return fh.read()


def encode_image(rgb: np.ndarray, fmt: str, quality: int) -> tuple[str, bytes, bool]:
    """Encode an upright RGB image. Returns (extension, bytes, fell back to 8-bit PNG).

    ``jpg`` and ``png`` are 8-bit (16-bit input keeps its high byte); ``tiff16`` writes a 16-bit
    TIFF for uint16 input and an 8-bit PNG otherwise. OpenCV's encoders add no timestamps, so
    the same pixels give the same bytes.
    """
    if fmt == "tiff16" and rgb.dtype == np.uint16:
        ext, img, params = "tiff", rgb, [cv2.IMWRITE_TIFF_COMPRESSION, 5]  # LZW
    elif fmt == "jpg":
        ext, img, params = "jpg", to_uint8(rgb), [cv2.IMWRITE_JPEG_QUALITY, quality]
    else:
        ext, img, params = "png", to_uint8(rgb), [cv2.IMWRITE_PNG_COMPRESSION, 3]
    ok, buf = cv2.imencode(f".{ext}", np.ascontiguousarray(img[:, :, ::-1]), params)
    if not ok:
        raise RejectError("decode-failed", f"OpenCV could not encode a {img.shape[1]}x{img.shape[0]} {ext}")
    return ext, buf.tobytes(), fmt == "tiff16" and ext == "png"


def decode_upright(data: bytes, job: RenderJob) -> np.ndarray:
    """The upright image to resize. With a ``max_side``, JPEGs are decoded reduced by 2, 4 or 8 in
    libjpeg's DCT domain and RAWs at LibRaw's half size, never below ``max_side``: 2-4x faster, and
    within about one grey level of the full decode after the INTER_AREA resize. Otherwise full size."""
    s = job.settings
    if job.format == "jpeg" and s.max_side:
        return decode_working(data, job.file_name, "jpeg", orientation=job.orientation, max_pixels=s.max_pixels,
                              min_side=s.max_side).image
    return decode_full(data, job.file_name, job.format, orientation=job.orientation, max_pixels=s.max_pixels,
                       min_side=s.max_side)


_VIDEOS_CHECKED: dict[tuple[str, int, float], str] = {}  # (location, size, mtime) -> sha256, per process


def _video_sha256(location: str) -> str:
    """The sha256 of a video, hashed once per process while its size and mtime stay the same
    (a shard holds many frames of one video; re-hashing it per frame would read it again each time)."""
    if "://" in location:
        return sha256_file(location, url=True)
    st = os.stat(location)
    key = (location, st.st_size, st.st_mtime)
    if key not in _VIDEOS_CHECKED:
        _VIDEOS_CHECKED[key] = sha256_file(location)
    return _VIDEOS_CHECKED[key]


def _read_with_digest(location: str) -> tuple[bytes, str]:
    data = read_original(location)
    return data, hashlib.sha256(data).hexdigest()


def _read_checked(job: RenderJob, noun: str, read) -> tuple | RenderFailure:  # noqa: ANN001
    """``read(location)`` → (payload, sha256), or the failure a missing, unreadable or changed source is."""
    try:
        payload, digest = read(job.location)
    except FileNotFoundError:
        return RenderFailure(job.sample_id, "missing", f"{noun} {job.location} does not exist")
    except OSError as exc:
        return RenderFailure(job.sample_id, "unreadable", f"cannot read {job.location}: {exc.strerror or exc}")
    if digest != job.sha256:
        return RenderFailure(job.sample_id, "damaged",
                             f"{job.location} has sha256 {digest[:12]}…, the manifest says {job.sha256[:12]}…")
    return (payload,)


def _render_frame(job: RenderJob) -> Rendered | RenderFailure:
    """Check the video's sha256, decode the one frame (on demand, seeking), resize and encode it."""
    assert job.frame_index is not None
    checked = _read_checked(job, "video", lambda loc: (None, _video_sha256(loc)))
    if isinstance(checked, RenderFailure):
        return checked
    s = job.settings
    try:
        rgb = decode_frame(job.location, job.frame_index, job.frame_pts, max_pixels=s.max_pixels)
        ext, encoded, fallback = encode_image(fit_long_side(rgb, s.max_side), s.format, s.quality)
    except RejectError as exc:
        return RenderFailure(job.sample_id, "undecodable", f"{exc.reason}: {exc.detail}")
    except (cv2.error, *VIDEO_ERRORS) as exc:
        return RenderFailure(job.sample_id, "undecodable", f"{type(exc).__name__}: {exc}")
    return Rendered(job.sample_id, ext, encoded, None, None, fallback)


# The members of a pair sample, in this order after KEY.json: the rainy frame first (the sample's
# image for readers that take one image), then its pseudo-clean target and validity mask.
PAIR_MEMBERS = ("rainy", "clean", "mask")


def _read_png(path: str, grey: bool) -> np.ndarray:
    flags = cv2.IMREAD_GRAYSCALE if grey else cv2.IMREAD_UNCHANGED
    img = cv2.imread(path, flags)
    if img is None:
        raise RejectError("decode-failed", f"OpenCV cannot read {path} as an image")
    if not grey and img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    elif not grey and img.shape[2] == 4:
        img = img[:, :, :3]
    return img


def _fit_mask(mask: np.ndarray, max_side: int | None) -> np.ndarray:
    """The mask at the images' rendered size: a shrunk pixel stays valid (255) only when every source
    pixel under it was valid, so no invalid pixel leaks into the scored area."""
    shrunk = fit_long_side(mask, max_side)
    if shrunk is mask:
        return np.where(mask >= 128, 255, 0).astype(np.uint8)
    return np.where(shrunk >= 255, 255, 0).astype(np.uint8)


def _render_pair(job: RenderJob) -> Rendered | RenderFailure:
    """A pair sample: the rainy, clean and mask PNGs read from the pair set, resized alike, written as
    lossless PNG members ``rainy.png``, ``clean.png``, ``mask.png`` (8- or 16-bit as the files are;
    the mask 8-bit, 255 = valid). ``--format`` and ``--quality`` do not apply: targets stay lossless."""
    assert job.pair is not None
    missing = [p for p in job.pair if not os.path.isfile(p)]
    if missing:
        return RenderFailure(job.sample_id, "missing", f"pair file {missing[0]} does not exist")
    try:
        rainy, clean = (_read_png(p, grey=False) for p in job.pair[:2])
        mask = _read_png(job.pair[2], grey=True)
        if not rainy.shape == clean.shape or rainy.shape[:2] != mask.shape[:2]:
            return RenderFailure(job.sample_id, "damaged",
                                 f"pair files differ in size: rainy {rainy.shape[1]}x{rainy.shape[0]}, clean "
                                 f"{clean.shape[1]}x{clean.shape[0]}, mask {mask.shape[1]}x{mask.shape[0]}")
        members = []
        for name, img in (("rainy", rainy), ("clean", clean), ("mask", None)):
            out = _fit_mask(mask, job.settings.max_side) if img is None else fit_long_side(img, job.settings.max_side)
            ok, buf = cv2.imencode(".png", np.ascontiguousarray(out), [cv2.IMWRITE_PNG_COMPRESSION, 3])
            if not ok:
                raise RejectError("decode-failed", f"OpenCV could not encode the {name} PNG")
            members.append((f"{name}.png", buf.tobytes()))
    except RejectError as exc:
        return RenderFailure(job.sample_id, "undecodable", f"{exc.reason}: {exc.detail}")
    except (cv2.error, MemoryError, ValueError) as exc:
        return RenderFailure(job.sample_id, "undecodable", f"{type(exc).__name__}: {exc}")
    (ext, image), *extra = members
    return Rendered(job.sample_id, ext, image, None, None, False, tuple(extra))


def render_sample(job: RenderJob) -> Rendered | RenderFailure:
    """Read, check (sha256), decode upright, resize and encode one sample (a video frame: see
    :func:`_render_frame`; a pair: :func:`_render_pair`)."""
    if job.pair is not None:
        return _render_pair(job)
    if job.frame_index is not None:
        return _render_frame(job)
    checked = _read_checked(job, "original", _read_with_digest)
    if isinstance(checked, RenderFailure):
        return checked
    data = checked[0]
    s = job.settings
    try:
        ext, encoded, fallback = encode_image(fit_long_side(decode_upright(data, job), s.max_side), s.format, s.quality)
    except RejectError as exc:
        return RenderFailure(job.sample_id, "undecodable", f"{exc.reason}: {exc.detail}")
    except (cv2.error, MemoryError, ValueError) as exc:
        return RenderFailure(job.sample_id, "undecodable", f"{type(exc).__name__}: {exc}")
    if not (s.with_raw and job.format == "raw"):
        return Rendered(job.sample_id, ext, encoded, None, None, fallback)
    raw_ext = raw_extension(job.file_name)
    if raw_ext in (ext, "json"):  # a RAW under an odd name must not collide with the other members
        raw_ext = "raw"
    return Rendered(job.sample_id, ext, encoded, raw_ext, data, fallback)
