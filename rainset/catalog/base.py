"""The declarative base every catalog table derives from (one ``Base.metadata``), and ``utcnow``.

The tables live in :mod:`rainset.catalog.models` and one ``*_tables`` module per later stage;
:mod:`rainset.catalog.tables` imports them all, so that ``Base.metadata`` is complete.
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy.orm import DeclarativeBase


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    pass
