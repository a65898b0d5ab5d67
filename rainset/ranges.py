"""Range checks for numeric settings and command-line options: one helper per kind of number.

Each check raises :class:`rainset.errors.ConfigError` with one line that names the setting or
option, the value and the allowed range; the CLI edge prints it as is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from rainset.errors import ConfigError


@dataclass(frozen=True)
class Range:
    """Allowed values of a number: ``low..high`` inclusive; ``integer`` for whole numbers only."""

    low: float
    high: float
    integer: bool = True

    def text(self) -> str:
        """``an integer from 1 to 100`` / ``a finite number from 0 to 86400`` (errors and docs)."""
        kind = "an integer" if self.integer else "a finite number"
        return f"{kind} from {self.low:g} to {self.high:g}" if not self.integer else \
            f"{kind} from {int(self.low)} to {int(self.high)}"

    def check(self, name: str, value: Any) -> Any:
        """``value`` when it is in range, else ConfigError naming ``name``."""
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if self.integer:
            ok = number and (isinstance(value, int) or (math.isfinite(value) and value == int(value)))
        else:
            ok = number and math.isfinite(value)
        if not ok or not self.low <= value <= self.high:
            raise ConfigError(f"{name} {value!r} is out of range: expected {self.text()}")
        return int(value) if self.integer else float(value)


def check_optional(name: str, value: Any, allowed: Range) -> Any:
    """None stays None (an option left at "the default"); any other value must be in ``allowed``."""
    return None if value is None else allowed.check(name, value)


# Ranges of command-line options shared by several commands (docs/cli.md lists them).
WORKERS = Range(0, 1024)
BATCH = Range(1, 100_000)
SEED = Range(0, 2**31 - 1)  # stored in an INTEGER column: PostgreSQL's is 32-bit
ROWS_PER_FILE = Range(1, 10_000_000)
HAMMING = Range(0, 64)  # bits of a 64-bit perceptual hash
HOURS = Range(0, 24 * 365 * 100, integer=False)
LIMIT = Range(0, 10**9)
CAPTURES = Range(1, 100_000)
TILE = Range(32, 65_536)
BLEND = Range(0, 4096)
