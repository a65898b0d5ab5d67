"""Catalog tables (SQLAlchemy 2 declarative). The schema is created by Alembic migrations.

A capture is one shot; it has one or more files (RAW + JPEG of the same shot, exact copies at
other paths). ``captures.id`` is stable: derived once from the content of the file that created
the capture, never recomputed, whichever file later becomes the representative.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from rainset.catalog.base import Base, utcnow


class IngestRun(Base):
    __tablename__ = "ingest_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16), default="running")
    sources: Mapped[list[str]] = mapped_column(JSON, default=list)
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class Capture(Base):
    __tablename__ = "captures"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    representative_sha256: Mapped[str] = mapped_column(String(64))
    format: Mapped[str] = mapped_column(String(8))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    bit_depth: Mapped[int] = mapped_column(Integer)
    source_name: Mapped[str | None] = mapped_column(Text)
    license: Mapped[str | None] = mapped_column(Text)
    owner: Mapped[str | None] = mapped_column(Text)
    make: Mapped[str | None] = mapped_column(Text)
    model: Mapped[str | None] = mapped_column(Text)
    serial: Mapped[str | None] = mapped_column(Text)
    lens: Mapped[str | None] = mapped_column(Text)
    capture_time: Mapped[str | None] = mapped_column(String(40))
    subsec: Mapped[str | None] = mapped_column(String(16))
    time_offset: Mapped[str | None] = mapped_column(String(8))
    exposure_time: Mapped[float | None] = mapped_column(Float)
    f_number: Mapped[float | None] = mapped_column(Float)
    iso: Mapped[int | None] = mapped_column(Integer)
    focal_length: Mapped[float | None] = mapped_column(Float)
    orientation: Mapped[int | None] = mapped_column(Integer)
    gps_lat: Mapped[float | None] = mapped_column(Float)
    gps_lon: Mapped[float | None] = mapped_column(Float)
    gps_alt: Mapped[float | None] = mapped_column(Float)
    warnings: Mapped[list[str]] = mapped_column(JSON, default=list)
    flags: Mapped[list[str]] = mapped_column(JSON, default=list)  # quality flags, filled by dedupe
    status: Mapped[str] = mapped_column(String(16), default="active")
    removed_reason: Mapped[str | None] = mapped_column(Text)
    created_run_id: Mapped[int | None] = mapped_column(ForeignKey("ingest_runs.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # a frame of a video (0010): the video object, the frame's index and presentation time (seconds)
    video_sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    frame_index: Mapped[int | None] = mapped_column(Integer)
    frame_pts: Mapped[float | None] = mapped_column(Float)

    __table_args__ = (Index("ix_captures_serial_time", "serial", "capture_time"),)


class File(Base):
    __tablename__ = "files"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    capture_id: Mapped[str] = mapped_column(ForeignKey("captures.id"), index=True)
    uri: Mapped[str] = mapped_column(Text, unique=True)
    source_dir: Mapped[str] = mapped_column(Text)
    stem: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(BigInteger)
    mtime: Mapped[float | None] = mapped_column(Float)
    format: Mapped[str] = mapped_column(String(8))
    role: Mapped[str] = mapped_column(String(8))  # raw | raster
    storage: Mapped[str] = mapped_column(String(8))  # copy | link
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    bit_depth: Mapped[int] = mapped_column(Integer)
    decoder: Mapped[str] = mapped_column(String(24))
    exif: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    sharpness: Mapped[float | None] = mapped_column(Float)
    clip_low: Mapped[float | None] = mapped_column(Float)
    clip_high: Mapped[float | None] = mapped_column(Float)
    megapixels: Mapped[float | None] = mapped_column(Float)
    duplicate_of: Mapped[int | None] = mapped_column(Integer)  # files.id with the same bytes, seen first
    run_id: Mapped[int | None] = mapped_column(ForeignKey("ingest_runs.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (Index("ix_files_dir_stem", "source_dir", "stem"),)


class Video(Base):
    """One video file as ingested (0010): its object (by sha256) and what its container says.

    One row per source file, like ``files``: an exact copy at another path gets a row with
    ``duplicate_of`` set and no frames of its own. The frames kept at ingest are captures with
    ``captures.video_sha256`` set (see docs/store-format.md).
    """

    __tablename__ = "videos"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    uri: Mapped[str] = mapped_column(Text, unique=True)
    size: Mapped[int] = mapped_column(BigInteger)
    mtime: Mapped[float | None] = mapped_column(Float)
    storage: Mapped[str] = mapped_column(String(8))  # copy | link
    container: Mapped[str] = mapped_column(String(8))  # mp4 | mov | mkv | avi | unknown
    codec: Mapped[str] = mapped_column(String(32))
    width: Mapped[int] = mapped_column(Integer)  # coded size; frame captures hold the upright size
    height: Mapped[int] = mapped_column(Integer)
    rotation: Mapped[int] = mapped_column(Integer, default=0)  # degrees turned clockwise for display
    fps: Mapped[float | None] = mapped_column(Float)
    duration: Mapped[float | None] = mapped_column(Float)  # seconds
    frame_count: Mapped[int | None] = mapped_column(Integer)  # declared by the container
    frames_decoded: Mapped[int] = mapped_column(Integer, default=0)
    frames_kept: Mapped[int] = mapped_column(Integer, default=0)
    make: Mapped[str | None] = mapped_column(Text)
    model: Mapped[str | None] = mapped_column(Text)
    creation_time: Mapped[str | None] = mapped_column(String(40))  # ISO 8601 UTC
    gps_lat: Mapped[float | None] = mapped_column(Float)
    gps_lon: Mapped[float | None] = mapped_column(Float)
    gps_alt: Mapped[float | None] = mapped_column(Float)
    sampling: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # every, max_fps, min_change, skipped
    warnings: Mapped[list[str]] = mapped_column(JSON, default=list)
    duplicate_of: Mapped[int | None] = mapped_column(Integer)  # videos.id with the same bytes, seen first
    run_id: Mapped[int | None] = mapped_column(ForeignKey("ingest_runs.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Hash(Base):
    """Hashes of one content (sha256): computed once, shared by every file with those bytes."""

    __tablename__ = "hashes"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    phash: Mapped[str] = mapped_column(String(16), index=True)
    dhash: Mapped[str] = mapped_column(String(16), index=True)
    pixel_hash: Mapped[str] = mapped_column(String(64), index=True)
    thumb: Mapped[bytes] = mapped_column(LargeBinary)
    decoder: Mapped[str] = mapped_column(String(24))


class Reject(Base):
    __tablename__ = "rejects"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uri: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64), default="")
    size: Mapped[int | None] = mapped_column(BigInteger)
    mtime: Mapped[float | None] = mapped_column(Float)
    reason: Mapped[str] = mapped_column(String(32), index=True)
    detail: Mapped[str] = mapped_column(Text)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("ingest_runs.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (UniqueConstraint("uri", "sha256", name="uq_rejects_uri_sha256"),)


class Group(Base):
    """A dedupe cluster, burst or scene group (filled by ``rainset dedupe``)."""

    __tablename__ = "groups"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), index=True)  # cluster | burst | scene
    info: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class GroupMember(Base):
    __tablename__ = "group_members"

    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id"), primary_key=True)
    capture_id: Mapped[str] = mapped_column(ForeignKey("captures.id"), primary_key=True)
    relation: Mapped[str] = mapped_column(String(24))  # exact | near-duplicate | same-scene | burst
    is_representative: Mapped[bool] = mapped_column(Boolean, default=False)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))  # annotator | reviewer | admin
    token_hash: Mapped[str] = mapped_column(String(128))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # bumped by sign-out, token rotation and disable: session cookies carrying an older epoch stop working
    session_epoch: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # optional; Label Studio names annotators by e-mail (default NAME@rainset.invalid when unset)
    email: Mapped[str | None] = mapped_column(String(254), nullable=True, unique=True, index=True)


class Label(Base):
    """One annotator's (or a reviewer's adjudicated) label: appended, never overwritten."""

    __tablename__ = "labels"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    capture_id: Mapped[str] = mapped_column(ForeignKey("captures.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    rain_type: Mapped[str] = mapped_column(String(32))
    attributes: Mapped[list[str]] = mapped_column(JSON, default=list)
    kind: Mapped[str] = mapped_column(String(16), default="label")  # label | adjudication | undo
    taxonomy_version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Version(Base):
    """A named, immutable manifest or shard version."""

    __tablename__ = "versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(16))  # manifest | shards | suggest-model
    parent: Mapped[str | None] = mapped_column(String(128))
    path: Mapped[str] = mapped_column(Text)
    info: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (UniqueConstraint("kind", "name", name="uq_versions_kind_name"),)


class CatalogMeta(Base):
    """Key/value facts about the catalog itself; ``store_id`` ties it to one store's rainset.toml (0007)."""

    __tablename__ = "catalog_meta"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
