"""The ingest driver: discover, skip what is known, process on workers, write in batches.

Nothing lost, nothing twice: every batch is one transaction, workers only write
content-addressed files atomically, and a rerun skips every file already recorded (as a file
or a reject), so killing ingest at any moment and running it again gives the same catalog.
"""

from __future__ import annotations

import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Callable

from sqlalchemy import select, update

from rainset.catalog.db import open_catalog
from rainset.catalog.models import File, IngestRun, Reject, Video
from rainset.errors import ConfigError
from rainset.store import Store, exclusive_lock, sweep_tmp
from rainset import workers

from rainset.ingest.sources import SourceFile, discover, group_units
from rainset.ingest.pool import INIT_WORKER, PROCESS_UNIT
from rainset.ingest.stage_io import StageOptions, worker_died
from rainset.ingest.video_records import FrameSampling, VideoResult
from rainset.ingest.video_writer import write_video
from rainset.ingest.writer import BatchCounts, BatchIndex, Provenance, write_unit

ProgressFn = Callable[[int, int], None]
BatchFn = Callable[[int], None]
StageFn = Callable[..., tuple]


@dataclass(frozen=True)
class IngestOptions:
    """How to ingest (the CLI's options)."""

    link: bool = False
    workers: int = 1
    engine: str = "local"
    scheduler: str | None = None
    batch_size: int | None = None
    provenance: Provenance = field(default_factory=Provenance)
    video: FrameSampling = field(default_factory=FrameSampling)


@dataclass(frozen=True)
class IngestSummary:
    """The result of one ``rainset ingest`` (its ``--json`` output; keys are stable)."""

    run_id: int
    store: str
    sources: list[str]
    seen: int
    skipped: int
    processed: int
    new_captures: int
    new_files: int
    exact_copies: int
    paired: int
    rejected: int
    rejects_by_reason: dict[str, int]
    bytes_stored: int
    warnings: int
    swept_tmp: int
    seconds: float
    files_per_second: float
    new_videos: int = 0

    def to_dict(self) -> dict:
        return asdict(self)

    def lines(self) -> list[str]:
        """The human-readable summary (``rainset ingest``)."""
        lines = [f"ingest run {self.run_id}: {self.seen} files seen, {self.skipped} already known, "
                 f"{self.processed} processed in {self.seconds:.1f} s ({self.files_per_second:.1f} files/s)",
                 f"  {self.new_captures} new captures, {self.new_files} new files ({self.exact_copies} exact copies, "
                 f"{self.paired} paired RAW/JPEG), {self.bytes_stored / 1e6:.1f} MB stored"]
        if self.new_videos:
            lines.append(f"  {self.new_videos} videos (their kept frames are among the new captures)")
        if self.rejected:
            reasons = ", ".join(f"{k}: {v}" for k, v in self.rejects_by_reason.items())
            lines.append(f"  {self.rejected} rejected ({reasons}); see 'rainset status'")
        return lines


def _known(catalog, files: list[SourceFile]) -> set[str]:  # noqa: ANN001
    """URIs already recorded: as a capture file, or as a reject of the same size and mtime.

    A source that cannot tell a file's size or mtime (some HTTP servers) matches on the URI alone.
    """
    with catalog.session() as s:
        file_uris = set(s.scalars(select(File.uri))) | set(s.scalars(select(Video.uri)))
        rejects: dict[str, list[tuple[int | None, float | None]]] = {}
        for uri, size, mtime in s.execute(select(Reject.uri, Reject.size, Reject.mtime)):
            rejects.setdefault(uri, []).append((size, mtime))
    known = set()
    for f in files:
        if f.uri in file_uris:
            known.add(f.uri)
            continue
        for size, mtime in rejects.get(f.uri, ()):
            if (f.size is None or size == f.size or (f.problem and size == 0)) and (f.mtime is None or mtime == f.mtime):
                known.add(f.uri)
                break
    return known


def _stage_options(store: Store, options: IngestOptions) -> StageOptions:
    s = store.settings
    return StageOptions(link=options.link, max_pixels=s["max_pixels"], working_min_side=s["working_min_side"],
                        preview_max_side=s["preview_max_side"], preview_quality=s["preview_quality"],
                        max_decode_bytes=s["max_decode_bytes"],
                        # the default sampling travels as None: workers import the video code only for videos
                        video=None if options.video.check() == FrameSampling() else options.video)


