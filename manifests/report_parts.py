"""Pieces both report modules draw with (``report`` and ``report_rain``): the note on an empty
plot and small inline thumbnails of captures.
"""

from __future__ import annotations

import base64
from typing import Any

import cv2
import numpy as np
from sqlalchemy import select

from rainset.catalog.db import catalog_session
from rainset.catalog.models import Hash
from rainset.store import Store


def new_figure(size: tuple[float, float]) -> Any:
    """A matplotlib figure on the Agg canvas with constrained layout (labels are given room, and nothing
    warns on stderr when they are long)."""
    from matplotlib.figure import Figure  # heavy: matplotlib

    return Figure(figsize=size, dpi=90, layout="constrained")


def empty_plot(ax: Any, what: str) -> None:
    """Write "no <what>" across an empty plot and hide its axes."""
    ax.text(0.5, 0.5, f"no {what}", ha="center", va="center", transform=ax.transAxes)
    ax.set_axis_off()


def thumbnails(store: Store, shas: list[str]) -> dict[str, str]:
    """sha256 → data URI of a small JPEG (from the preview, else the hash thumbnail)."""
    out: dict[str, str] = {}
    missing = []
    for sha in dict.fromkeys(shas):
        preview = store.preview_path(sha)
        img = cv2.imread(str(preview), cv2.IMREAD_REDUCED_COLOR_4) if preview.is_file() else None
        if img is None:
            missing.append(sha)
            continue
        scale = 160 / max(img.shape[:2])
        img = cv2.resize(img, None, fx=min(1.0, scale), fy=min(1.0, scale), interpolation=cv2.INTER_AREA)
        out[sha] = "data:image/jpeg;base64," + base64.b64encode(cv2.imencode(".jpg", img)[1].tobytes()).decode()
    if missing:
        with catalog_session(store.db_url) as s:
            for sha, thumb in s.execute(select(Hash.sha256, Hash.thumb).where(Hash.sha256.in_(missing))):
                grey = np.frombuffer(thumb, np.uint8)
                if grey.size == 64 * 48:
                    out[sha] = "data:image/png;base64," + base64.b64encode(
                        cv2.imencode(".png", grey.reshape(48, 64))[1].tobytes()).decode()
    return out
