"""``rainset shards``: WebDataset tar shards of an exported manifest version.

The shards are built under ``STORE/tmp/`` and renamed into ``STORE/shards/NAME/`` inside the
catalog transaction that records the ``versions`` row (kind ``shards``); the unique (kind, name)
constraint decides a race, so a name is built once and never changes (docs/shards.md).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import secrets
import shutil
import time
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Callable, Iterator

from sqlalchemy import select

from rainset.catalog.db import open_catalog
from rainset.catalog.models import Version
from rainset.errors import ShardsError
from rainset.manifests.schema import PAIR_MEMBERS, SPLITS
from rainset.manifests.versions import ManifestVersion, add_version_row, check_files, open_version, publish, validate_name
from rainset.shards.index import index_document, write_indexes
from rainset.shards.render import Rendered, RenderFailure, RenderJob, RenderSettings, render_sample
from rainset.shards.sizes import format_size
from rainset.shards.tarwrite import ShardInfo, ShardWriter, closed_size, member_bytes
from rainset.store import Store
from rainset.workers import run, worker_init

DEFAULT_TARGET = 512 * 1000**2
SAMPLES_PER_WORKER = 100
_SHA_RE = re.compile(r"[0-9a-f]{64}")
_KEY_RE = re.compile(r"[A-Za-z0-9_-]{1,200}")


@dataclass(frozen=True)
class ShardOptions:
    """Settings of one build (``render`` is recorded in index.json with ``target_size``)."""

    render: RenderSettings = field(default_factory=RenderSettings)
    target_size: int = DEFAULT_TARGET
    workers: int | None = 1  # None: one per CPU core once there are enough samples to pay for starting them
    skip_bad: bool = False

    def settings(self) -> dict[str, Any]:
        r = self.render
        return {"format": r.format, "max_side": r.max_side, "target_size": self.target_size,
                "with_raw": r.with_raw, "quality": r.quality}


@dataclass(frozen=True)
class ShardsResult:
    """What ``rainset shards`` wrote (its ``--json`` output)."""

    name: str
    manifest: str
    path: str
    samples: int
    shards: int
    bytes: int
    splits: dict[str, dict[str, int]]
    settings: dict[str, Any]
    fallbacks: int
    skipped: list[dict[str, str]]
    seconds: float

    def to_dict(self) -> dict:
        return asdict(self)

    def lines(self) -> list[str]:
        per = ", ".join(f"{s} {c['nsamples']} in {c['shards']}" for s, c in self.splits.items())
        lines = [f"shards {self.name}: {self.samples} samples in {self.shards} shards ({per}), "
                 f"{format_size(self.bytes)} in {self.seconds:.1f} s",
                 f"format {self.settings['format']}, max side {self.settings['max_side'] or 'full'}, "
                 f"target {format_size(self.settings['target_size'])}; path: {self.path}"]
        if self.fallbacks:
            lines.append(f"{self.fallbacks} samples have 8 bits only: written as 8-bit PNG instead of 16-bit TIFF")
        if self.skipped:
            lines.append(f"skipped {len(self.skipped)} samples (listed in index.json): "
                         + "; ".join(f"{s['sample_id']} ({s['reason']})" for s in self.skipped[:3]))
        return lines


def order_key(sample_id: str) -> str:
    """The fixed pseudo-random order of samples inside a split (mixes labels and sources)."""
    return hashlib.sha256(sample_id.encode("utf-8")).hexdigest()


def _json_value(value: Any) -> Any:
    """Timestamps as ISO text, NaN and infinities as null (strict JSON), containers walked."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    return value


def row_json(row: dict[str, Any]) -> bytes:
    """A manifest row as the sample's JSON member: sorted keys, UTF-8, compact, strict JSON."""
    return json.dumps(_json_value(row), sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                      allow_nan=False).encode("utf-8")


def _location(store: Store, row: dict[str, Any]) -> str:
    if row["path"] is not None:
        return str(store.object_path(row["sha256"]))
    return row["source_uri"]  # link mode: the file where it was ingested from


def _pair_files(store: Store, row: dict[str, Any]) -> tuple[str, str, str] | None:
    """The local rainy, clean and mask files of a pair row (None for a capture row, or a version written
    before the pair columns existed). Paths that leave the store are refused."""
    rels = [row.get(column) for column in PAIR_MEMBERS.values()]
    if all(r is None for r in rels):
        return None
    root = store.root.resolve()
    files = []
    for column, rel in zip(PAIR_MEMBERS.values(), rels):
        path = (root / rel).resolve() if rel else None
        if path is None or not path.is_relative_to(root):
            raise ShardsError(f"sample {row['sample_id']}: {column} {rel!r} is not a path inside the store")
        files.append(str(path))
    return files[0], files[1], files[2]