def ingest(store: Store, sources: list[str], options: IngestOptions | None = None,
           progress: ProgressFn | None = None, on_batch_committed: BatchFn | None = None,
           stage: StageFn = PROCESS_UNIT, pool: ProcessPoolExecutor | None = None) -> IngestSummary:
    """Ingest every file under ``sources`` into ``store``.

    Args:
        store: the opened store.
        sources: folders, files or fsspec URLs.
        options: workers, engine, link mode, provenance.
        progress: called as ``progress(done, total)`` after each unit.
        on_batch_committed: called as ``on_batch_committed(n)`` right after the n-th batch's
            transaction commits (tests kill the process there, then resume).
        stage: the per-unit function run on the workers (tests pass a wrapper of
            :func:`~rainset.ingest.stage.process_unit` that kills its own worker on one file).
            A unit whose worker dies is retried once alone; when it dies again its files become
            ``worker-died`` rejects and the run goes on.
        pool: the local workers, already started by the caller
            (:func:`~rainset.ingest.pool.start_workers`, as the console command does before it
            imports this module, so that their start-up overlaps its imports); shut down by the end
            of the run. Without it the workers start when the work does.

    Returns:
        What the run did (also saved on the run's row in ``ingest_runs``).
    """
    options = options or IngestOptions()
    if options.workers < 0:
        raise ConfigError(f"--workers must be 0 or more, got {options.workers}")
    batch_size = options.batch_size or store.settings["batch_size"]
    if batch_size < 1:
        raise ConfigError(f"batch size must be at least 1, got {batch_size}")
    with exclusive_lock(store, "ingest"):
        started = time.perf_counter()
        try:
            return _ingest_locked(store, sources, options, batch_size, started, progress, on_batch_committed,
                                  stage, pool)
        finally:
            if pool is not None:
                pool.shutdown(wait=False, cancel_futures=True)  # a no-op once the run has used it


def _ingest_locked(store: Store, sources: list[str], options: IngestOptions, batch_size: int, started: float,
                   progress: ProgressFn | None, on_batch_committed: BatchFn | None, stage: StageFn,
                   pool: ProcessPoolExecutor | None) -> IngestSummary:
    """:func:`ingest`'s work, under the store's ingest lock."""
    swept = sweep_tmp(store)
    catalog = open_catalog(store.db_url)
    try:
        files = discover(sources)
        known = _known(catalog, files)
        todo = group_units([f for f in files if f.uri not in known])
        with catalog.session() as s:
            # We hold the ingest lock: a run still marked running was killed.
            s.execute(update(IngestRun).where(IngestRun.status == "running").values(status="interrupted"))
            run = IngestRun(sources=list(sources), status="running",
                            options={"link": options.link, "workers": options.workers,
                                     "engine": options.engine, **asdict(options.provenance)})
            s.add(run)
            s.flush()
            run_id = run.id
        total = sum(len(u) for u in todo)
        if progress:
            progress(0, total)
        results = workers.run(stage, todo, engine=options.engine, workers=options.workers,
                              scheduler=options.scheduler, initializer=INIT_WORKER, pool=pool,
                              dask_initializer=workers.dask_worker_init, on_died=worker_died,
                              window=batch_size,  # workers go on while a batch is written
                              store=store, options=_stage_options(store, options))
        counts = BatchCounts()
        batch: list[tuple] = []
        batches = done = in_batch = 0
        for unit, unit_results in zip(todo, results):
            batch.append((unit, unit_results))
            done += len(unit)
            in_batch += len(unit)
            if in_batch >= batch_size:
                counts.add(_write_batch(catalog, batch, run_id, options))
                batch, batches, in_batch = [], batches + 1, 0
                if on_batch_committed:
                    on_batch_committed(batches)
            if progress:
                progress(done, total)
        if batch:
            counts.add(_write_batch(catalog, batch, run_id, options))
            if on_batch_committed:
                on_batch_committed(batches + 1)
        seconds = time.perf_counter() - started
        summary = IngestSummary(
            run_id=run_id, store=str(store.root), sources=list(sources), seen=len(files),
            skipped=len(known), processed=total, new_captures=counts.new_captures,
            new_files=counts.new_files, exact_copies=counts.exact_copies, paired=counts.paired,
            rejected=sum(counts.rejects.values()), rejects_by_reason=dict(sorted(counts.rejects.items())),
            bytes_stored=counts.bytes_stored, warnings=counts.warnings, swept_tmp=swept,
            seconds=round(seconds, 3), files_per_second=round(total / seconds, 2) if seconds > 0 else 0.0,
            new_videos=counts.videos,
        )
        with catalog.session() as s:
            row = s.get(IngestRun, run_id)
            row.status, row.finished_at, row.summary = "done", datetime.now(timezone.utc), summary.to_dict()
        if counts.new_captures:
            catalog.refresh_statistics()
        return summary
    finally:
        catalog.close()


def _write_batch(catalog, batch: list[tuple], run_id: int, options: IngestOptions) -> BatchCounts:  # noqa: ANN001
    counts = BatchCounts()
    with catalog.session() as s:
        pairs = [(src, r) for unit, unit_results in batch for src, r in zip(unit, unit_results)]
        # One bulk read for the whole batch; a batch holding a video (whose frames add rows the
        # index would not see) reads per unit instead, after the video's rows are pending.
        index = None if any(isinstance(r, VideoResult) for _, r in pairs) else BatchIndex.load(s, pairs)
        for unit, unit_results in batch:
            plain = [(src, r) for src, r in zip(unit, unit_results) if not isinstance(r, VideoResult)]
            for src, r in zip(unit, unit_results):
                if isinstance(r, VideoResult):
                    counts.add(write_video(s, src, r, run_id=run_id, prov=options.provenance, link=options.link,
                                           sampling=options.video))
            if plain:
                counts.add(write_unit(s, tuple(p[0] for p in plain), tuple(p[1] for p in plain), run_id=run_id,
                                      prov=options.provenance, link=options.link, index=index))
        if index is not None:
            index.rows.write(s)  # the batch's rows: one INSERT per table
    return counts
