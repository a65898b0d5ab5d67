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

# pHash as imagehash computes it (``imagehash.phash``: the grey image resized to 32x32 with
# LANCZOS, the unnormalised 2-D DCT-II of ``scipy.fftpack.dct`` on both axes, its top-left 8x8
# compared with their median), but with the 8x8 corner of the DCT as two small matrix products:
# importing scipy.fftpack costs every ingest worker ~0.3 s of CPU at start-up. The coefficients
# are at most 2 * 32 * 2 * 32 * 255 ~ 1.04e6 in size and each is two 32-term float64 sums, so
# either way they are within ~1e-8 of the exact values (32 * 1.1e-16 of each sum's absolute
# total, twice), and so is the median: a coefficient farther than PHASH_TIE (100x that) from the
# median gets the same bit either way. A hash with any coefficient that close (flat or
# synthetic images, whose exact coefficients tie) is computed by imagehash itself, so stored
# hashes do not change (tests/test_ingest_phash.py).
PHASH_SIZE = 8
_PHASH_SIDE = PHASH_SIZE * 4
_DCT_ROWS = 2.0 * np.cos(np.pi * np.arange(PHASH_SIZE)[:, None] * (2 * np.arange(_PHASH_SIDE)[None, :] + 1)
                         / (2 * _PHASH_SIDE))
PHASH_TIE = 1e-6
_MID = PHASH_SIZE * PHASH_SIZE // 2


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


def phash_hex(grey: Image.Image) -> str:
    """``str(imagehash.phash(grey))`` for a grey (mode ``L``) image, without importing scipy (see
    ``PHASH_TIE``)."""
    pixels = np.asarray(grey.resize((_PHASH_SIDE, _PHASH_SIDE), Image.Resampling.LANCZOS), dtype=np.float64)
    low = _DCT_ROWS @ pixels @ _DCT_ROWS.T  # == scipy.fftpack.dct(dct(pixels, axis=0), axis=1)[:8, :8]
    middle = np.partition(low.ravel(), (_MID - 1, _MID))[_MID - 1:_MID + 1]
    median = (middle[0] + middle[1]) / 2  # np.median's value (it would import numpy.ma: ~50 ms per worker)
    if float(np.min(np.abs(low - median))) <= PHASH_TIE:
        return str(imagehash.phash(grey))  # a near-tie: decided by scipy's rounding, as always
    return str(imagehash.ImageHash(low > median))


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
    phash = phash_hex(pil)
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
