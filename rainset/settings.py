"""Store settings as data: one table drives validation, ``rainset.toml`` and the docs.

A store's ``rainset.toml`` holds only the values that differ from these defaults (plus the
catalog URL when it is not the embedded SQLite file). ``tests/test_docs.py`` fails when a
setting is missing from docs/store-format.md.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rainset.errors import ConfigError


@dataclass(frozen=True)
class Setting:
    """One store setting: its name, type, default and a line of help."""

    name: str
    type: type
    default: Any
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting("max_pixels", int, 250_000_000,
            "Refuse files whose header declares more pixels than this, before decoding (decompression bombs)."),
    Setting("max_decode_bytes", int, 1 << 30,
            "Per-worker memory budget: refuse files whose decoded pixels (width x height x channels x bytes per sample, "
            "from the header) would need more bytes than this, before decoding; 0 turns it off."),
    Setting("working_min_side", int, 1000,
            "Decode at the largest reduction that keeps the long side at least this many pixels (hashing, quality, preview)."),
    Setting("preview_max_side", int, 1024, "Long side of the JPEG previews in previews/."),
    Setting("preview_quality", int, 85, "JPEG quality of the previews."),
    Setting("batch_size", int, 64, "Ingest results written to the catalog per transaction."),
    Setting("annotators_per_capture", int, 2, "How many annotators label each capture (K)."),
    Setting("near_duplicate_threshold", int, 6, "Hamming distance on 64-bit perceptual hashes that makes a near-duplicate candidate."),
    Setting("burst_seconds", float, 5.0, "Captures from one camera body (serial) at most this many seconds apart form a burst."),
    Setting("taxonomy", list,
            ["drizzle", "heavy", "streak", "fog-mixed", "no-rain", "not-usable", "unsure"],
            "Rain-type labels, in key order (1..n in the labelling UI)."),
    Setting("taxonomy_version", int, 1, "Bumped whenever the taxonomy changes; recorded with every label and manifest."),
)

BY_NAME = {s.name: s for s in SETTINGS}


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
        if setting.type in (int, float) and value < 0:
            raise ConfigError(f"{source}: setting {name!r} must not be negative, got {value!r}")
        merged[name] = value
    return merged


def load_toml(path: Path) -> tuple[dict[str, Any], str | None]:
    """Read a store's rainset.toml: (validated settings, catalog URL or None)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read store settings: {exc}") from exc
    catalog = data.pop("catalog", {})
    if not isinstance(catalog, dict):
        raise ConfigError(f"{path}: [catalog] must be a table")
    url = catalog.get("url")
    if url is not None and not isinstance(url, str):
        raise ConfigError(f"{path}: [catalog] url must be a string")
    fmt = data.pop("format", None)
    if fmt not in (None, 1):
        raise ConfigError(f"{path}: store format {fmt!r} is not supported by this rainset")
    return validate(data.get("settings", {}), str(path)), url


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


def dump_toml(settings: dict[str, Any], url: str | None) -> str:
    """The text of a rainset.toml holding ``settings`` (all of them, for discoverability) and ``url``."""
    lines = ["# rainset store settings (see docs/store-format.md)", "format = 1", ""]
    if url:
        lines += ["[catalog]", f"url = {_toml_value(url)}", ""]
    lines.append("[settings]")
    for s in SETTINGS:
        lines.append(f"# {s.help}")
        lines.append(f"{s.name} = {_toml_value(settings.get(s.name, s.default))}")
    return "\n".join(lines) + "\n"
