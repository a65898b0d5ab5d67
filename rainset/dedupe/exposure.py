"""Exposure identity: two captures whose EXIF capture times differ are two exposures, never copies.

A copy, re-encode, resize or crop keeps the original's ``DateTimeOriginal`` (and usually its
``SubSecTimeOriginal``), so when both captures carry a capture time and the times differ, they are
different exposures of the camera: at most the same scene, never near-duplicates, whatever their
pixels say. Times are compared at the precision both have: to the second, then on the sub-second
digits both carry (``22.12`` and ``22.120`` agree; ``22.12`` and ``22`` agree; ``22.12`` and
``22.13`` differ). The UTC offset is ignored (a copy may lose ``OffsetTimeOriginal``; one camera,
one clock). A capture without a readable time is compatible with everything: the pixel test decides.

Video frames (0010): two frames of one video (same ``captures.video_sha256``) at different
presentation times are two exposures too, whether or not the video carries a creation time; a
frame and a photo, or frames of two different videos (a re-encode), compare by capture time as above.

The time is read from the stored ``captures.capture_time`` (ISO 8601 local time with the SubSec
digits appended at ingest), so no store-format change is needed; captures whose sub-seconds were
not recorded compare at second precision.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_ISO_RE = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?")


@dataclass(frozen=True)
class ExposureTime:
    """When a capture was exposed, as the camera wrote it: the second and the sub-second digits."""

    second: str  # YYYY-MM-DDTHH:MM:SS, camera local time
    fraction: str = ""  # sub-second digits ("" when the file has none)
    video: str = ""  # a video frame: the video's sha256 ("" for a photo)
    pts: float | None = None  # a video frame: its presentation time in seconds


def exposure_time(capture_time: str | None, subsec: str | None = None, video: str | None = None,
                  pts: float | None = None) -> ExposureTime | None:
    """The exposure time of a stored capture, or None when it has no readable time.

    Args:
        capture_time: ``captures.capture_time`` (``2021-06-01T14:03:22.120+02:00``).
        subsec: ``captures.subsec``; used only when ``capture_time`` carries no fraction.
        video: ``captures.video_sha256`` of a video frame (None for a photo).
        pts: ``captures.frame_pts`` of a video frame.
    """
    m = _ISO_RE.match(capture_time.strip()) if capture_time else None
    if video and pts is not None:
        return ExposureTime(m.group(1) if m else "", (m.group(2) or "") if m else "", video, pts)
    if m is None:
        return None
    fraction = m.group(2) or ""
    if not fraction and subsec and subsec.strip().isdigit():
        fraction = subsec.strip()
    return ExposureTime(m.group(1), fraction)


def different_exposures(a: ExposureTime | None, b: ExposureTime | None) -> bool:
    """True when both times are known and differ at the precision both have, or when both are
    frames of one video at different presentation times."""
    if a is None or b is None:
        return False
    if a.video and a.video == b.video and a.pts != b.pts:
        return True
    if not a.second or not b.second:
        return False  # a video frame without a creation time: only its own video's frames differ by time
    if a.second != b.second:
        return True
    n = min(len(a.fraction), len(b.fraction))
    return a.fraction[:n] != b.fraction[:n]