def check_pairset(store: Store, version: ManifestVersion) -> None:
    """A pairs version's pair set must be the one exported: same ``pairs.json`` (sha256) as then."""
    pairs = version.info.get("pairs")
    if not pairs:
        return
    index = store.root / "pairs" / pairs["name"] / "pairs.json"
    try:
        digest = hashlib.sha256(index.read_bytes()).hexdigest()
    except OSError as exc:
        raise ShardsError(f"manifest {version.name}: its pair set {pairs['name']!r} cannot be read ({index}: "
                          f"{exc.strerror or exc})") from exc
    if digest != pairs["index_sha256"]:
        raise ShardsError(f"manifest {version.name}: pair set {pairs['name']!r} changed since the export (its "
                          "pairs.json differs): export a new version from it and shard that")


def _jobs(store: Store, version: ManifestVersion, settings: RenderSettings) -> dict[str, list[tuple[dict, RenderJob]]]:
    """Rows per split in shard order, each with its render job; checks keys and hashes first."""
    per: dict[str, list[tuple[dict, RenderJob]]] = {s: [] for s in SPLITS}
    for row in version.rows():
        sid = row["sample_id"]
        if not _KEY_RE.fullmatch(sid) or not _SHA_RE.fullmatch(row["sha256"] or ""):
            raise ShardsError(f"manifest {version.name}: sample {sid!r} has an invalid id or sha256")
        if row["split"] not in per:
            raise ShardsError(f"manifest {version.name}: sample {sid} has unknown split {row['split']!r}")
        job = RenderJob(sid, _location(store, row), row["sha256"], row["format"], row["file_name"],
                        row.get("orientation"), settings, row.get("frame_index"), row.get("frame_pts"),
                        _pair_files(store, row))
        per[row["split"]].append((row, job))
    for items in per.values():
        items.sort(key=lambda item: order_key(item[1].sample_id))
    return per


def _missing_first(per: dict[str, list[tuple[dict, RenderJob]]], skip_bad: bool) -> None:
    """Fail before any work when originals in the store are gone (unless they are to be skipped)."""
    missing = [job.sample_id for items in per.values() for _, job in items
               if (job.pair is None and "://" not in job.location and not os.path.isfile(job.location))
               or (job.pair is not None and not all(os.path.isfile(p) for p in job.pair))]
    if missing and not skip_bad:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise ShardsError(f"{len(missing)} samples have no original (or pair file) in the store: {shown}; "
                          "restore them ('rainset verify' lists the objects) or pass --skip-bad")


