"""Type checks of ``--where`` filters, made while parsing: what kind of value each side holds.

Columns are declared with a Python type (``str``, ``int``, ``float``, ``bool``, ``list``), or
none (``None``: not checked). A comparison of two kinds that can never match (a text with a
number, a list with anything, true/false ordered) is refused before any row is read.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Mapping
from typing import Any

from rainset.where.evaluate import Column, Literal
from rainset.where.tokens import Token, describe, fail

KINDS: dict[type, str] = {bool: "bool", int: "number", float: "number", str: "text", list: "list", tuple: "list"}


def kind_of_value(value: Any) -> str:
    """The kind of a literal: bool, number, text, list or value (anything else)."""
    return KINDS.get(type(value), "value")


def column_kinds(types: Mapping[str, type | None]) -> dict[str, str | None]:
    """The kind of each column from its declared Python type (None: not checked)."""
    return {name: (KINDS.get(t) if t is not None else None) for name, t in types.items()}


def kind_of(node: Column | Literal, kinds: Mapping[str, str | None]) -> str | None:
    """The kind of an operand: a column's declared kind, or a literal's own."""
    return kinds.get(node.name) if isinstance(node, Column) else kind_of_value(node.value)


def need_column(node: Column | Literal, tok: Token, what: str) -> Column:
    """``node`` when it is a column; a FilterError naming ``what`` (e.g. ``'like'``) otherwise."""
    if not isinstance(node, Column):
        raise fail(f"{what} needs a column on its left, got {describe(tok)}", tok.pos)
    return node


def check_compare(left: Column | Literal, op: Token, right: Column | Literal, kinds: Mapping[str, str | None]) -> None:
    """Refuse a comparison that can never be true: two values, a list, ordered booleans, mixed kinds."""
    if isinstance(left, Literal) and isinstance(right, Literal):
        raise fail(f"{op.text!r} compares two values; one side must be a column", op.pos)
    lk, rk = kind_of(left, kinds), kind_of(right, kinds)
    for k in (lk, rk):
        if k == "list":
            raise fail(f"a list column cannot be compared with {op.text!r}; use 'value' in column", op.pos)
        if k == "bool" and op.text not in ("=", "==", "!=", "<>"):
            raise fail(f"true/false values cannot be ordered with {op.text!r}", op.pos)
    if lk is not None and rk is not None and lk != rk:
        raise fail(f"{op.text!r} compares {lk} with {rk}", op.pos)


def suggest(name: str, known: Collection[str]) -> str:
    """A ' (did you mean …?)' hint for an unknown column name, or ''."""
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
