"""The tokenizer of ``--where`` filters: text in, a list of :class:`Token` out.

Strings take single or double quotes (a doubled quote stands for one), numbers are decimal,
names are ASCII identifiers and keywords are case-insensitive. Characters that would only serve
code (``.``, ``[``, ``;``, braces) are refused with a reason.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from rainset.errors import FilterError

KEYWORDS = frozenset({"and", "or", "not", "in", "is", "null", "like", "true", "false"})
COMPARISONS = ("==", "!=", "<>", "<=", ">=", "=", "<", ">")

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


def fail(message: str, pos: int) -> FilterError:
    """The FilterError of a problem at ``pos`` (kept on the error as ``pos``)."""
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
    raise fail(f"unterminated string starting with {quote}", i)


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
                raise fail(f"malformed number {expr[i:end + 1]!r}", i)
            text = m.group()
            if len(text) > 40:
                raise fail(f"number {text[:12]}… is too long", i)
            value: int | float = float(text) if any(c in text for c in ".eE") else int(text)
            if isinstance(value, float) and not math.isfinite(value):
                raise fail(f"number {text!r} is out of range", i)
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
                raise fail(f"{reason}: {ch!r}", i)
            tokens.append(Token("op", op, i))
            i += len(op)


def describe(tok: Token) -> str:
    """How an error message names a token: ``name 'iso'``, ``the end of the expression``."""
    if tok.kind == "end":
        return "the end of the expression"
    names = {"ident": "name", "keyword": "keyword", "string": "text", "number": "number", "op": "symbol"}
    return f"{names[tok.kind]} {tok.text!r}"
