"""Rain measurements per capture: streaks, veil, droplets, night (docs/rainstats.md).

``measure``, ``RainStats`` and ``rain_layer_stats`` need only NumPy and OpenCV to import (the
latter loads torch when called); ``measure_store``/``load_stats`` (the catalog) load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rainset.rainstats.layer import rain_layer_stats
from rainset.rainstats.measure import ALGO_VERSION, RainStats, measure

if TYPE_CHECKING:
    from rainset.rainstats.store import MeasureResult, load_stats, measure_store

__all__ = ["ALGO_VERSION", "MeasureResult", "RainStats", "load_stats", "measure", "measure_store", "rain_layer_stats"]


def __getattr__(name: str) -> Any:
    if name in ("measure_store", "load_stats", "MeasureResult"):
        from rainset.rainstats import store  # heavy: sqlalchemy, the catalog; measure() needs only NumPy and OpenCV

        return getattr(store, name)
    raise AttributeError(f"module 'rainset.rainstats' has no attribute {name!r}")
