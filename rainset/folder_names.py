"""Names that become folders under the store (versions, shards, pair sets): one rule, one home."""

from __future__ import annotations

import re

FOLDER_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
FOLDER_NAME_RULE = ("use letters, digits, '.', '_' and '-', starting with a letter or digit (no path characters), "
                    "at most 100 characters")


def is_folder_name(name: object) -> bool:
    """True when ``name`` can name a folder under the store without escaping it or hiding itself."""
    return isinstance(name, str) and FOLDER_NAME_RE.fullmatch(name) is not None
