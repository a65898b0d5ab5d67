"""The driver's side: write the workers' results into the catalog, one batch per transaction.

Pairing rules (one shot = one capture):
- files of one unit (same folder and stem) with a RAW and a raster file pair up;
- a new file pairs with an existing capture whose file in the same folder has the same stem,
  or whose camera serial and capture time (with SubSec) match, when that capture lacks a file of
  the new file's role (RAW or raster);
- a file whose bytes are already known (same sha256 elsewhere) joins that file's capture as an
  exact copy; nothing is decoded or stored twice.
The RAW file becomes the representative when a capture has one.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, fields

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from rainset.catalog.models import Capture, File, Hash, Reject
from rainset.records import FileResult

from rainset.ingest.sources import SourceFile


@dataclass(frozen=True)
class Provenance:
    """Recorded on every capture an ingest creates."""

    source_name: str | None = None
    license: str | None = None
    owner: str | None = None


@dataclass
class BatchCounts:
    """What a batch (or a whole run) added to the catalog."""

    new_captures: int = 0
    new_files: int = 0
    exact_copies: int = 0
    paired: int = 0
    rejects: Counter = field(default_factory=Counter)
    bytes_stored: int = 0
    warnings: int = 0
    videos: int = 0

    def add(self, other: "BatchCounts") -> None:
        self.new_captures += other.new_captures
        self.new_files += other.new_files
        self.exact_copies += other.exact_copies
        self.paired += other.paired
        self.rejects.update(other.rejects)
        self.bytes_stored += other.bytes_stored
        self.warnings += other.warnings
        self.videos += other.videos


def capture_id_for(sha256: str) -> str:
    """The stable id of a capture created by the file with this content."""
    return "c" + sha256[:24]


def _role(fmt: str | None) -> str:
    return "raw" if fmt == "raw" else "raster"


EXIF_TO_CAPTURE = {"offset": "time_offset"}


def _exif_dict(result: FileResult) -> dict:
    """``dataclasses.asdict(result.exif)`` (its fields are flat: no deep copy needed), ~8x faster."""
    exif = result.exif
    return {f.name: getattr(exif, f.name) for f in fields(exif)} if exif else {}


def _exif_columns(result: FileResult) -> dict:
    exif = _exif_dict(result)
    exif.pop("warnings", None)
    return {EXIF_TO_CAPTURE.get(k, k): v for k, v in exif.items()}


@dataclass
class FileRef:
    """What a later file of the batch needs about a file row: its id (None until inserted)."""

    id: int | None
    capture_id: str


@dataclass
class PendingRows:
    """Rows a batch adds, inserted with one Core ``INSERT`` per table (and run of same columns).

    Captures, hashes and files are plain dicts until :meth:`write`; a file row's ``FileRef`` gets
    its id then. Captures of this batch already inserted (an earlier :meth:`write` of the same
    batch) that a later file merges into are updated in place at the next one.
    """

    captures: dict[str, dict] = field(default_factory=dict)  # id -> row, in creation order
    inserted_captures: set[str] = field(default_factory=set)
    dirty_captures: set[str] = field(default_factory=set)
    hashes: list[dict] = field(default_factory=list)
    files: list[tuple[dict, FileRef]] = field(default_factory=list)
    rejects: list[dict] = field(default_factory=list)

    def write(self, session: Session) -> None:
        """Insert everything pending, in the order it was added (captures before their files)."""
        session.flush()  # ORM rows of the same transaction (a video's) go first
        new_caps = [row for cid, row in self.captures.items() if cid not in self.inserted_captures]
        _insert_runs(session, Capture.__table__, new_caps)
        self.inserted_captures.update(row["id"] for row in new_caps)
        for cid in sorted(self.dirty_captures):
            row = self.captures[cid]
            session.execute(update(Capture.__table__).where(Capture.__table__.c.id == cid)
                            .values({k: v for k, v in row.items() if k not in ("id", "created_at")}))
        self.dirty_captures.clear()
        _insert_runs(session, Hash.__table__, self.hashes)
        if self.files:
            table = File.__table__
            # Ids come back by URI (unique): multi-row VALUES need not return them in order.
            result = session.execute(insert(table).returning(table.c.uri, table.c.id), [row for row, _ in self.files])
            ids = {uri: file_id for uri, file_id in result.all()}
            for row, ref in self.files:
                ref.id = ids[row["uri"]]
        _insert_runs(session, Reject.__table__, self.rejects)
        self.hashes, self.files, self.rejects = [], [], []


def _insert_runs(session: Session, table, rows: list[dict]) -> None:  # noqa: ANN001
    """Insert ``rows`` in order, one executemany per run of rows with the same columns (a column a
    row leaves out gets its default, as the ORM's insert gave it)."""
    start = 0
    while start < len(rows):
        keys = rows[start].keys()
        end = start + 1
        while end < len(rows) and rows[end].keys() == keys:
            end += 1
        session.execute(insert(table), rows[start:end])
        start = end


def _get(capture: Capture | dict, key: str):  # noqa: ANN202
    return capture.get(key) if isinstance(capture, dict) else getattr(capture, key)


@dataclass
class BatchIndex:
    """What the catalog already holds about one batch's files, read in a few bulk queries.

    Replaces about six queries and a flush per file. Rows the batch adds are recorded here as they
    are added, so later files of the same batch see them exactly as the per-file queries did, and
    kept in ``rows`` until the caller writes them (:meth:`PendingRows.write`) before committing.
    """

    uris: set[str] = field(default_factory=set)
    first_by_sha: dict[str, FileRef] = field(default_factory=dict)  # lowest-id file of that content
    hashes: set[str] = field(default_factory=set)
    by_dir_stem: dict[tuple[str, str], list[tuple[str, str]]] = field(default_factory=dict)  # -> (capture, role)
    by_serial_time: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    roles: dict[str, set[str]] = field(default_factory=dict)  # capture id -> roles of its files
    rejects: set[tuple[str, str]] = field(default_factory=set)  # (uri, sha256) of recorded rejects
    rows: PendingRows = field(default_factory=PendingRows)

    @classmethod
    def load(cls, session: Session, pairs: list[tuple[SourceFile, FileResult]]) -> "BatchIndex":
        """Read what the catalog holds about the results in ``pairs``."""
        index = cls()
        reject_uris = sorted({r.uri for _, r in pairs if not r.ok})
        for chunk in _chunks(reject_uris):
            index.rejects.update(session.execute(select(Reject.uri, Reject.sha256).where(Reject.uri.in_(chunk))))
        ok = [(src, r) for src, r in pairs if r.ok]
        if not ok:
            return index
        uris = [src.uri for src, _ in ok]
        shas = sorted({r.sha256 for _, r in ok if r.sha256})
        dirs = sorted({src.source_dir for src, _ in ok})
        stems = sorted({src.stem.lower() for src, _ in ok})
        serials = sorted({r.exif.serial for _, r in ok if r.exif and r.exif.serial and r.exif.capture_time})
        for chunk in _chunks(uris):
            index.uris.update(session.scalars(select(File.uri).where(File.uri.in_(chunk))))
        for chunk in _chunks(shas):
            for file_id, cap_id, sha in session.execute(select(File.id, File.capture_id, File.sha256)
                                                        .where(File.sha256.in_(chunk)).order_by(File.id)):
                index.first_by_sha.setdefault(sha, FileRef(file_id, cap_id))
            index.hashes.update(session.scalars(select(Hash.sha256).where(Hash.sha256.in_(chunk))))
        keys = {(src.source_dir, src.stem.lower()) for src, _ in ok}
        candidates: set[str] = set()
        rows = [row for stem_chunk in _chunks(stems) for dir_chunk in _chunks(dirs)
                for row in session.execute(select(File.id, File.capture_id, File.source_dir, File.stem, File.role)
                                           .where(File.stem.in_(stem_chunk), File.source_dir.in_(dir_chunk)))]
        for _, cap_id, sdir, stem, role in sorted(rows):  # in id order, as the per-file query read them
            if (sdir, stem) in keys:
                index.by_dir_stem.setdefault((sdir, stem), []).append((cap_id, role))
                candidates.add(cap_id)
        wanted = {(r.exif.serial, r.exif.capture_time) for _, r in ok
                  if r.exif and r.exif.serial and r.exif.capture_time}
        for chunk in _chunks(serials):
            rows = session.execute(select(Capture.id, Capture.serial, Capture.capture_time)
                                   .where(Capture.serial.in_(chunk)).order_by(Capture.id))
            for cap_id, serial, ctime in rows:
                if (serial, ctime) in wanted:
                    index.by_serial_time.setdefault((serial, ctime), []).append(cap_id)
                    candidates.add(cap_id)
        for chunk in _chunks(sorted(candidates)):
            for cap_id, role in session.execute(select(File.capture_id, File.role).where(File.capture_id.in_(chunk))):
                index.roles.setdefault(cap_id, set()).add(role)
        return index

    def find_partner(self, src: SourceFile, result: FileResult, role: str) -> str | None:
        """An existing capture this new file is the other half of (RAW+JPEG of one shot)."""
        for cap_id, other in self.by_dir_stem.get((src.source_dir, src.stem.lower()), ()):
            if other != role and role not in self.roles.get(cap_id, ()):
                return cap_id
        exif = result.exif
        if exif and exif.serial and exif.capture_time:
            for cap_id in self.by_serial_time.get((exif.serial, exif.capture_time), ()):
                if role not in self.roles.get(cap_id, ()):
                    return cap_id
        return None

    def capture(self, session: Session, capture_id: str) -> Capture | dict | None:
        """The batch's own row (a dict) of a capture it created, else the catalog's (ORM)."""
        return self.rows.captures.get(capture_id) or session.get(Capture, capture_id)

    def added_capture(self, capture: Capture | dict) -> None:
        """Record a capture the batch created or whose serial/time a merge may have filled."""
        cid, serial, ctime = _get(capture, "id"), _get(capture, "serial"), _get(capture, "capture_time")
        if isinstance(capture, dict):
            self.rows.captures.setdefault(cid, capture)
            if cid in self.rows.inserted_captures:
                self.rows.dirty_captures.add(cid)
        if serial and ctime:
            ids = self.by_serial_time.setdefault((serial, ctime), [])
            if cid not in ids:
                ids.append(cid)

    def added_file(self, row: dict) -> None:
        ref = FileRef(None, row["capture_id"])
        self.rows.files.append((row, ref))
        self.uris.add(row["uri"])
        self.first_by_sha.setdefault(row["sha256"], ref)
        self.by_dir_stem.setdefault((row["source_dir"], row["stem"]), []).append((row["capture_id"], row["role"]))
        self.roles.setdefault(row["capture_id"], set()).add(row["role"])


IN_CHUNK = 500  # values per IN (...) list: far below SQLite's bound-parameter limit


def _chunks(values: list[str]) -> list[list[str]]:
    return [values[i:i + IN_CHUNK] for i in range(0, len(values), IN_CHUNK)]


def _new_capture(result: FileResult, prov: Provenance, run_id: int) -> dict:
    """The ``captures`` row (its columns) of a capture this file creates."""
    assert result.sha256 and result.format
    return dict(
        id=capture_id_for(result.sha256), representative_sha256=result.sha256, format=result.format,
        width=result.width, height=result.height, bit_depth=result.bit_depth,
        source_name=prov.source_name, license=prov.license, owner=prov.owner,
        warnings=list(result.warnings), created_run_id=run_id, **_exif_columns(result),
    )


def _merge_into(capture: Capture | dict, result: FileResult) -> None:
    """A second file of the same shot: fill missing EXIF; a RAW becomes the representative.

    ``capture``: the catalog's row (ORM, updated at commit) or one this batch created (a dict).
    """
    changes: dict = {}
    for key, value in _exif_columns(result).items():
        if _get(capture, key) is None and value is not None:
            changes[key] = value
    if result.format == "raw" and _get(capture, "format") != "raw":
        changes.update(representative_sha256=result.sha256, format=result.format, width=result.width,
                       height=result.height, bit_depth=result.bit_depth)
    if result.warnings:
        changes["warnings"] = list(_get(capture, "warnings") or []) + list(result.warnings)
    if isinstance(capture, dict):
        capture.update(changes)
    else:
        for key, value in changes.items():
            setattr(capture, key, value)


def _file_row(src: SourceFile, result: FileResult, capture_id: str, run_id: int, link: bool,
              duplicate_of: int | None) -> dict:
    """The ``files`` row (its columns)."""
    q = result.quality
    exif = _exif_dict(result)
    exif["warnings"] = list(exif.get("warnings", ()))
    return dict(
        capture_id=capture_id, uri=src.uri, source_dir=src.source_dir, stem=src.stem.lower(),
        sha256=result.sha256, size=result.size, mtime=result.mtime, format=result.format,
        role=_role(result.format), storage="link" if link else "copy",
        width=result.width, height=result.height, bit_depth=result.bit_depth, decoder=result.decoder,
        exif=exif, sharpness=q.sharpness if q else None, clip_low=q.clip_low if q else None,
        clip_high=q.clip_high if q else None, megapixels=q.megapixels if q else None,
        duplicate_of=duplicate_of, run_id=run_id,
    )


def _write_reject(index: BatchIndex, result: FileResult, run_id: int, counts: BatchCounts) -> None:
    sha = result.sha256 or ""
    if (result.uri, sha) not in index.rejects:
        index.rejects.add((result.uri, sha))
        index.rows.rejects.append(dict(uri=result.uri, sha256=sha, size=result.size, mtime=result.mtime,
                                       reason=result.reject_reason, detail=result.reject_detail or "",
                                       run_id=run_id))
        counts.rejects[result.reject_reason] += 1


def write_unit(session: Session, unit: tuple[SourceFile, ...], results: tuple[FileResult, ...], *,
               run_id: int, prov: Provenance, link: bool, index: BatchIndex | None = None) -> BatchCounts:
    """Write one unit's results; the caller commits the batch.

    ``index``: what the catalog holds about the whole batch (:meth:`BatchIndex.load`), shared by
    its units, whose rows the caller then inserts (``index.rows.write(session)``); without it the
    unit's own is read here, and its rows inserted before returning.
    """
    if index is None:
        index = BatchIndex.load(session, list(zip(unit, results)))
        counts = _write_unit(session, unit, results, run_id=run_id, prov=prov, link=link, index=index)
        index.rows.write(session)
        return counts
    return _write_unit(session, unit, results, run_id=run_id, prov=prov, link=link, index=index)


def _write_unit(session: Session, unit: tuple[SourceFile, ...], results: tuple[FileResult, ...], *,
                run_id: int, prov: Provenance, link: bool, index: BatchIndex) -> BatchCounts:
    counts = BatchCounts()
    unit_capture: dict[str, str] = {}  # role -> capture id made or joined by this unit
    for src, result in zip(unit, results):
        if not result.ok:
            _write_reject(index, result, run_id, counts)
            continue
        if src.uri in index.uris:
            continue  # already recorded (a rerun racing a previous batch)
        role = _role(result.format)
        same = index.first_by_sha.get(result.sha256)
        if same is not None:
            if same.id is None:
                index.rows.write(session)  # a file added earlier in this batch: its id is the duplicate_of
            row = _file_row(src, result, same.capture_id, run_id, link, duplicate_of=same.id)
            index.added_file(row)
            counts.new_files += 1
            counts.exact_copies += 1
            continue
        if result.sha256 not in index.hashes:
            h = result.hashes
            assert h is not None
            index.rows.hashes.append(dict(sha256=result.sha256, phash=h.phash, dhash=h.dhash,
                                          pixel_hash=h.pixel_hash, thumb=h.thumb, decoder=result.decoder))
            index.hashes.add(result.sha256)
        other_role = "raster" if role == "raw" else "raw"
        capture_id = unit_capture.get(other_role) if role not in unit_capture else None
        if capture_id is None:
            capture_id = index.find_partner(src, result, role)
        if capture_id is not None:
            capture = index.capture(session, capture_id)
            assert capture is not None
            _merge_into(capture, result)
            counts.paired += 1
        else:
            capture = _new_capture(result, prov, run_id)
            capture_id = capture["id"]
            counts.new_captures += 1
        index.added_capture(capture)
        unit_capture.setdefault(role, capture_id)
        row = _file_row(src, result, capture_id, run_id, link, duplicate_of=None)
        index.added_file(row)
        counts.new_files += 1
        counts.bytes_stored += result.size if result.stored else 0
        counts.warnings += bool(result.warnings)
    return counts
