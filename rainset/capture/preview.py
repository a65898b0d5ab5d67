"""JPEG previews of working frames."""

from __future__ import annotations

import cv2

from rainset.errors import RejectError
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
    img = frame.image
    h, w = img.shape[:2]
    scale = max_side / max(h, w)
    if scale < 1.0:
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        img = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RejectError("decode-failed", "OpenCV could not encode the preview JPEG")
    return buf.tobytes()
