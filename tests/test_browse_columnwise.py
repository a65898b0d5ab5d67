"""The column-wise filter path of browse matches the ``--where`` evaluator row for row."""

from __future__ import annotations

import math
from pathlib import PurePosixPath

from hypothesis import given, reject, settings
from hypothesis import strategies as st

from rainset.browse.columnwise import evaluate, index_column
from rainset.browse.query import ORDERS
from rainset.browse.snapshot import SORT_COLUMNS, Snapshot, file_name
from rainset.errors import FilterError
from rainset.where import compile_where

# values of mixed kinds on purpose: the evaluator's unknowns (NULL, text against number, 1 vs True)
FLOATS = st.one_of(st.none(), st.floats(-2, 2, allow_nan=False), st.sampled_from([0.5, 1.0, 0.8]))
COLUMNS = {
    "conf": FLOATS,
    "iso": st.one_of(st.none(), st.integers(0, 5), st.sampled_from([100, 200])),
    "name": st.one_of(st.none(), st.sampled_from(["a", "ab", "b", "cam-1", "cam-10", "", "O'k"])),
    "flag": st.one_of(st.none(), st.booleans()),
    "tags": st.one_of(st.none(), st.sampled_from([(), ("blurry",), ("blurry", "dark"), ("dark",)])),
    "mixed": st.one_of(st.none(), st.integers(0, 2), st.booleans(), st.sampled_from(["1", "x", 1.0, float("nan")])),
}
LITERALS = st.one_of(st.sampled_from(["0.8", "1", "0", "-1", "100", "true", "false", "'a'", "'cam-1'", "''",
                                      "'O''k'", "1.0", "-0.5"]),
                     st.floats(-2, 2, allow_nan=False).map(repr))
OPS = st.sampled_from(["=", "==", "!=", "<>", "<", "<=", ">", ">="])


def leaf() -> st.SearchStrategy[str]:
    column = st.sampled_from(sorted(COLUMNS))
    return st.one_of(
        st.builds(lambda c, o, lit: f"{c} {o} {lit}", column, OPS, LITERALS),
        st.builds(lambda c, o, lit: f"{lit} {o} {c}", column, OPS, LITERALS),
        st.builds(lambda c, lits, neg: f"{c} {'not ' if neg else ''}in ({', '.join(lits)})", column,
                  st.lists(LITERALS, min_size=1, max_size=3), st.booleans()),
        st.builds(lambda c, neg: f"{c} is {'not ' if neg else ''}null", column, st.booleans()),
        st.builds(lambda c, p, neg: f"{c} {'not ' if neg else ''}like '{p}'", column,
                  st.sampled_from(["cam-1%", "%b", "a_", "%"]), st.booleans()),
        st.builds(lambda item, neg: f"'{item}' {'not ' if neg else ''}in tags", st.sampled_from(["blurry", "dark"]),
                  st.booleans()),
        st.sampled_from(["flag", "mixed", "iso = conf"]),  # the last: column vs column
    )


FILTERS = st.recursive(leaf(), lambda inner: st.one_of(
    st.builds(lambda a, op, b: f"({a}) {op} ({b})", inner, st.sampled_from(["and", "or"]), inner),
    inner.map(lambda a: f"not ({a})")), max_leaves=6)
TABLES = st.integers(1, 40).flatmap(lambda n: st.fixed_dictionaries(
    {name: st.lists(values, min_size=n, max_size=n) for name, values in COLUMNS.items()}))


@settings(max_examples=200, deadline=None)
@given(TABLES, FILTERS)
def test_columnwise_matches_the_evaluator(table, where):
    try:
        test = compile_where(where, sorted(COLUMNS))
    except FilterError:  # refused by the parser's checks (ordered booleans ...): nothing to compare
        reject()
    n = len(table["conf"])
    found = evaluate(test.tree, lambda name: index_column(table[name]), n)
    expected = [test({name: values[i] for name, values in table.items()}) for i in range(n)]
    if "iso = conf" in where:
        assert found is None  # column against column: the caller falls back to the evaluator
    else:
        assert found is not None and found.tolist() == expected, where


def test_index_keeps_kinds_apart_and_sorts_one_kind():
    index = index_column([3, None, 1.5, 3, True, "x"])
    assert index.sorted_kind is None and len(index.values) == 5  # None, 3, 1.5, True, 'x'
    assert [index.values[c] for c in index.codes] == [3, None, 1.5, 3, True, "x"]
    floats = index_column([0.9, None, 0.1, 0.5, 0.1])
    assert floats.sorted_kind == "num" and floats.values == [None, 0.1, 0.5, 0.9]
    assert index_column([math.nan, 1.0]).sorted_kind is None


TABLE = {
    "conf": [0.5, None, 1.0, 0.8, -0.5, 0.8, 0.0, 1],
    "iso": [100, 200, None, 0, 1, 100, 5, 3],
    "name": ["a", "ab", None, "cam-1", "cam-10", "", "O'k", "b"],
    "flag": [True, False, None, True, False, True, None, False],
    "tags": [(), ("blurry",), None, ("blurry", "dark"), ("dark",), (), None, ("dark",)],
    "mixed": [1, True, "1", 1.0, None, "x", 0, float("nan")],
}
EVERY_LITERAL = ["0.8", "1", "0", "-1", "100", "101", "true", "false", "'a'", "'cam-1'", "''", "'O''k'", "'b'",
                 "1.0", "-0.5", "2", "'z'"]


def test_every_comparison_of_every_column_matches_the_evaluator():
    rows = [{name: values[i] for name, values in TABLE.items()} for i in range(8)]
    checked = 0
    for column in TABLE:
        for op in ("=", "!=", "<", "<=", ">", ">="):
            for lit in EVERY_LITERAL:
                for where in (f"{column} {op} {lit}", f"{lit} {op} {column}", f"not ({column} {op} {lit})"):
                    try:
                        test = compile_where(where, sorted(TABLE))
                    except FilterError:
                        continue
                    found = evaluate(test.tree, lambda name: index_column(TABLE[name]), 8)
                    assert found is not None and found.tolist() == [test(r) for r in rows], where
                    checked += 1
    assert checked > 300


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.text("abc", min_size=1, max_size=3), FLOATS), min_size=1, max_size=30,
                unique_by=lambda t: t[0]), st.booleans())
def test_sorted_orders_match_the_plain_sort(rows, descending):
    ids = [cid for cid, _ in rows]
    values = [v for _, v in rows]
    snap = Snapshot((), 0.0, ids, {"conf": values}, [None] * len(ids), [""] * len(ids))
    present = [i for i in range(len(ids)) if values[i] is not None]
    present.sort(key=lambda i: (-values[i] if descending else values[i], ids[i]))
    nulls = sorted((i for i in range(len(ids)) if values[i] is None), key=ids.__getitem__)
    assert snap.order("conf", descending).tolist() == present + nulls


def test_every_order_is_prepared_with_the_snapshot():
    assert {column for column, _ in ORDERS.values()} <= set(SORT_COLUMNS)


@given(st.text("ab./\\\\:", min_size=1, max_size=12))
def test_file_name_is_the_last_part_of_the_path(path):
    assert file_name(path) == PurePosixPath(path.replace("\\", "/")).name
