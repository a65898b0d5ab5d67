"""``rainset rejects`` and the admin page: the files ingest refused, with the reason, newest first."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timezone

from sqlalchemy import func, select
from sqlalchemy.orm import Session

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


@dataclass(frozen=True)
class RejectPage:
    """One page of rejected files (the admin page and its JSON twin ``GET /api/rejects``)."""

    reason: str | None  # the filter, or None
    total: int  # files matching the filter, all pages
    limit: int
    offset: int
    rejects: tuple[RejectedFile, ...]
    reasons: dict[str, int]  # every reason with at least one file: how many (ignores the filter)


PAGE_MAX = 500


def _iso(value: datetime | None) -> str:
    if value is None:
        return ""
    return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).isoformat()


def check_reason(reason: str | None) -> str | None:
    """``reason`` when it is None or one of ``REJECT_REASONS``, else ConfigError naming it."""
    if reason is not None and reason not in REJECT_REASONS:
        raise ConfigError(f"--reason {reason!r}: unknown reject reason; choose from {', '.join(sorted(REJECT_REASONS))}")
    return reason


def _query(reason: str | None):  # noqa: ANN202 - a SQLAlchemy Select
    query = select(Reject).order_by(Reject.created_at.desc(), Reject.id.desc())
    return query if reason is None else query.where(Reject.reason == reason)


def _row(r: Reject) -> RejectedFile:
    return RejectedFile(r.uri, r.reason, r.detail, r.size, _iso(r.created_at), r.sha256 or "")


def list_rejects(store: Store, reason: str | None = None) -> RejectList:
    """The store's rejected files, newest first, optionally of one ``reason``.

    Raises:
        ConfigError: ``reason`` is not one of ``REJECT_REASONS``.
    """
    query = _query(check_reason(reason))
    with catalog_session(store.db_url) as s:
        rows = tuple(_row(r) for r in s.scalars(query))
    return RejectList(reason, len(rows), rows)


def reject_page(session: Session, reason: str | None = None, limit: int = 50, offset: int = 0) -> RejectPage:
    """``limit`` rejected files from ``offset`` on, in :func:`list_rejects`' order and with its rows.

    Raises:
        ConfigError: an unknown ``reason``, ``limit`` outside 1 to 500 or a negative ``offset``.
    """
    check_reason(reason)
    if not 1 <= limit <= PAGE_MAX:
        raise ConfigError(f"limit {limit}: expected 1 to {PAGE_MAX} rejected files per page")
    if offset < 0:
        raise ConfigError(f"offset {offset}: expected 0 or more")
    counts = {name: n for name, n in session.execute(select(Reject.reason, func.count()).group_by(Reject.reason)
                                                     .order_by(Reject.reason))}
    total = counts.get(reason, 0) if reason is not None else sum(counts.values())
    rows = tuple(_row(r) for r in session.scalars(_query(reason).limit(limit).offset(offset)))
    return RejectPage(reason, total, limit, offset, rows, counts)
