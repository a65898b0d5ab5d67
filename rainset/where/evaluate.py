"""The tree of a parsed filter: frozen nodes that evaluate themselves against a row.

A row is a mapping of column name to value (a missing column counts as NULL). Evaluation follows
SQL's three-valued logic, as DuckDB and PostgreSQL do: a comparison with NULL (``None``) is
unknown, ``not`` of unknown is unknown, and comparing values of different types (a text with a
number) is unknown too. :class:`Tri` is that truth value: True, False or None (unknown).
"""

from __future__ import annotations

import operator
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Callable

NUMERIC = (int, float)

Tri = bool | None  # SQL truth value: True, False or None (unknown)


@dataclass(frozen=True)
class Column:
    name: str

    def value(self, row: Mapping[str, Any]) -> Any:
        return row.get(self.name)


@dataclass(frozen=True)
class Literal:
    value: Any


def _operand(node: Column | Literal, row: Mapping[str, Any]) -> Any:
    return node.value(row) if isinstance(node, Column) else node.value


def _same_kind(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool)
    if isinstance(a, NUMERIC) and isinstance(b, NUMERIC):
        return True
    return type(a) is type(b)


_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq, "==": operator.eq, "!=": operator.ne, "<>": operator.ne,
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
}


@dataclass(frozen=True)
class Compare:
    left: Column | Literal
    op: str
    right: Column | Literal

    def eval(self, row: Mapping[str, Any]) -> Tri:
        a, b = _operand(self.left, row), _operand(self.right, row)
        if a is None or b is None or not _same_kind(a, b):
            return None
        try:
            return bool(_OPS[self.op](a, b))
        except TypeError:
            return None


@dataclass(frozen=True)
class InList:
    operand: Column | Literal
    values: tuple[Any, ...]
    negated: bool

    def eval(self, row: Mapping[str, Any]) -> Tri:
        a = _operand(self.operand, row)
        if a is None:
            return None
        found = any(_same_kind(a, v) and a == v for v in self.values)
        return found != self.negated


@dataclass(frozen=True)
class Contains:
    """``'x' in column``: membership of a literal in a list-valued column."""

    item: Any
    column: Column
    negated: bool

    def eval(self, row: Mapping[str, Any]) -> Tri:
        seq = self.column.value(row)
        if seq is None or isinstance(seq, (str, bytes)) or not isinstance(seq, Collection):
            return None
        found = any(_same_kind(self.item, v) and self.item == v for v in seq)
        return found != self.negated


@dataclass(frozen=True)
class IsNull:
    operand: Column | Literal
    negated: bool

    def eval(self, row: Mapping[str, Any]) -> Tri:
        return (_operand(self.operand, row) is None) != self.negated


def like_match(pattern: str, text: str) -> bool:
    """SQL LIKE (``%`` any run, ``_`` one character, case-sensitive) in O(len·len), no regex."""
    p = t = 0
    star, mark = -1, 0  # position of the last '%' in pattern and the text position it matched up to
    while t < len(text):
        if p < len(pattern) and pattern[p] != "%" and (pattern[p] == "_" or pattern[p] == text[t]):
            p, t = p + 1, t + 1
        elif p < len(pattern) and pattern[p] == "%":
            star, mark, p = p, t, p + 1
        elif star >= 0:
            mark += 1
            p, t = star + 1, mark
        else:
            return False
    return all(c == "%" for c in pattern[p:])


@dataclass(frozen=True)
class Like:
    operand: Column | Literal
    pattern: str
    negated: bool

    def eval(self, row: Mapping[str, Any]) -> Tri:
        a = _operand(self.operand, row)
        if not isinstance(a, str):
            return None
        return like_match(self.pattern, a) != self.negated


@dataclass(frozen=True)
class Truthy:
    column: Column

    def eval(self, row: Mapping[str, Any]) -> Tri:
        v = self.column.value(row)
        return v if isinstance(v, bool) else None


@dataclass(frozen=True)
class Not:
    inner: Any

    def eval(self, row: Mapping[str, Any]) -> Tri:
        v = self.inner.eval(row)
        return None if v is None else not v


@dataclass(frozen=True)
class BoolOp:
    op: str  # and | or
    items: tuple[Any, ...]

    def eval(self, row: Mapping[str, Any]) -> Tri:
        decisive = self.op == "or"  # the value that settles the result at once
        unknown = False
        for item in self.items:
            v = item.eval(row)
            if v is None:
                unknown = True
            elif v is decisive:
                return decisive
        return None if unknown else not decisive
