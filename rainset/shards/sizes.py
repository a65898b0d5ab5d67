"""Byte sizes as people type them: ``512MB``, ``1.5GiB``, ``200k``, ``1048576``."""

from __future__ import annotations

import re
from fractions import Fraction

from rainset.errors import ConfigError

_UNITS = {
    "": 1, "b": 1,
    "k": 1000, "kb": 1000, "m": 1000**2, "mb": 1000**2, "g": 1000**3, "gb": 1000**3, "t": 1000**4, "tb": 1000**4,
    "kib": 1024, "mib": 1024**2, "gib": 1024**3, "tib": 1024**4,
}  # fmt: skip
_SIZE_RE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*")
MIN_TARGET = 1024  # smaller targets make one shard per sample anyway; below this it is surely a typo


def parse_size(text: str | int, *, option: str = "--target-size") -> int:
    """Parse a size: decimal units (kB, MB, GB, TB: powers of 1000), binary ones (KiB, MiB, GiB, TiB) or bytes.

    Args:
        text: e.g. ``"512MB"``, ``"1GiB"``, ``"4096"``; an int is taken as bytes.
        option: the option name for messages.

    Returns:
        The size in bytes (at least ``MIN_TARGET``).

    Raises:
        ConfigError: not a size, an unknown unit, or smaller than ``MIN_TARGET``.
    """
    if isinstance(text, int):
        value = text
    else:
        match = _SIZE_RE.fullmatch(str(text))
        unit = match.group(2).lower() if match else ""
        if match is None or unit not in _UNITS:
            raise ConfigError(f"{option} {text!r}: not a size; write e.g. 512MB, 1GiB or a number of bytes "
                              "(units: B, kB, MB, GB, TB, KiB, MiB, GiB, TiB)")
        value = int(Fraction(match.group(1)) * _UNITS[unit])  # exact: no float rounding
    if value < MIN_TARGET:
        raise ConfigError(f"{option} {text!r}: {value} bytes is too small (at least {MIN_TARGET} bytes)")
    return value


def format_size(n: int) -> str:
    """``536870912`` → ``'536.9 MB'`` (decimal units, for messages)."""
    for unit, scale in (("GB", 1000**3), ("MB", 1000**2), ("kB", 1000)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"
