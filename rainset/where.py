"""Safe filter expressions for ``--where``: our own tokenizer and recursive-descent parser.

Nothing here calls ``eval``: an expression is tokenized, parsed into a small tree of frozen
nodes and evaluated against a row (a mapping of column name to value). Grammar (keywords are
case-insensitive, column names are not)::

    expr       := or_expr
    or_expr    := and_expr ("or" and_expr)*
    and_expr   := not_expr ("and" not_expr)*
    not_expr   := "not" not_expr | "(" expr ")" | predicate
    predicate  := operand op operand            op: = == != <> < <= > >=
                | operand ["not"] "in" "(" literal ("," literal)* ")"
                | literal ["not"] "in" column   (membership in a list column)
                | operand "is" ["not"] "null"
                | operand ["not"] "like" string (SQL LIKE: % any run, _ one character; case-sensitive)
                | column                        (true when the value is true)
    operand    := column | literal
    literal    := 'string' | "string" | number | -number | true | false

Semantics follow SQL's three-valued logic, as DuckDB and PostgreSQL do: a comparison with NULL
(``None``) is unknown, ``not`` of unknown is unknown, and a row matches only when the whole
expression is true. Comparing values of different types (a text with a number) is unknown too.
"""

from __future__ import annotations

import difflib
import math
import operator
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Callable

from rainset.errors import FilterError

MAX_LENGTH = 10_000
MAX_DEPTH = 64
KEYWORDS = frozenset({"and", "or", "not", "in", "is", "null", "like", "true", "false"})
COMPARISONS = ("==", "!=", "<>", "<=", ">=", "=", "<", ">")
NUMERIC = (int, float)

_NUMBER = re.compile(r"\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_FORBIDDEN = {
    ".": "attribute access is not allowed",
    "[": "subscripts are not allowed",
    "]": "subscripts are not allowed",
    ";": "a filter is one expression; ';' is not allowed",
    "{": "braces are not allowed",
    "}": "braces are not allowed",
}


@dataclass(frozen=True)
class Token:
    kind: str  # ident | keyword | string | number | op | end
    text: str  # the source text (keywords lower-cased)
    pos: int
    value: Any = None


def _fail(message: str, pos: int) -> FilterError:
    error = FilterError(f"invalid filter: {message} at position {pos}")
    error.pos = pos  # type: ignore[attr-defined]
    return error


def _read_string(expr: str, i: int) -> tuple[str, int]:
    """Read a quoted string starting at ``expr[i]``; a doubled quote stands for one quote."""
    quote, j, parts = expr[i], i + 1, []
    while j < len(expr):
        if expr[j] == quote:
            if j + 1 < len(expr) and expr[j + 1] == quote:
                parts.append(quote)
                j += 2
                continue
            return "".join(parts), j + 1
        parts.append(expr[j])
        j += 1
    raise _fail(f"unterminated string starting with {quote}", i)


def tokenize(expr: str) -> list[Token]:
    """Split ``expr`` into tokens, ending with an ``end`` token.

    An unknown character or malformed literal becomes a ``bad`` token carrying its FilterError,
    raised by the parser when it reaches it: the first problem from the left is the one reported.
    """
    tokens: list[Token] = []
    try:
        _scan(expr, tokens)
    except FilterError as exc:
        pos = getattr(exc, "pos", 0)
        return [*tokens, Token("bad", expr[pos:pos + 1], pos, exc)]
    tokens.append(Token("end", "", len(expr)))
    return tokens


def _scan(expr: str, tokens: list[Token]) -> None:
    i = 0
    while i < len(expr):
        ch = expr[i]
        if ch.isspace():
            i += 1
        elif ch in "'\"":
            text, end = _read_string(expr, i)
            tokens.append(Token("string", expr[i:end], i, text))
            i = end
        elif ch.isascii() and ch.isdigit():
            m = _NUMBER.match(expr, i)
            assert m is not None
            end = m.end()
            if end < len(expr) and (expr[end].isalnum() or expr[end] in "._"):
                raise _fail(f"malformed number {expr[i:end + 1]!r}", i)
            text = m.group()
            if len(text) > 40:
                raise _fail(f"number {text[:12]}… is too long", i)
            value: int | float = float(text) if any(c in text for c in ".eE") else int(text)
            if isinstance(value, float) and not math.isfinite(value):
                raise _fail(f"number {text!r} is out of range", i)
            tokens.append(Token("number", text, i, value))
            i = end
        elif ch.isascii() and (ch.isalpha() or ch == "_"):
            m = _IDENT.match(expr, i)
            assert m is not None
            word = m.group()
            if word.lower() in KEYWORDS:
                tokens.append(Token("keyword", word.lower(), i))
            else:
                tokens.append(Token("ident", word, i))
            i = m.end()
        elif ch in "()," or ch == "-":
            tokens.append(Token("op", ch, i))
            i += 1
        else:
            op = next((c for c in COMPARISONS if expr.startswith(c, i)), None)
            if op is None:
                reason = _FORBIDDEN.get(ch, "unexpected character")
                raise _fail(f"{reason}: {ch!r}", i)
            tokens.append(Token("op", op, i))
            i += len(op)


