"""``rainset export``: an immutable, named manifest version.

The version is built under ``STORE/tmp/`` and renamed into ``STORE/manifests/NAME/`` inside the
catalog transaction that records it in ``versions``; the unique (kind, name) constraint decides a
race, so two exports of one name leave one complete version and a clear error, never a mix.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from rainset.capture_paths import capture_files
from rainset.catalog.db import open_catalog
from rainset.catalog.manifest_tables import SplitAssignment, SplitMove
from rainset.catalog.models import Version
from rainset.errors import ConfigError, ManifestError
from rainset.hashing import sha256_file
from rainset.manifests.card import DEFAULT_LICENSE, card_facts, dataset_card
from rainset.manifests.images import ImageSource, check_mode
from rainset.manifests.pair_rows import LoadedPairs, load_pairset, pair_rows
from rainset.manifests.rows import CatalogRows, filter_view, load_rows
from rainset.manifests.schema import IMAGE_COLUMN, REDACT, SCHEMA_VERSION, SPLITS, arrow_schema
from rainset.manifests.selection import compile_selection
from rainset.manifests.splits import DEFAULT_RATIOS
from rainset.manifests.versions import add_version_row, publish, validate_name
from rainset.store import Store
from rainset.workers import run, worker_init


@dataclass(frozen=True)
class ExportResult:
    """What ``rainset export`` wrote (its ``--json`` output)."""

    name: str
    path: str
    parent: str | None
    samples: int
    counts: dict[str, dict[str, Any]]
    files: tuple[str, ...]
    new_assignments: int
    moves: int
    redacted: tuple[str, ...]
    images: str = "path"  # path | embed | embed-full
    card: str = "README.md"  # the dataset card, relative to path
    pairs: str | None = None  # the pair set of a pairs version (export --pairs)

    def to_dict(self) -> dict:
        return asdict(self)

    def lines(self) -> list[str]:
        per = ", ".join(f"{s} {c['total']}" for s, c in self.counts.items())
        return [f"exported {self.name}: {self.samples} samples ({per}) in {len(self.files)} files",
                f"parent: {self.parent or '-'}; new split assignments: {self.new_assignments}; moved: {self.moves}",
                f"images: {self.images}; dataset card: {self.card}",
                f"path: {self.path}"] + ([f"pairs: {self.samples} accepted pairs of pair set {self.pairs}"]
                                         if self.pairs else [])


def parse_redact(items: Sequence[str]) -> tuple[str, ...]:
    """``["gps", "serial"]`` (or ``"gps,serial"`` items) → the column names to drop."""
    groups = [g.strip() for item in items for g in item.split(",") if g.strip()]
    for g in groups:
        if g not in REDACT:
            raise ConfigError(f"--redact {g!r}: unknown; choose from {', '.join(REDACT)}")
    return tuple(col for g in dict.fromkeys(groups) for col in REDACT[g])


def _select(data: CatalogRows, where: str | None, include_unlabelled: bool,
            files: dict[str, list[Any]]) -> list[dict[str, Any]]:
    test = compile_selection(where) if where else None
    rows = [r for r in data.rows if include_unlabelled or r["rain_type"] is not None]
    if test is not None:
        rows = [r for r in rows if test(filter_view(r), files.get(r["sample_id"], ()))]
    return rows


# Rows per Parquet row group, and the image bytes at which a group is written early: with embedded
# images a file is written group by group, so memory stays bounded whatever the version's size.
GROUP_ROWS = 1024
GROUP_IMAGE_BYTES = 64 * 1024 * 1024
IMAGES_PER_WORKER = 50  # --workers default: one process per CPU core, at most one per 50 full-size images


def embed_workers(mode: str, samples: int, workers: int | None) -> int:
    """Processes that make the image cells: ``workers``, else one per core for ``embed-full`` (at most one per
    ``IMAGES_PER_WORKER`` samples; a spawned worker takes 1-3 s to start) and one for the rest."""
    if workers is not None:
        return max(1, workers)
    if mode != "embed-full":
        return 1  # previews are read, not decoded
    return max(1, min(os.cpu_count() or 1, samples // IMAGES_PER_WORKER))


def _write_data(folder: Path, rows: list[dict[str, Any]], drop: tuple[str, ...], rows_per_file: int,
                images: ImageSource | None = None, workers: int = 1) -> list[dict]:
    """``data/{split}-{i:05d}-of-{n:05d}.parquet`` files; returns [{path, sha256, rows, bytes}].

    Each file is written one row group at a time (at most ``GROUP_ROWS`` rows, or fewer once the
    embedded images of the group reach ``GROUP_IMAGE_BYTES``). Image cells come from ``workers``
    spawned processes (in row order, a bounded window in flight) or, with 1, from this process.
    """
    schema = arrow_schema(drop, image=images is not None)
    data_dir = folder / "data"
    data_dir.mkdir(parents=True)
    written = []
    for split in SPLITS:
        part = sorted((r for r in rows if r["split"] == split), key=lambda r: r["sample_id"])
        n = -(-len(part) // rows_per_file)
        for i in range(n):
            chunk = part[i * rows_per_file:(i + 1) * rows_per_file]
            path = data_dir / f"{split}-{i:05d}-of-{n:05d}.parquet"
            cells = None if images is None else run(images.image, chunk, engine="local", workers=workers,
                                                    initializer=worker_init)
            try:
                _write_file(path, schema, chunk, drop, cells)
            finally:
                close = getattr(cells, "close", None)
                if close:
                    close()  # stop the pool early on an error
            with open(path, "rb") as fh:
                os.fsync(fh.fileno())
            written.append({"path": f"data/{path.name}", "sha256": sha256_file(path),
                            "rows": len(chunk), "bytes": path.stat().st_size})
    return written


def _write_file(path: Path, schema: Any, chunk: list[dict[str, Any]], drop: tuple[str, ...],
                cells: Iterator[dict[str, Any]] | None) -> None:
    """One Parquet file of ``chunk``, a row group at a time (``cells``: the image cells, in row order)."""
    import pyarrow as pa  # heavy: pyarrow
    import pyarrow.parquet as pq  # heavy: pyarrow

    with pq.ParquetWriter(path, schema, compression="zstd") as writer:
        group: list[dict[str, Any]] = []
        size = 0
        for r in chunk:
            out = {k: v for k, v in r.items() if k not in drop}
            if cells is not None:
                out[IMAGE_COLUMN] = next(cells)
                size += len(out[IMAGE_COLUMN]["bytes"])
            group.append(out)
            if len(group) >= GROUP_ROWS or size >= GROUP_IMAGE_BYTES:
                writer.write_table(pa.Table.from_pylist(group, schema=schema))
                group, size = [], 0
        if group:
            writer.write_table(pa.Table.from_pylist(group, schema=schema))


def _counts(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    counts: dict[str, dict[str, Any]] = {}
    for split in SPLITS:
        part = [r for r in rows if r["split"] == split]
        labels = Counter(r["rain_type"] or "(unlabelled)" for r in part)
        counts[split] = {"total": len(part), "labels": dict(sorted(labels.items()))}
    return counts


class _SplitsChanged(Exception):
    """Another export recorded splits of the same captures meanwhile: plan again."""


def _record(session: Any, name: str, parent: str | None, info: dict, data: CatalogRows) -> None:
    """Insert the version row first (the race arbiter), then the new split records and moves."""
    add_version_row(session, Version(name=name, kind="manifest", parent=parent, path=f"manifests/{name}", info=info),
                    ManifestError, f"manifest version {name!r}")
    try:
        now = datetime.now(timezone.utc)
        records = [{"capture_id": cid, "seed": data.seed, "split": data.plan.splits[cid],
                    "group_key": data.plan.group_of[cid], "assigned_at": now} for cid in data.plan.new]
        for lo in range(0, len(records), 5000):
            session.execute(insert(SplitAssignment), records[lo:lo + 5000])
        for move in data.plan.moves:
            row = session.get(SplitAssignment, (move.capture_id, data.seed))
            if row is None or row.split != move.from_split:
                raise _SplitsChanged(move.capture_id)
            row.split = move.to_split
            session.add(SplitMove(capture_id=move.capture_id, seed=data.seed, from_split=move.from_split,
                                  to_split=move.to_split, reason=move.reason))
        session.flush()
    except IntegrityError as exc:
        raise _SplitsChanged(str(exc.orig)) from exc


@dataclass(frozen=True)
class _Options:
    where: str | None
    include_unlabelled: bool
    redact: tuple[str, ...]  # the groups asked for
    drop: tuple[str, ...]  # the columns they drop
    seed: int
    ratios: tuple[tuple[str, float], ...]
    rows_per_file: int
    images: str = "path"
    license: str = DEFAULT_LICENSE
    workers: int | None = 1
    pairs: str | None = None


def export_manifest(store: Store, name: str, *, where: str | None = None, include_unlabelled: bool = False,
                    redact: Sequence[str] = (), seed: int = 0,
                    ratios: Sequence[tuple[str, float]] = DEFAULT_RATIOS, rows_per_file: int = 50_000,
                    images: str = "path", license: str = DEFAULT_LICENSE, workers: int | None = 1,
                    pairs: str | None = None) -> ExportResult:
    """Export the catalog's active captures as the immutable manifest version ``name``.

    ``images``: ``path`` (no image column), ``embed`` (the preview JPEG) or ``embed-full`` (the
    full-resolution original; see :mod:`rainset.manifests.images`). ``license`` goes into the
    dataset card (``README.md``) written beside version.json. ``workers``: processes that make the
    image cells (None: :func:`embed_workers` decides).

    ``pairs``: export the accepted pairs of the pair set ``STORE/pairs/PAIRS`` instead of the
    captures, one row per pair (:mod:`rainset.manifests.pair_rows`); every pair is exported whether
    its frame is labelled or not, ``where`` filters the pair rows, and images stay ``path``.

    When another export records splits of the same new captures at the same moment, the export
    plans again from the records (up to three times), so concurrent exports agree on every split.

    Raises:
        ManifestError: bad or existing name, or another export of the name won the race.
        FilterError: ``where`` is not a filter over manifest columns.
        ConfigError: unknown ``redact`` group or ``images`` mode, bad ``rows_per_file`` or ``license``,
            or ``images`` other than ``path`` with ``pairs``.
        ManifestError (pairs): unknown pair set, no accepted pair, a pair file missing, a pair's video not
            in the catalog.
    """
    validate_name(name)
    drop = parse_redact(redact)
    check_mode(images)
    license = license.strip()
    if not license or any(c.isspace() for c in license) or len(license) > 100:
        raise ConfigError(f"--license {license!r}: give one licence identifier such as cc-by-4.0, cc0-1.0 or other "
                          "(no spaces, at most 100 characters)")
    if rows_per_file < 1:
        raise ConfigError(f"rows per file must be at least 1, got {rows_per_file}")
    if where:
        compile_selection(where)  # fail before any work
    if pairs is not None and images != "path":
        raise ConfigError(f"--images {images} with --pairs: a pairs version references its PNG files "
                          "(rainy_path, clean_path, mask_path); export it with --images path")
    if pairs is not None:
        load_pairset(store, pairs)  # fail before any work: unknown set, no accepted pair
    groups = tuple(dict.fromkeys(g.strip() for r in redact for g in r.split(",") if g.strip()))
    opts = _Options(where, include_unlabelled, groups, drop, seed, tuple(ratios), rows_per_file, images, license, workers,
                    pairs)
    catalog = open_catalog(store.db_url)
    try:
        for _ in range(3):
            try:
                return _export_once(store, catalog, name, opts)
            except _SplitsChanged:
                continue
        raise ManifestError(f"split records kept changing under concurrent exports; export {name!r} again")
    finally:
        catalog.close()


def _export_once(store: Store, catalog: Any, name: str, opts: _Options) -> ExportResult:
    final = store.root / "manifests" / name
    with catalog.session() as s:
        if final.exists() or s.scalar(select(Version.id).where(Version.kind == "manifest", Version.name == name)):
            raise ManifestError(f"manifest version {name!r} already exists; versions are immutable, pick a new name")
        parent = s.scalar(select(Version.name).where(Version.kind == "manifest").order_by(Version.id.desc()).limit(1))
        data = load_rows(s, opts.seed, opts.ratios)
        files = capture_files(s) if opts.where and compile_selection(opts.where).per_file else {}
        loaded = load_pairset(store, opts.pairs) if opts.pairs else None
        if loaded is not None:
            made = pair_rows(s, store, loaded, {r["sample_id"]: r for r in data.rows})
            pair_data = CatalogRows(tuple(made.rows), data.plan, data.seed)
            files = {pid: files[cid] for pid, cid in made.base_of.items() if cid in files}
    rows = (_select(pair_data, opts.where, True, files) if loaded is not None else
            _select(data, opts.where, opts.include_unlabelled, files))
    build = store.tmp_dir / f"export-{name}-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        source = None if opts.images == "path" else ImageSource(store, opts.images, bool(opts.drop),
                                                                    int(store.settings["max_pixels"]))
        files = _write_data(build, rows, opts.drop, opts.rows_per_file, source,
                            embed_workers(opts.images, len(rows), opts.workers))
        counts = _counts(rows)
        info = {"name": name, "parent": parent, "created_at": datetime.now(timezone.utc).isoformat(),
                "schema_version": SCHEMA_VERSION, "taxonomy_version": store.settings["taxonomy_version"],
                "taxonomy": store.settings["taxonomy"], "samples": len(rows), "counts": counts, "files": files,
                "redacted": list(opts.drop), "moves": [asdict(m) for m in data.plan.moves],
                "settings": {"where": opts.where, "include_unlabelled": opts.include_unlabelled,
                             "redact": list(opts.redact), "seed": opts.seed, "ratios": dict(opts.ratios),
                             "rows_per_file": opts.rows_per_file, "images": opts.images, "license": opts.license,
                             "near_duplicate_threshold": store.settings["near_duplicate_threshold"]}}
        if loaded is not None:
            info["settings"]["pairs"] = opts.pairs
            info["pairs"] = _pairs_info(loaded, len(rows), made.removed)
        (build / "version.json").write_text(json.dumps(info, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        facts = card_facts(rows, store.store_id, name, info["settings"])
        (build / "README.md").write_text(dataset_card(info, facts), encoding="utf-8")
        _commit(catalog, build, final, name, parent, info, data)
    finally:
        shutil.rmtree(build, ignore_errors=True)
    return ExportResult(name, str(final), parent, len(rows), counts, tuple(f["path"] for f in files),
                        len(data.plan.new), len(data.plan.moves), opts.drop, opts.images, pairs=opts.pairs)


def _pairs_info(loaded: LoadedPairs, exported: int, removed: tuple[str, ...]) -> dict[str, Any]:
    """version.json's ``pairs``: the set, how it was made, its pairs.json checksum (``rainset shards`` checks
    that the set was not rebuilt since), and how many pairs it holds, accepted and exported."""
    ps = loaded.pairset
    return {"name": loaded.folder.name, "method": ps.method, "threshold": ps.threshold, "created": ps.created,
            "where": ps.where, "index_sha256": loaded.index_sha256, "pairs": len(ps.pairs),
            "accepted": len(ps.accepted()), "exported": exported, "removed": list(removed)}


def _commit(catalog: Any, build: Path, final: Path, name: str, parent: str | None, info: dict,
            data: CatalogRows) -> None:
    """Record the version and move its folder into place, all or nothing."""
    summary = {k: info[k] for k in ("created_at", "schema_version", "samples", "counts", "settings", "redacted")}
    publish(catalog, build, final, lambda s: _record(s, name, parent, summary, data), ManifestError,
            f"manifest version {name!r}")
