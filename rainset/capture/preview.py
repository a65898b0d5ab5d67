"""JPEG previews of working frames."""

from __future__ import annotations

import cv2

from rainset.errors import RejectError
from rainset.imageops import fit_long_side
from rainset.records import Frame


def make_preview(frame: Frame, max_side: int = 1024, quality: int = 85) -> bytes:
    """Encode the frame's working image as a JPEG preview.

    Args:
        frame: the working frame (RGB uint8, upright).
        max_side: longest side of the preview; the image is shrunk (INTER_AREA), never upscaled.
        quality: JPEG quality 1..100.

    Returns:
        The JPEG bytes.
    """
    img = fit_long_side(frame.image, max_side)
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RejectError("decode-failed", "OpenCV could not encode the preview JPEG")
    return buf.tobytes()
