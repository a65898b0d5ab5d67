"""Compile a ``--where`` expression into a :class:`Where`: a callable filter over rows."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from rainset.errors import FilterError
from rainset.where.parse import Parser
from rainset.where.tokens import tokenize

MAX_LENGTH = 10_000


@dataclass(frozen=True)
class Where:
    """A compiled filter. Call it on a row; it is true only when the expression is true.

    Attributes:
        expr: the source text.
        columns_used: the column names the expression reads.
    """

    expr: str
    columns_used: frozenset[str]
    tree: Any = field(repr=False, compare=False)

    def __call__(self, row: Mapping[str, Any]) -> bool:
        """True when ``row`` matches; a column missing from ``row`` counts as NULL."""
        return self.tree.eval(row) is True


def compile_where(expr: str, columns: Mapping[str, type] | Collection[str]) -> Where:
    """Parse ``expr`` into a :class:`Where` over ``columns``.

    Args:
        expr: the filter text, e.g. ``rain_type in ('heavy','streak') and iso >= 800``.
        columns: the known column names; with a mapping of name → Python type (``str``, ``int``,
            ``float``, ``bool``, ``list``) comparisons are also type-checked.

    Raises:
        FilterError: anything that is not a filter over known columns, naming the token and position.
    """
    if not isinstance(expr, str):
        raise FilterError(f"invalid filter: expected text, got {type(expr).__name__}")
    if len(expr) > MAX_LENGTH:
        raise FilterError(f"invalid filter: longer than {MAX_LENGTH} characters")
    if not expr.strip():
        raise FilterError("invalid filter: the expression is empty")
    types = dict(columns) if isinstance(columns, Mapping) else {str(c): None for c in columns}
    parser = Parser(expr, tokenize(expr), types)
    tree = parser.parse()
    return Where(expr, frozenset(parser.used), tree)
