"""The catalog's text form of a local path, and back: one form per path, no two paths alike.

A POSIX path is bytes. Its URI is the UTF-8 text of those bytes with the backslash doubled
(``\\`` → ``\\\\``) and every byte that is not UTF-8 written ``\\xNN`` (lower-case hex). Since
a backslash in the name is always doubled, ``\\xNN`` can only stand for a byte, so the form is
reversible (:func:`uri_to_path`): ``img\\xff.jpg`` (byte 0xFF) and a file literally named
``img\\xff.jpg`` get different URIs (``img\\xff.jpg`` and ``img\\\\xff.jpg``).
"""

from __future__ import annotations

import os
import re

_ESCAPE = re.compile(r"\\(\\|x[0-9a-f]{2})")


def path_to_uri(path: str | bytes) -> str:
    """The URI of a local path (``str`` as Python gives it, undecodable bytes as surrogates, or bytes)."""
    raw = path if isinstance(path, bytes) else os.fsencode(path)
    out = []
    for ch in raw.decode("utf-8", "surrogateescape"):
        if ch == "\\":
            out.append("\\\\")
        elif "\udc80" <= ch <= "\udcff":
            out.append(f"\\x{ord(ch) - 0xDC00:02x}")
        else:
            out.append(ch)
    return "".join(out)


def uri_to_bytes(uri: str) -> bytes:
    """The path bytes a URI made by :func:`path_to_uri` stands for."""
    out = bytearray()
    pos = 0
    for m in _ESCAPE.finditer(uri):
        out += uri[pos:m.start()].encode("utf-8")
        token = m.group(1)
        out += b"\\" if token == "\\" else bytes([int(token[1:], 16)])
        pos = m.end()
    out += uri[pos:].encode("utf-8")
    return bytes(out)


def uri_to_path(uri: str) -> str:
    """The local path (``os.fsdecode`` form, openable) a URI stands for."""
    return os.fsdecode(uri_to_bytes(uri))
