"""Safe filter expressions for ``--where``: our own tokenizer and recursive-descent parser.

Nothing here calls ``eval``: an expression is tokenized (:mod:`~rainset.where.tokens`), parsed
into a small tree of frozen nodes (:mod:`~rainset.where.parse`, with the type checks of
:mod:`~rainset.where.checks`) and evaluated against a row, a mapping of column name to value, with
SQL's three-valued logic (:mod:`~rainset.where.evaluate`). :func:`compile_where`
(:mod:`~rainset.where.compiler`) does all of it; a row matches only when the whole expression is true.
"""

from __future__ import annotations

from rainset.where.compiler import Where, compile_where

__all__ = ["Where", "compile_where"]
