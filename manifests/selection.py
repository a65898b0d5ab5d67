"""The one ``--where`` column set of ``rainset export`` and ``rainset labels set``.

The manifest columns (``rainset.manifests.schema``) keep their meaning (``file_name`` and
``source_uri`` are the representative file's), plus two file columns that see every file of a
capture (RAW + JPEG pairs, exact copies in other folders):

- ``path``: a file's source path or URI as ingested;
- ``folder``: the folder (or URL prefix) holding it.

A filter that reads ``path`` or ``folder`` matches a capture when it is true for any one of its
files (the other columns are the capture's own). In the Parquet files ``path`` stays the
store-relative object path; only the filter sees the source path under that name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rainset.capture_paths import SourceFile
from rainset.manifests.schema import filter_types
from rainset.where import Where, compile_where

FILE_COLUMNS: dict[str, type] = {"path": str, "folder": str}


def where_columns(extra: Mapping[str, type] | None = None) -> dict[str, type]:
    """Column name → type of the ``--where`` column set (plus ``extra`` columns of one command)."""
    return {**filter_types(), **(extra or {}), **FILE_COLUMNS}


@dataclass(frozen=True)
class Selection:
    """A compiled ``--where`` filter over captures and their files."""

    where: Where

    @property
    def per_file(self) -> bool:
        """Whether the filter reads a file column, so each capture needs its files."""
        return bool(self.where.columns_used & FILE_COLUMNS.keys())

    def __call__(self, row: Mapping[str, Any], files: Sequence[SourceFile] = ()) -> bool:
        """True when ``row`` (a capture) matches; with file columns, when any one of ``files`` does."""
        if not self.per_file:
            return self.where(row)
        if not files:
            return self.where({**row, "path": None, "folder": None})
        return any(self.where({**row, "path": f.path, "folder": f.folder}) for f in files)


def compile_selection(expr: str, extra: Mapping[str, type] | None = None) -> Selection:
    """Parse ``expr`` over :func:`where_columns`.

    Raises:
        FilterError: the expression does not parse, names an unknown column or compares unlike kinds.
    """
    return Selection(compile_where(expr, where_columns(extra)))