# -- the tree -------------------------------------------------------------------------------------

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


_KINDS: dict[type, str] = {bool: "bool", int: "number", float: "number", str: "text", list: "list", tuple: "list"}


def _kind_of_value(value: Any) -> str:
    return _KINDS.get(type(value), "value")


def _describe(tok: Token) -> str:
    if tok.kind == "end":
        return "the end of the expression"
    names = {"ident": "name", "keyword": "keyword", "string": "text", "number": "number", "op": "symbol"}
    return f"{names[tok.kind]} {tok.text!r}"


class Parser:
    """Recursive-descent parser over the token list; builds the frozen nodes above."""

    def __init__(self, expr: str, tokens: list[Token], types: dict[str, type | None]) -> None:
        self.expr = expr
        self.tokens = tokens
        self.kinds = {name: (_KINDS.get(t) if t is not None else None) for name, t in types.items()}
        self.i = 0
        self.depth = 0
        self.used: set[str] = set()

    # -- token helpers
    def peek(self, ahead: int = 0) -> Token:
        tok = self.raw(ahead)
        if tok.kind == "bad":
            raise tok.value
        return tok

    def advance(self) -> Token:
        tok = self.peek()
        self.i += 1
        return tok

    def raw(self, ahead: int = 0) -> Token:
        return self.tokens[min(self.i + ahead, len(self.tokens) - 1)]

    def at(self, kind: str, text: str | None = None, ahead: int = 0) -> bool:
        """Whether the token ``ahead`` matches (never raises: a bad token matches nothing)."""
        tok = self.raw(ahead)
        return tok.kind == kind and (text is None or tok.text == text)

    def expect(self, kind: str, text: str, wanted: str) -> Token:
        if not self.at(kind, text):
            tok = self.peek()
            raise _fail(f"expected {wanted}, got {_describe(tok)}", tok.pos)
        return self.advance()

    def deeper(self, tok: Token) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _fail(f"nested more than {MAX_DEPTH} levels deep", tok.pos)

    # -- grammar
    def parse(self) -> Any:
        tree = self.or_expr()
        if not self.at("end"):
            tok = self.peek()
            raise _fail(f"unexpected {_describe(tok)}; expected 'and', 'or' or the end", tok.pos)
        return tree

    def or_expr(self) -> Any:
        items = [self.and_expr()]
        while self.at("keyword", "or"):
            self.advance()
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else BoolOp("or", tuple(items))

    def and_expr(self) -> Any:
        items = [self.not_expr()]
        while self.at("keyword", "and"):
            self.advance()
            items.append(self.not_expr())
        return items[0] if len(items) == 1 else BoolOp("and", tuple(items))

    def not_expr(self) -> Any:
        tok = self.peek()
        if self.at("keyword", "not"):
            self.advance()
            self.deeper(tok)
            inner = self.not_expr()
            self.depth -= 1
            return Not(inner)
        if self.at("op", "("):
            self.advance()
            self.deeper(tok)
            inner = self.or_expr()
            self.expect("op", ")", f"')' to close the '(' at position {tok.pos}")
            self.depth -= 1
            return inner
        return self.predicate()

    def predicate(self) -> Any:
        start = self.peek()
        left = self.operand()
        tok = self.peek()
        if tok.kind == "op" and tok.text in COMPARISONS:
            self.advance()
            right = self.operand()
            self.check_compare(left, tok, right)
            return Compare(left, tok.text, right)
        if self.at("keyword", "is"):
            self.advance()
            negated = self.at("keyword", "not")
            if negated:
                self.advance()
            self.expect("keyword", "null", "'null' after 'is'" + (" not" if negated else ""))
            self.need_column(left, start, "'is null'")
            return IsNull(left, negated)
        negated = self.at("keyword", "not") and (self.at("keyword", "in", 1) or self.at("keyword", "like", 1))
        if negated:
            self.advance()
        if self.at("keyword", "in"):
            return self.membership(left, start, negated)
        if self.at("keyword", "like"):
            return self.like(left, start, negated)
        if isinstance(left, Column) and (tok.kind == "end" or (tok.kind == "op" and tok.text == ")")
                                         or (tok.kind == "keyword" and tok.text in ("and", "or"))):
            if self.kinds.get(left.name) not in (None, "bool"):
                raise _fail(f"column {left.name!r} is not true/false; compare it with a value", start.pos)
            return Truthy(left)
        raise _fail(f"expected a comparison, 'in', 'is' or 'like' after {_describe(start)}, "
                    f"got {_describe(tok)}", tok.pos)

    def operand(self) -> Column | Literal:
        tok = self.advance()
        if tok.kind == "ident":
            if self.at("op", "("):
                raise _fail(f"function calls are not allowed: {tok.text!r}(", tok.pos)
            if tok.text not in self.kinds:
                raise _fail(f"unknown column {tok.text!r}{suggest(tok.text, self.kinds)}", tok.pos)
            self.used.add(tok.text)
            return Column(tok.text)
        if tok.kind in ("string", "number"):
            return Literal(tok.value)
        if tok.kind == "op" and tok.text == "-" and self.at("number"):
            return Literal(-self.advance().value)
        if tok.kind == "keyword" and tok.text in ("true", "false"):
            return Literal(tok.text == "true")
        if tok.kind == "keyword" and tok.text == "null":
            raise _fail("NULL cannot be compared; use 'is null' or 'is not null'", tok.pos)
        raise _fail(f"expected a column or a value, got {_describe(tok)}", tok.pos)

    def literal(self, column_kind: str | None, what: str) -> Any:
        tok = self.peek()
        node = self.operand()
        if not isinstance(node, Literal):
            raise _fail(f"{what} must hold values, not column {node.name!r}", tok.pos)
        kind = _kind_of_value(node.value)
        if column_kind not in (None, kind):
            raise _fail(f"{_describe(tok)} is {kind}, but {what} needs {column_kind}", tok.pos)
        return node.value

    # -- checks and compound predicates
    def kind(self, node: Column | Literal) -> str | None:
        return self.kinds.get(node.name) if isinstance(node, Column) else _kind_of_value(node.value)

    def need_column(self, node: Column | Literal, tok: Token, what: str) -> Column:
        if not isinstance(node, Column):
            raise _fail(f"{what} needs a column on its left, got {_describe(tok)}", tok.pos)
        return node

    def check_compare(self, left: Column | Literal, op: Token, right: Column | Literal) -> None:
        if isinstance(left, Literal) and isinstance(right, Literal):
            raise _fail(f"{op.text!r} compares two values; one side must be a column", op.pos)
        lk, rk = self.kind(left), self.kind(right)
        for k in (lk, rk):
            if k == "list":
                raise _fail(f"a list column cannot be compared with {op.text!r}; use 'value' in column", op.pos)
            if k == "bool" and op.text not in ("=", "==", "!=", "<>"):
                raise _fail(f"true/false values cannot be ordered with {op.text!r}", op.pos)
        if lk is not None and rk is not None and lk != rk:
            raise _fail(f"{op.text!r} compares {lk} with {rk}", op.pos)

    def membership(self, left: Column | Literal, start: Token, negated: bool) -> Any:
        in_tok = self.advance()
        if isinstance(left, Literal):
            tok = self.peek()
            node = self.operand() if tok.kind == "ident" else None
            if not isinstance(node, Column):
                raise _fail(f"'value in …' needs a list column after 'in', got {_describe(tok)}", tok.pos)
            if self.kinds.get(node.name) not in (None, "list"):
                raise _fail(f"column {node.name!r} is not a list; use {node.name} in (…) or =", tok.pos)
            return Contains(left.value, node, negated)
        kind = self.kinds.get(left.name)
        if kind == "list":
            raise _fail(f"column {left.name!r} holds a list; test one value with 'value' in {left.name}", start.pos)
        self.expect("op", "(", f"'(' with a list of values after {in_tok.text!r}")
        values = [self.literal(kind, f"{left.name!r} in (…)")]
        while self.at("op", ","):
            self.advance()
            values.append(self.literal(kind, f"{left.name!r} in (…)"))
        self.expect("op", ")", "',' or ')' in the list of values")
        return InList(left, tuple(values), negated)

    def like(self, left: Column | Literal, start: Token, negated: bool) -> Like:
        self.advance()
        column = self.need_column(left, start, "'like'")
        if self.kinds.get(column.name) not in (None, "text"):
            raise _fail(f"'like' needs a text column; {column.name!r} is {self.kinds[column.name]}", start.pos)
        tok = self.advance()
        if tok.kind != "string":
            raise _fail(f"'like' needs a quoted pattern, got {_describe(tok)}", tok.pos)
        return Like(column, tok.value, negated)

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


def suggest(name: str, known: Collection[str]) -> str:
    """A ' (did you mean …?)' hint for an unknown column name, or ''."""
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
