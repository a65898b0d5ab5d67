"""Measure every capture of a store from its preview and keep the results in ``rain_stats``.

Workers compute, the driver writes: each worker reads one preview (and, when OpenCV can decode it,
the original, for the native-resolution measurements of :mod:`rainset.rainstats.invariant`) and returns the measurements
as plain dicts; the driver inserts or replaces the rows in batches. A row is up to date when its
``algo`` is :data:`ALGO_VERSION` and, for ``rain-layer`` rows, its checkpoint sha256 is the one
given; ``only_missing`` re-measures only the rows that are not up to date. Removed captures are
never measured.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any, Callable, Iterable

import cv2
import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from rainset.catalog.db import open_catalog
from rainset.catalog.models import Capture, File, utcnow
from rainset.catalog.rainstats_tables import RAIN_STAT_SOURCES
from rainset.catalog.rainstats_tables import RainStats as RainStatsRow
from rainset.errors import TrainError
from rainset.hashing import sha256_file
from rainset.rainstats.layer import generator_source, rain_layer_stats
from rainset.rainstats.measure import ALGO_VERSION, measure
from rainset.store import Store
from rainset.workers import run, worker_init

BATCH = 64


@dataclass(frozen=True)
class MeasureResult:
    """What one :func:`measure_store` run did.

    Attributes:
        considered: non-removed captures looked at.
        measured: ``preview`` rows written.
        layer_measured: ``rain-layer`` rows written (0 without a checkpoint).
        skipped: captures whose rows were all up to date.
        missing: ids of captures whose preview is missing or unreadable (nothing written).
        failed: ``{capture id: reason}`` of captures whose measurement raised an error.
        checkpoint: sha256 of the checkpoint used, or None.
        algo: the ALGO_VERSION written.
        seconds: wall time.
    """

    considered: int
    measured: int
    layer_measured: int
    skipped: int
    missing: tuple[str, ...]
    failed: dict[str, str]
    checkpoint: str | None
    algo: int
    seconds: float

    @property
    def per_second(self) -> float:
        """Captures measured per second (preview and rain-layer work together)."""
        done = max(self.measured, self.layer_measured)
        return done / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["missing"] = list(self.missing)
        d["per_second"] = round(self.per_second, 2)
        return d

    def lines(self) -> list[str]:
        layer = f", {self.layer_measured} on the rain layer" if self.checkpoint else ""
        out = [f"rain measurements: {self.measured} captures measured{layer}, {self.skipped} up to date "
               f"({self.seconds:.1f} s, {self.per_second:.1f}/s)"]
        if self.missing:
            out.append(f"  {len(self.missing)} captures without a readable preview (run 'rainset verify')")
        if self.failed:
            out.append(f"  {len(self.failed)} captures could not be measured: "
                       + "; ".join(f"{k}: {v}" for k, v in list(self.failed.items())[:3]))
        return out


@dataclass(frozen=True)
class _Item:
    capture_id: str
    preview: str
    preview_wanted: bool
    layer_wanted: bool
    exposure_time: float | None
    f_number: float | None
    iso: float | None
    original: str | None = None  # a decodable original (JPEG, PNG, TIFF...): native-resolution measurements


def _worker_init(with_torch: bool) -> None:
    """Local pool workers: one OpenCV (and torch) thread each, quiet C decoders."""
    worker_init()
    if with_torch:
        import torch  # optional: the train extra, only with a checkpoint

        torch.set_num_threads(1)


def measure_item(item: _Item, checkpoint: str | None = None) -> tuple[str, dict | None, dict | None, str | None]:
    """Measure one capture: (capture id, preview values, rain-layer values, problem or None).

    The problem is ``"missing"`` for an unreadable preview, else the error's message.
    """
    bgr = cv2.imread(item.preview, cv2.IMREAD_COLOR)
    if bgr is None:
        return item.capture_id, None, None, "missing"
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    exif = dict(exposure_time=item.exposure_time, f_number=item.f_number, iso=item.iso)
    try:
        preview = measure(rgb, detail=read_original(item.original), **exif).to_dict() if item.preview_wanted else None
        layer = None
        if item.layer_wanted and checkpoint is not None:
            layer = rain_layer_stats(rgb, checkpoint, **exif).to_dict()
    except (ValueError, RuntimeError, OSError) as exc:
        return item.capture_id, None, None, f"{type(exc).__name__}: {exc}"
    return item.capture_id, preview, layer, None


def read_original(path: str | None) -> np.ndarray | None:
    """The decoded original (RGB, EXIF orientation applied) when OpenCV can read it, else None.

    RAW files, remote objects and unreadable files give None: the preview is measured instead.
    """
    if not path or not Path(path).is_file():
        return None
    try:
        bgr = cv2.imread(path, cv2.IMREAD_COLOR)
    except cv2.error:
        return None
    if bgr is None or min(bgr.shape[:2]) < 16:
        return None
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _originals(session: Session, store: Store) -> dict[str, str]:
    """Capture id → local path of its representative original (the stored copy, else a linked local file)."""
    found: dict[str, str] = {}
    rows = session.execute(select(File.capture_id, File.sha256, File.storage, File.uri)
                           .join(Capture, Capture.id == File.capture_id)
                           .where(File.sha256 == Capture.representative_sha256).order_by(File.id))
    for cid, sha, storage, uri in rows:
        if storage == "copy":
            found[cid] = str(store.object_path(sha))
        elif cid not in found and uri and "://" not in uri:
            found[cid] = uri
    return found


def _plan(session: Session, store: Store, sha: str | None, only_missing: bool) -> tuple[list[_Item], int, int]:
    """(items to measure, captures considered, captures skipped)."""
    done: dict[tuple[str, str], tuple[int, str | None]] = {}
    for cid, source, algo, ckpt in session.execute(
            select(RainStatsRow.capture_id, RainStatsRow.source, RainStatsRow.algo, RainStatsRow.checkpoint)):
        done[(cid, source)] = (algo, ckpt)
    items: list[_Item] = []
    originals = _originals(session, store)
    considered = skipped = 0
    rows = session.execute(select(Capture.id, Capture.representative_sha256, Capture.exposure_time,
                                  Capture.f_number, Capture.iso)
                           .where(Capture.status != "removed").order_by(Capture.id))
    for cid, rep, exposure, fnum, iso in rows:
        considered += 1
        want_p = not only_missing or done.get((cid, "preview"), (None, None))[0] != ALGO_VERSION
        want_l = sha is not None and (not only_missing or done.get((cid, "rain-layer")) != (ALGO_VERSION, sha))
        if not (want_p or want_l):
            skipped += 1
            continue
        items.append(_Item(cid, str(store.preview_path(rep)), want_p, want_l, exposure, fnum,
                           None if iso is None else float(iso), originals.get(cid)))
    return items, considered, skipped


def _write(session: Session, batch: list[tuple[str, str, dict]], sha: str | None) -> None:
    """Insert or replace the (capture id, source, values) rows of one batch."""
    keys = {(cid, src) for cid, src, _ in batch}
    existing = {(r.capture_id, r.source): r for r in session.scalars(
        select(RainStatsRow).where(RainStatsRow.capture_id.in_({k[0] for k in keys})))}
    now = utcnow()
    for cid, source, values in batch:
        ckpt = sha if source == "rain-layer" else None
        row = existing.get((cid, source))
        if row is None:
            session.add(RainStatsRow(capture_id=cid, source=source, checkpoint=ckpt, algo=ALGO_VERSION,
                                     values=values, measured_at=now))
        else:
            row.checkpoint, row.algo, row.values, row.measured_at = ckpt, ALGO_VERSION, values, now


def _default_workers(n: int) -> int:
    return 1 if n < 64 else max(1, min(os.cpu_count() or 1, 8))  # spawning costs ~1 s a worker


def measure_store(store: Store, *, checkpoint: str | Path | None = None, only_missing: bool = True,
                  workers: int | None = None, progress: Callable[[int, int], None] | None = None) -> MeasureResult:
    """Measure every non-removed capture's preview and write its ``rain_stats`` rows.

    Args:
        store: the opened store.
        checkpoint: an NLCL checkpoint or a released NLCL G_B state dict (``latest_net_Back.pth``); when
            given, ``rain-layer`` rows are written too.
        only_missing: measure only captures whose rows are absent or out of date (other algo,
            other checkpoint); False re-measures everything.
        workers: processes (spawned); default 1 below 64 captures, else the CPU count (≤ 8).
        progress: ``progress(done, total)`` after each capture.

    Returns:
        What was measured, skipped, missing and failed.

    Raises:
        TrainError: the checkpoint file does not exist or is neither an NLCL checkpoint nor a released G_B.
    """
    t0 = time.perf_counter()
    sha = ckpt_path = None
    if checkpoint is not None:
        path = Path(checkpoint).expanduser().resolve()
        if not path.is_file():
            raise TrainError(f"{checkpoint}: no such checkpoint file")
        generator_source(path)  # a bad checkpoint fails here, named, before any work (rainset or released G_B)
        sha, ckpt_path = sha256_file(path), str(path)
    catalog = open_catalog(store.db_url)
    try:
        with catalog.session() as s:
            items, considered, skipped = _plan(s, store, sha, only_missing)
        n_workers = workers if workers is not None else _default_workers(len(items))
        results = run(measure_item, items, workers=n_workers, initializer=partial(_worker_init, sha is not None),
                      checkpoint=ckpt_path)
        measured = layered = 0
        missing: list[str] = []
        failed: dict[str, str] = {}
        batch: list[tuple[str, str, dict]] = []
        for done, (cid, preview, layer, problem) in enumerate(results, 1):
            if problem == "missing":
                missing.append(cid)
            elif problem:
                failed[cid] = problem
            if preview is not None:
                batch.append((cid, "preview", preview))
                measured += 1
            if layer is not None:
                batch.append((cid, "rain-layer", layer))
                layered += 1
            if len(batch) >= BATCH:
                with catalog.session() as s:
                    _write(s, batch, sha)
                batch = []
            if progress is not None:
                progress(done, len(items))
        if batch:
            with catalog.session() as s:
                _write(s, batch, sha)
    finally:
        catalog.close()
    return MeasureResult(considered=considered, measured=measured, layer_measured=layered, skipped=skipped,
                         missing=tuple(missing), failed=failed, checkpoint=sha, algo=ALGO_VERSION,
                         seconds=round(time.perf_counter() - t0, 3))


def load_stats(session: Session, capture_ids: Iterable[str], source: str = "preview") -> dict[str, dict[str, float | None]]:
    """The stored measurements of ``capture_ids`` from ``source`` (captures without a row are absent).

    Raises:
        ValueError: ``source`` is not one of ``preview``, ``rain-layer``.
    """
    if source not in RAIN_STAT_SOURCES:
        raise ValueError(f"unknown rain-stats source {source!r}; expected one of {', '.join(RAIN_STAT_SOURCES)}")
    ids = list(dict.fromkeys(capture_ids))
    found: dict[str, dict[str, float | None]] = {}
    for start in range(0, len(ids), 500):
        rows = session.execute(select(RainStatsRow.capture_id, RainStatsRow.values).where(
            RainStatsRow.source == source, RainStatsRow.capture_id.in_(ids[start:start + 500])))
        for cid, values in rows:
            found[cid] = {k: (None if v is None or (isinstance(v, float) and not math.isfinite(v)) else v)
                          for k, v in (values or {}).items()}
    return found
