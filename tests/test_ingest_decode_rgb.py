"""The JPEG working decode gives the same pixels as OpenCV's BGR decode + cvtColor, for every
colour model and reduction factor (rainset.capture.raster.decode_jpeg asks libjpeg for RGB)."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from rainset.capture.raster import decode_jpeg


def _jpeg(mode: str) -> bytes:
    rng = np.random.default_rng(7)
    y, x = np.mgrid[0:240, 0:320]
    rgb = np.stack([x * 255 // 319, y * 255 // 239, rng.integers(0, 256, (240, 320))], axis=2).astype(np.uint8)
    img = Image.fromarray(rgb, "RGB").convert(mode)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    return buf.getvalue()


@pytest.mark.parametrize("mode", ["RGB", "L", "CMYK"])
@pytest.mark.parametrize("factor", [1, 2, 4, 8])
def test_decode_jpeg_matches_bgr_decode(mode: str, factor: int) -> None:
    data = _jpeg(mode)
    flags = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
             8: cv2.IMREAD_REDUCED_COLOR_8}[factor] | cv2.IMREAD_IGNORE_ORIENTATION
    want = cv2.cvtColor(cv2.imdecode(np.frombuffer(data, np.uint8), flags), cv2.COLOR_BGR2RGB)
    got = decode_jpeg(data, 320, 240, factor)
    assert got.shape == want.shape == (240 // factor, 320 // factor, 3)
    assert np.array_equal(got, want)
