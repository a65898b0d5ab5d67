"""Evaluate a compiled ``--where`` tree column-wise over a snapshot, with the evaluator's results.

Each column is indexed once (:class:`ColumnIndex`): its distinct values, and one integer code per
capture. A leaf of the tree (a comparison, ``in``, ``like``, ``is null`` ...) is evaluated once per
distinct value of the column it reads, with the evaluator's own ``eval``, and spread to the
captures through the codes; a comparison of a column with a literal of the column's kind (text,
number or boolean) needs no evaluation at all: the distinct values are kept sorted, so it is a
bisection and one comparison of codes, which makes high-cardinality columns (a float such as
``suggestion_confidence``) as cheap as categorical ones. ``and``/``or``/``not`` combine the leaves'
three-valued results (false 0, unknown 1, true 2) as element-wise min, max and ``2 - x``, which is
SQL's three-valued logic. A tree with a node this module does not know gives ``None`` (the caller
falls back to the evaluator).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from rainset.where.evaluate import BoolOp, Column, Compare, Contains, InList, IsNull, Like, Literal, Not, Truthy

FALSE, UNKNOWN, TRUE = 0, 1, 2
# a comparison with the literal on the left, as one with it on the right
_FLIPPED = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}


def kind(value: Any) -> str | None:
    """The evaluator's comparable kinds: booleans, numbers (not booleans) and text; else ``None``."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "num"
    if isinstance(value, str):
        return "str"
    return None


@dataclass(frozen=True)
class ColumnIndex:
    """A column as codes into its distinct values: ``values[codes[i]]`` is capture ``i``'s value.

    ``values[0]`` is always ``None``. When every other value has one :func:`kind` (and none is NaN),
    ``sorted_kind`` is that kind and ``values[1:]`` is sorted, so a code's order is its value's order.
    """

    values: list[Any]
    codes: np.ndarray
    sorted_kind: str | None


_ONE_KIND = ({str}, {int, float})  # types whose values order among themselves (bool apart: True == 1)


def index_column(column: Sequence[Any]) -> ColumnIndex:
    """Index one snapshot column (values must be hashable)."""
    types = set(map(type, column)) - {type(None)}
    if any(types <= kinds for kinds in _ONE_KIND):
        # one kind: a set is enough (1 and 1.0 may merge: the evaluator treats them alike), unless NaN
        distinct = set(column)
        distinct.discard(None)
        if str in types or not any(v != v for v in distinct):
            values = [None, *sorted(distinct)]
            code = dict(zip(values, range(len(values))))
            codes = np.fromiter(map(code.__getitem__, column), dtype=np.int32, count=len(column))
            return ColumnIndex(values, codes, "str" if str in types else "num")
    keyed: dict[Any, int] = {}
    for v in column:
        if v is not None:
            keyed.setdefault((type(v), v), 0)  # 1, 1.0 and True stay apart, as the evaluator keeps them
    keys = list(keyed)
    kinds = {kind(v) for _, v in keys}
    sorted_kind = kinds.pop() if len(kinds) == 1 else None
    if sorted_kind is not None and any(v != v for _, v in keys):  # NaN has no place in an order
        sorted_kind = None
    if sorted_kind is not None:
        keys.sort(key=lambda k: k[1])
    values = [None] + [v for _, v in keys]
    code = {k: i + 1 for i, k in enumerate(keys)}
    codes = np.fromiter((0 if v is None else code[(type(v), v)] for v in column), dtype=np.int32, count=len(column))
    return ColumnIndex(values, codes, sorted_kind)


def _spread(index: ColumnIndex, test: Callable[[Any], bool | None]) -> np.ndarray:
    table = np.array([UNKNOWN if r is None else (TRUE if r else FALSE) for r in map(test, index.values)],
                     dtype=np.int8)
    return table[index.codes]


def _compare_sorted(index: ColumnIndex, op: str, literal: Any) -> np.ndarray:
    """``column op literal`` for a sorted column of the literal's kind, by codes."""
    lo = bisect_left(index.values, literal, 1)
    hi = bisect_right(index.values, literal, 1)
    codes = index.codes
    if op in ("=", "=="):
        hit = (codes >= lo) & (codes < hi)
    elif op in ("!=", "<>"):
        hit = (codes < lo) | (codes >= hi)
    elif op == "<":
        hit = codes < lo
    elif op == "<=":
        hit = codes < hi
    elif op == ">":
        hit = codes >= hi
    else:  # >=
        hit = codes >= lo
    out = np.where(hit, np.int8(TRUE), np.int8(FALSE))
    out[codes == 0] = UNKNOWN
    return out


class _Unsupported(Exception):
    pass


def evaluate(tree: Any, index_of: Callable[[str], ColumnIndex], n: int) -> np.ndarray | None:
    """The matching positions (a boolean array of length ``n``), or ``None`` for a tree it cannot take."""
    try:
        return _eval(tree, index_of, n) == TRUE
    except _Unsupported:
        return None


def _eval(node: Any, index_of: Callable[[str], ColumnIndex], n: int) -> np.ndarray:
    if isinstance(node, BoolOp):
        parts = [_eval(item, index_of, n) for item in node.items]
        reduce = np.minimum if node.op == "and" else np.maximum
        out = parts[0]
        for part in parts[1:]:
            out = reduce(out, part)
        return out
    if isinstance(node, Not):
        return TRUE - _eval(node.inner, index_of, n)
    if isinstance(node, Compare):
        left, right, op = node.left, node.right, node.op
        if isinstance(left, Literal) and isinstance(right, Column):
            left, right, op = right, left, _FLIPPED.get(op, op)
        if isinstance(left, Column) and isinstance(right, Literal):
            index = index_of(left.name)
            lit = right.value
            if lit is None or kind(lit) is None:
                return np.full(n, UNKNOWN, dtype=np.int8)
            if index.sorted_kind is not None and kind(lit) == index.sorted_kind and lit == lit:
                return _compare_sorted(index, op, lit)
            return _spread(index, lambda v: node.eval({left.name: v}))
        if isinstance(left, Literal) and isinstance(right, Literal):
            r = node.eval({})
            return np.full(n, UNKNOWN if r is None else (TRUE if r else FALSE), dtype=np.int8)
        raise _Unsupported  # column against column
    if isinstance(node, (InList, IsNull, Like)):
        operand = node.operand
        if isinstance(operand, Literal):
            r = node.eval({})
            return np.full(n, UNKNOWN if r is None else (TRUE if r else FALSE), dtype=np.int8)
        return _spread(index_of(operand.name), lambda v: node.eval({operand.name: v}))
    if isinstance(node, (Contains, Truthy)):
        name = node.column.name
        return _spread(index_of(name), lambda v: node.eval({name: v}))
    raise _Unsupported
