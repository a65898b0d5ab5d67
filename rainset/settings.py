"""Store settings as data: one table drives validation, ``rainset.toml`` and the docs.

A store's ``rainset.toml`` holds only the values that differ from these defaults (plus the
catalog URL when it is not the embedded SQLite file). ``tests/test_docs.py`` fails when a
setting is missing from docs/store-format.md.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rainset.errors import ConfigError
from rainset.ranges import Range


@dataclass(frozen=True)
class Setting:
    """One store setting: its name, type, default and a line of help."""

    name: str
    type: type
    default: Any
    help: str
    range: Range | None = None  # numbers: the allowed values (docs/store-format.md lists them)


SETTINGS: tuple[Setting, ...] = (
    Setting("max_pixels", int, 250_000_000,
            "Refuse files whose header declares more pixels than this, before decoding (decompression bombs).",
            Range(1, 10**12)),
    Setting("max_decode_bytes", int, 1 << 30,
            "Per-worker memory budget: refuse files whose decoded pixels (width x height x channels x bytes per sample, "
            "from the header) would need more bytes than this, before decoding; 0 turns it off.", Range(0, 1 << 40)),
    Setting("working_min_side", int, 1000,
            "Decode at the largest reduction that keeps the long side at least this many pixels (hashing, quality, preview).",
            Range(64, 65535)),
    Setting("preview_max_side", int, 1024, "Long side of the JPEG previews in previews/.", Range(64, 16384)),
    Setting("preview_quality", int, 85, "JPEG quality of the previews.", Range(1, 100)),
    Setting("batch_size", int, 64, "Ingest results written to the catalog per transaction.", Range(1, 100_000)),
    Setting("annotators_per_capture", int, 2, "How many annotators label each capture (K).", Range(1, 100)),
    Setting("near_duplicate_threshold", int, 6, "Hamming distance on 64-bit perceptual hashes that makes a near-duplicate candidate.",
            Range(0, 64)),
    Setting("burst_seconds", float, 5.0, "Captures from one camera body (serial) at most this many seconds apart form a burst.",
            Range(0, 86_400, integer=False)),
    Setting("taxonomy", list,
            ["drizzle", "heavy", "streak", "fog-mixed", "no-rain", "not-usable", "unsure"],
            "Rain-type labels, in key order (1..n in the labelling UI)."),
    Setting("taxonomy_version", int, 1, "Bumped whenever the taxonomy changes; recorded with every label and manifest.",
            Range(1, 2**31 - 1)),
)

BY_NAME = {s.name: s for s in SETTINGS}
STORE_ID = re.compile(r"[0-9a-f]{32}")


def defaults() -> dict[str, Any]:
    """Every setting at its default value."""
    return {s.name: s.default for s in SETTINGS}


def validate(values: dict[str, Any], source: str) -> dict[str, Any]:
    """Check names and types of ``values`` (from ``source``, for messages) and merge over defaults."""
    merged = defaults()
    for name, value in values.items():
        setting = BY_NAME.get(name)
        if setting is None:
            raise ConfigError(f"{source}: unknown setting {name!r}")
        if setting.type is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, setting.type) or isinstance(value, bool) and setting.type is not bool:
            raise ConfigError(f"{source}: setting {name!r} must be {setting.type.__name__}, got {value!r}")
        if setting.range is not None:
            value = setting.range.check(f"{source}: setting {name!r}", value)
        if name == "taxonomy":
            check_taxonomy(value, f"{source}: setting 'taxonomy'")
        merged[name] = value
    return merged


def check_taxonomy(labels: list[Any], name: str) -> None:
    """A taxonomy is a non-empty list of distinct, non-empty strings (rain types)."""
    if not labels:
        raise ConfigError(f"{name} is empty: expected at least one rain type")
    seen: set[str] = set()
    for label in labels:
        if not isinstance(label, str) or not label.strip():
            raise ConfigError(f"{name}: {label!r} is not a rain type (expected a non-empty string)")
        if label in seen:
            raise ConfigError(f"{name}: {label!r} appears twice")
        seen.add(label)


@dataclass(frozen=True)
class StoreToml:
    """What a store's rainset.toml says: validated settings, the catalog URL and the store id."""

    settings: dict[str, Any]
    url: str | None
    store_id: str | None  # None: a store made before rainset recorded ids (adopted on open)


def load_toml(path: Path) -> StoreToml:
    """Read a store's rainset.toml; an empty file is an error (a partial one means "defaults for the rest")."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read store settings: {exc}") from exc
    if not data:
        raise ConfigError(f"{path}: empty store settings file (expected at least 'format = 1'; "
                          "docs/store-format.md)")
    store_id = data.pop("store_id", None)
    if store_id is not None and (not isinstance(store_id, str) or not STORE_ID.fullmatch(store_id)):
        raise ConfigError(f"{path}: store_id {store_id!r} is not a store id (32 lowercase hex digits)")
    catalog = data.pop("catalog", {})
    if not isinstance(catalog, dict):
        raise ConfigError(f"{path}: [catalog] must be a table")
    url = catalog.get("url")
    if url is not None and not isinstance(url, str):
        raise ConfigError(f"{path}: [catalog] url must be a string")
    fmt = data.pop("format", None)
    if fmt not in (None, 1):
        raise ConfigError(f"{path}: store format {fmt!r} is not supported by this rainset")
    settings = data.pop("settings", {})
    if not isinstance(settings, dict):
        raise ConfigError(f"{path}: [settings] must be a table")
    return StoreToml(validate(settings, str(path)), url, store_id)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise ConfigError(f"cannot write {value!r} to TOML")


def dump_toml(settings: dict[str, Any], url: str | None, store_id: str | None = None) -> str:
    """The text of a rainset.toml holding ``settings`` (all of them, for discoverability), ``url`` and the id."""
    lines = ["# rainset store settings (see docs/store-format.md)", "format = 1"]
    if store_id:
        lines.append(f"# the catalog must carry the same id (docs/store-format.md)\nstore_id = {_toml_value(store_id)}")
    lines.append("")
    if url:
        lines += ["[catalog]", f"url = {_toml_value(url)}", ""]
    lines.append("[settings]")
    for s in SETTINGS:
        lines.append(f"# {s.help}")
        lines.append(f"{s.name} = {_toml_value(settings.get(s.name, s.default))}")
    return "\n".join(lines) + "\n"
