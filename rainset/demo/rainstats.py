"""The rain-measurement stage of ``rainset demo``: measure every capture's preview."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import select

from rainset.catalog.db import open_catalog
from rainset.catalog.models import Capture
from rainset.rainstats.store import load_stats, measure_store
from rainset.store import Store


@dataclass(frozen=True)
class RainStatsStage:
    """What the stage did: captures measured, speed, and the mean of each measurement."""

    measured: int
    missing: int
    seconds: float
    per_second: float
    mean: dict[str, float | None]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def lines(self) -> list[str]:
        m = self.mean
        fmt = lambda k: "n/a" if m.get(k) is None else f"{m[k]:.2f}"  # noqa: E731
        return [f"rain measurements: {self.measured} previews in {self.seconds:.1f} s ({self.per_second:.1f}/s); "
                f"mean streak density {fmt('streak_density')}, veil {fmt('veil')}, night {fmt('night')}"]


def demo_stage(store: Store, *, workers: int | None = None) -> RainStatsStage:
    """Measure the store's captures (``measure_store``) and summarise the stored values."""
    result = measure_store(store, workers=workers)
    catalog = open_catalog(store.db_url)
    try:
        with catalog.session() as s:
            ids = list(s.scalars(select(Capture.id).where(Capture.status != "removed")))
            stats = load_stats(s, ids)
    finally:
        catalog.close()
    names = sorted({k for v in stats.values() for k in v})
    mean: dict[str, float | None] = {}
    for name in names:
        vals = [v[name] for v in stats.values() if v.get(name) is not None and math.isfinite(v[name])]
        mean[name] = round(sum(vals) / len(vals), 4) if vals else None
    return RainStatsStage(measured=result.measured, missing=len(result.missing), seconds=result.seconds,
                          per_second=round(result.per_second, 2), mean=mean)
