"""``rainset rejects``: the files ingest refused, with the reason, newest first."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timezone

from sqlalchemy import select

from rainset.catalog.db import catalog_session
from rainset.catalog.models import Reject
from rainset.errors import REJECT_REASONS, ConfigError
from rainset.store import Store


@dataclass(frozen=True)
class RejectedFile:
    """One rejected file (a ``rejects`` row)."""

    path: str  # the path or URI as ingest saw it
    reason: str  # one of rainset.errors.REJECT_REASONS
    detail: str
    size: int | None  # bytes, when the file could be measured
    when: str  # ISO 8601 UTC time of the rejection
    sha256: str  # '' when the file could not be read


@dataclass(frozen=True)
class RejectList:
    """The ``--json`` output of ``rainset rejects`` (keys are stable)."""

    reason: str | None  # the --reason filter, or None
    count: int
    rejects: tuple[RejectedFile, ...]

    def to_dict(self) -> dict:
        return asdict(self)

    def lines(self) -> list[str]:
        """One line per file: when, reason, size, path, then the detail indented."""
        if not self.rejects:
            return ["no rejected files" + (f" with reason {self.reason!r}" if self.reason else "")]
        out = [f"{self.count} rejected files" + (f" ({self.reason})" if self.reason else "")]
        for r in self.rejects:
            size = "-" if r.size is None else f"{r.size} B"
            out += [f"  {r.when[:19]}  {r.reason:<20} {size:>12}  {r.path}", f"      {r.detail}"]
        return out


def _iso(value: datetime | None) -> str:
    if value is None:
        return ""
    return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).isoformat()


def list_rejects(store: Store, reason: str | None = None) -> RejectList:
    """The store's rejected files, newest first, optionally of one ``reason``.

    Raises:
        ConfigError: ``reason`` is not one of ``REJECT_REASONS``.
    """
    if reason is not None and reason not in REJECT_REASONS:
        raise ConfigError(f"--reason {reason!r}: unknown reject reason; choose from {', '.join(sorted(REJECT_REASONS))}")
    query = select(Reject).order_by(Reject.created_at.desc(), Reject.id.desc())
    if reason is not None:
        query = query.where(Reject.reason == reason)
    with catalog_session(store.db_url) as s:
        rows = tuple(RejectedFile(r.uri, r.reason, r.detail, r.size, _iso(r.created_at), r.sha256 or "")
                     for r in s.scalars(query))
    return RejectList(reason, len(rows), rows)
