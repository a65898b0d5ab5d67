"""Hashes: perceptual and pixel hashes of a working frame, and the sha256 of a file."""

from __future__ import annotations

import hashlib
import os

import cv2
import imagehash
import numpy as np
from PIL import Image

from rainset.records import Frame, Hashes

THUMB_SIZE = (64, 48)  # (width, height)
PIXEL_HASH_SIZE = 32
# Every hash is taken from one copy of the working frame shrunk to about this long side
# (INTER_AREA, integer factor): pHash looks at 32x32 and dHash at 9x8, so nothing is lost, and
# shrinking once cut hashing from ~9 ms to ~1.3 ms per 12-MP capture (docs/benchmarks.md).
HASH_SIDE = 256
FILE_CHUNK = 1 << 20


def sha256_file(path: str | os.PathLike[str], *, url: bool = False) -> str:
    """The sha256 (hex) of a file's bytes, read in 1-MiB chunks; ``url``: ``path`` is an fsspec URL."""
    h = hashlib.sha256()
    if url:
        import fsspec  # heavy (asyncio; ~0.25 s of every ingest worker's start-up): only URLs need it

        opener = fsspec.open(str(path), "rb")
    else:
        opener = open(path, "rb")
    with opener as fh:
        while chunk := fh.read(FILE_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _grey(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image


def _shrink(image: np.ndarray, side: int) -> np.ndarray:
    """Shrink by the integer factor that brings the long side closest above ``side``.

    An integer INTER_AREA factor takes OpenCV's block-average fast path (0.8 ms on a
    1000x750 frame against 2.8 ms for an arbitrary size).
    """
    factor = max(image.shape[:2]) // side
    if factor < 2:
        return image
    return cv2.resize(image, None, fx=1 / factor, fy=1 / factor, interpolation=cv2.INTER_AREA)


def compute_hashes(frame: Frame) -> Hashes:
    """Hash one working frame.

    Args:
        frame: the working frame (RGB uint8, upright); shrunk once to ``HASH_SIDE`` first.

    Returns:
        Hashes: 64-bit pHash and dHash (imagehash, 16 hex digits) of the grey image; a pixel
        hash (sha256 hex[:32] of the RGB image at 32×32, INTER_AREA, quantised >>2, so the same
        pixels in another container hash alike); and a 64×48 grey thumbnail (uint8 bytes).
    """
    small = _shrink(frame.image, HASH_SIDE)
    grey = _grey(small)
    pil = Image.fromarray(grey, mode="L")
    phash = str(imagehash.phash(pil))
    dhash = str(imagehash.dhash(pil))
    tiny = cv2.resize(small, (PIXEL_HASH_SIZE, PIXEL_HASH_SIZE), interpolation=cv2.INTER_AREA)
    quantised = np.ascontiguousarray(tiny >> 2, dtype=np.uint8)
    pixel_hash = hashlib.sha256(quantised.tobytes()).hexdigest()[:32]
    thumb = cv2.resize(grey, THUMB_SIZE, interpolation=cv2.INTER_AREA)
    return Hashes(phash=phash, dhash=dhash, pixel_hash=pixel_hash, thumb=np.ascontiguousarray(thumb).tobytes())


def hamming(a: str, b: str) -> int:
    """Number of differing bits between two 64-bit hashes written as 16 hex digits.

    Raises:
        ValueError: when either string is not 16 hex digits.
    """
    if len(a) != 16 or len(b) != 16:
        raise ValueError(f"expected two 16-hex-digit hashes, got {a!r} and {b!r}")
    return (int(a, 16) ^ int(b, 16)).bit_count()
