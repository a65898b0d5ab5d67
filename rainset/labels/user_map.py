"""``--user-map FILE``: Label Studio member ids (integers in ``completed_by``) to rainset user names.

Label Studio's own JSON export names an annotator by its integer member id, which means nothing
outside that Label Studio instance. The map is a JSON object ``{"17": "ann", "18": "bob"}`` or a
CSV file of ``id,user`` rows (a first row that is not an id, e.g. a ``id,user`` header, is skipped).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from rainset.errors import InvalidInputError
from rainset.labels.users import check_name


def _member_id(text: object, where: str) -> int:
    if isinstance(text, bool):
        raise InvalidInputError(f"{where}: Label Studio member id must be an integer, got {text!r}")
    try:
        return int(str(text).strip())
    except ValueError:
        raise InvalidInputError(f"{where}: Label Studio member id must be an integer, got {text!r}") from None


def _user_name(name: object, where: str) -> str:
    if not isinstance(name, str):
        raise InvalidInputError(f"{where}: the rainset user must be a name, got {name!r}")
    try:
        return check_name(name.strip())
    except InvalidInputError as exc:
        raise InvalidInputError(f"{where}: {exc}") from None


def parse_user_map(text: str, source: str) -> dict[int, str]:
    """The id → user name map in ``text`` (JSON object or CSV; ``source`` names it in errors)."""
    stripped = text.lstrip()
    if stripped.startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidInputError(f"{source}: not valid JSON: {exc}") from None
        return {_member_id(k, f"{source}: key {k!r}"): _user_name(v, f"{source}: id {k}") for k, v in data.items()}
    found: dict[int, str] = {}
    for n, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        cells = [c.strip() for c in row]
        if not any(cells):
            continue
        where = f"{source}, line {n}"
        if n == 1 and not cells[0].lstrip("-").isdigit():
            continue  # a header row
        if len(cells) != 2:
            raise InvalidInputError(f"{where}: expected two columns, a Label Studio member id and a rainset user")
        found[_member_id(cells[0], where)] = _user_name(cells[1], where)
    if not found:
        raise InvalidInputError(f"{source}: no id,user rows (expected a JSON object or a CSV of id,user)")
    return found


def load_user_map(path: Path) -> dict[int, str]:
    """Read ``--user-map FILE`` (see the module docstring)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"--user-map {path}: cannot read: {exc}") from None
    return parse_user_map(text, f"--user-map {path}")