def auto_workers(samples: int) -> int:
    """Worker processes for ``samples``: a spawned worker costs 1-3 s to start, so one per ~100 samples."""
    return max(1, min(os.cpu_count() or 1, samples // SAMPLES_PER_WORKER))


def _rendered(jobs: list[RenderJob], workers: int | None) -> Iterator[Rendered | RenderFailure]:
    """Render results in job order: in this process, or on spawned workers (one OpenCV thread each)."""
    n = auto_workers(len(jobs)) if workers is None else workers
    return run(render_sample, jobs, engine="local", workers=n, initializer=worker_init)


def _write_split(folder: Path, split: str, items: list[tuple[dict, RenderJob]], results: Iterator,
                 opts: ShardOptions, done: Callable[[], None], skipped: list[dict[str, str]]) -> tuple[list[ShardInfo], int]:
    """Write one split's shards; a new shard starts when the next sample would take the file past the target
    size (a sample bigger than the target gets a shard of its own)."""
    shards: list[ShardInfo] = []
    writer: ShardWriter | None = None
    fallbacks = 0
    try:
        for row, _job in items:
            result = next(results)
            done()
            if isinstance(result, RenderFailure):
                if not opts.skip_bad:
                    raise ShardsError(f"sample {result.sample_id} ({row['file_name']}): {result.reason}: "
                                      f"{result.detail}; fix it or pass --skip-bad to leave it out (recorded)")
                skipped.append({"sample_id": result.sample_id, "split": split, "reason": result.reason,
                                "detail": result.detail})
                continue
            members = [("json", row_json(row)), (result.image_ext, result.image), *result.extra]
            if result.raw is not None and result.raw_ext:
                members.append((result.raw_ext, result.raw))
            size = sum(member_bytes(len(data)) for _, data in members)
            if writer is not None and writer.nsamples and closed_size(writer.offset + size) > opts.target_size:
                shards.append(writer.close())
                writer = None
            if writer is None:
                writer = ShardWriter(folder / f"rain-{split}-{len(shards):06d}.tar")
            writer.add_sample(result.sample_id, members, row["rain_type"] or "unlabelled", result.image_ext)
            fallbacks += result.fallback
        if writer is not None:
            shards.append(writer.close())
            writer = None
    finally:
        if writer is not None:
            writer.abort()
    return shards, fallbacks


def _check_name(store: Store, catalog: Any, name: str) -> Path:
    final = store.root / "shards" / name
    with catalog.session() as s:
        known = s.scalar(select(Version.id).where(Version.kind == "shards", Version.name == name))
    if known or final.exists():
        raise ShardsError(f"shards {name!r} already exist at {final}; shards are immutable, pick a new name "
                          "(--name) or build from a new manifest version")
    return final


def build_shards(store: Store, name: str, options: ShardOptions | None = None,
                 progress: Callable[[int, int], None] | None = None, *, manifest: str | None = None) -> ShardsResult:
    """Build the immutable shards ``STORE/shards/NAME/`` from manifest version ``manifest`` (default: NAME).

    Raises:
        ShardsError: the name exists, an original is missing, damaged or undecodable (without
            ``skip_bad``), or the build cannot be recorded.
        ManifestError: no such manifest version, or its data files fail their checksums.
        ConfigError: bad render settings.
    """
    opts = options or ShardOptions()
    opts.render.check()
    validate_name(name)
    manifest = manifest or name
    version = open_version(store, manifest)
    problems = check_files(version)
    if problems:
        raise ShardsError(f"manifest {manifest} is damaged: {'; '.join(problems[:3])}")
    check_pairset(store, version)
    if opts.render.with_raw and version.info.get("redacted"):
        # rendered images are encoded from pixels and carry no metadata; RAW originals would carry it all
        raise ShardsError(f"manifest {manifest} is redacted ({', '.join(version.info['redacted'])}): --with-raw "
                          "would ship the RAW originals with their GPS and serial EXIF; build without --with-raw")
    started = time.perf_counter()
    catalog = open_catalog(store.db_url)
    try:
        final = _check_name(store, catalog, name)
        per = _jobs(store, version, opts.render)
        _missing_first(per, opts.skip_bad)
        build = store.tmp_dir / f"shards-{name}-{os.getpid()}-{secrets.token_hex(4)}"
        try:
            build.mkdir(parents=True)
            index, fallbacks = _build(build, name, manifest, per, opts, progress)
            info = summary(index)
            row = Version(name=name, kind="shards", parent=manifest, path=f"shards/{name}", info=info)
            publish(catalog, build, final, lambda s: add_version_row(s, row, ShardsError, f"shards {name!r}"),
                    ShardsError, f"shards {name!r}")
        except OSError as exc:  # disk full, or tmp/ swept by an ingest meanwhile
            raise ShardsError(f"cannot write shards {name!r} under {build}: {exc.strerror or exc}") from exc
        finally:
            shutil.rmtree(build, ignore_errors=True)
    finally:
        catalog.close()
    splits = info["splits"]
    return ShardsResult(name, manifest, str(final), info["samples"], sum(c["shards"] for c in splits.values()),
                        sum(c["bytes"] for c in splits.values()), splits, index["settings"], fallbacks,
                        index["skipped"], round(time.perf_counter() - started, 2))


def summary(index: dict[str, Any]) -> dict[str, Any]:
    """The ``info`` of the versions row: manifest, settings, per split samples/shards/bytes, totals."""
    splits = {s: {"nsamples": b["nsamples"], "shards": len(b["shardlist"]),
                  "bytes": sum(x["filesize"] for x in b["shardlist"])} for s, b in index["splits"].items()}
    return {"manifest": index["manifest"], "settings": index["settings"], "splits": splits,
            "samples": sum(c["nsamples"] for c in splits.values()), "skipped": len(index["skipped"])}


def _build(build: Path, name: str, manifest: str, per: dict[str, list[tuple[dict, RenderJob]]], opts: ShardOptions,
           progress: Callable[[int, int], None] | None) -> tuple[dict[str, Any], int]:
    """Render every sample (one pool for all splits, results in order) and write shards and indexes."""
    total = sum(len(items) for items in per.values())
    jobs = [job for items in per.values() for _, job in items]
    results = _rendered(jobs, opts.workers)
    count = [0]

    def done() -> None:
        count[0] += 1
        if progress:
            progress(count[0], total)

    skipped: list[dict[str, str]] = []
    splits: dict[str, list[ShardInfo]] = {}
    fallbacks = 0
    try:
        for split, items in per.items():
            splits[split], n = _write_split(build, split, items, results, opts, done, skipped)
            fallbacks += n
    finally:
        close = getattr(results, "close", None)
        if close:
            close()  # stop the pool early on an error
    index = index_document(name, manifest, opts.settings(), splits, skipped)
    write_indexes(build, index)
    return index, fallbacks
