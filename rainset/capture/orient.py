"""EXIF orientation: the 8 standard transforms, applied with OpenCV."""

from __future__ import annotations

import cv2
import numpy as np


def apply_orientation(image: np.ndarray, orientation: int | None) -> np.ndarray:
    """Turn an image as stored into the upright image its EXIF orientation describes.

    Args:
        image: H×W or H×W×C array as stored in the file.
        orientation: EXIF orientation 1..8; None or anything else leaves the image as is.

    Returns:
        The upright image (a new array, or ``image`` itself for 1/None).
    """
    if orientation == 2:
        return cv2.flip(image, 1)
    if orientation == 3:
        return cv2.rotate(image, cv2.ROTATE_180)
    if orientation == 4:
        return cv2.flip(image, 0)
    if orientation == 5:
        return cv2.transpose(image)
    if orientation == 6:
        return cv2.rotate(image, cv2.ROTATE_90_CLOCKWISE)
    if orientation == 7:
        return cv2.flip(cv2.transpose(image), -1)
    if orientation == 8:
        return cv2.rotate(image, cv2.ROTATE_90_COUNTERCLOCKWISE)
    return image


def oriented_size(width: int, height: int, orientation: int | None) -> tuple[int, int]:
    """The (width, height) after applying ``orientation`` (5..8 swap the sides)."""
    if orientation in (5, 6, 7, 8):
        return height, width
    return width, height
