"""The recursive-descent parser of ``--where`` filters: tokens in, a tree of frozen nodes out.

Grammar (keywords are case-insensitive, column names are not)::

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
"""

from __future__ import annotations

from typing import Any

from rainset.where.checks import check_compare, column_kinds, kind_of_value, need_column, suggest
from rainset.where.evaluate import BoolOp, Column, Compare, Contains, InList, IsNull, Like, Literal, Not, Truthy
from rainset.where.tokens import COMPARISONS, Token, describe, fail

MAX_DEPTH = 64


class Parser:
    """Recursive-descent parser over the token list; builds the frozen nodes of :mod:`rainset.where.evaluate`."""

    def __init__(self, expr: str, tokens: list[Token], types: dict[str, type | None]) -> None:
        self.expr = expr
        self.tokens = tokens
        self.kinds = column_kinds(types)
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
            raise fail(f"expected {wanted}, got {describe(tok)}", tok.pos)
        return self.advance()

    def deeper(self, tok: Token) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise fail(f"nested more than {MAX_DEPTH} levels deep", tok.pos)

    # -- grammar
    def parse(self) -> Any:
        tree = self.or_expr()
        if not self.at("end"):
            tok = self.peek()
            raise fail(f"unexpected {describe(tok)}; expected 'and', 'or' or the end", tok.pos)
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
            check_compare(left, tok, right, self.kinds)
            return Compare(left, tok.text, right)
        if self.at("keyword", "is"):
            self.advance()
            negated = self.at("keyword", "not")
            if negated:
                self.advance()
            self.expect("keyword", "null", "'null' after 'is'" + (" not" if negated else ""))
            need_column(left, start, "'is null'")
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
                raise fail(f"column {left.name!r} is not true/false; compare it with a value", start.pos)
            return Truthy(left)
        raise fail(f"expected a comparison, 'in', 'is' or 'like' after {describe(start)}, "
                    f"got {describe(tok)}", tok.pos)

    def operand(self) -> Column | Literal:
        tok = self.advance()
        if tok.kind == "ident":
            if self.at("op", "("):
                raise fail(f"function calls are not allowed: {tok.text!r}(", tok.pos)
            if tok.text not in self.kinds:
                raise fail(f"unknown column {tok.text!r}{suggest(tok.text, self.kinds)}", tok.pos)
            self.used.add(tok.text)
            return Column(tok.text)
        if tok.kind in ("string", "number"):
            return Literal(tok.value)
        if tok.kind == "op" and tok.text == "-" and self.at("number"):
            return Literal(-self.advance().value)
        if tok.kind == "keyword" and tok.text in ("true", "false"):
            return Literal(tok.text == "true")
        if tok.kind == "keyword" and tok.text == "null":
            raise fail("NULL cannot be compared; use 'is null' or 'is not null'", tok.pos)
        raise fail(f"expected a column or a value, got {describe(tok)}", tok.pos)

    def literal(self, column_kind: str | None, what: str) -> Any:
        tok = self.peek()
        node = self.operand()
        if not isinstance(node, Literal):
            raise fail(f"{what} must hold values, not column {node.name!r}", tok.pos)
        kind = kind_of_value(node.value)
        if column_kind not in (None, kind):
            raise fail(f"{describe(tok)} is {kind}, but {what} needs {column_kind}", tok.pos)
        return node.value

    # -- compound predicates
    def membership(self, left: Column | Literal, start: Token, negated: bool) -> Any:
        in_tok = self.advance()
        if isinstance(left, Literal):
            tok = self.peek()
            node = self.operand() if tok.kind == "ident" else None
            if not isinstance(node, Column):
                raise fail(f"'value in …' needs a list column after 'in', got {describe(tok)}", tok.pos)
            if self.kinds.get(node.name) not in (None, "list"):
                raise fail(f"column {node.name!r} is not a list; use {node.name} in (…) or =", tok.pos)
            return Contains(left.value, node, negated)
        kind = self.kinds.get(left.name)
        if kind == "list":
            raise fail(f"column {left.name!r} holds a list; test one value with 'value' in {left.name}", start.pos)
        self.expect("op", "(", f"'(' with a list of values after {in_tok.text!r}")
        values = [self.literal(kind, f"{left.name!r} in (…)")]
        while self.at("op", ","):
            self.advance()
            values.append(self.literal(kind, f"{left.name!r} in (…)"))
        self.expect("op", ")", "',' or ')' in the list of values")
        return InList(left, tuple(values), negated)

    def like(self, left: Column | Literal, start: Token, negated: bool) -> Like:
        self.advance()
        column = need_column(left, start, "'like'")
        if self.kinds.get(column.name) not in (None, "text"):
            raise fail(f"'like' needs a text column; {column.name!r} is {self.kinds[column.name]}", start.pos)
        tok = self.advance()
        if tok.kind != "string":
            raise fail(f"'like' needs a quoted pattern, got {describe(tok)}", tok.pos)
        return Like(column, tok.value, negated)
