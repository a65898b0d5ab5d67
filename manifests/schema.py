"""The manifest schema: one Arrow schema in code, a JSON Schema generated from it and checked in.

``COLUMNS`` is the single source: the Arrow schema, the JSON Schema file
(``manifests/manifest.schema.json``), the ``--where`` column types and the column table in
docs/manifests.md all come from it. Bump ``SCHEMA_VERSION`` whenever a column changes, then run
``python -m rainset.manifests.schema`` to rewrite the JSON Schema file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 4  # 3: video frames (video_sha256, frame_index, frame_pts); 4: pairs (rainy/clean/mask_path, ...)
SCHEMA_FILE = Path(__file__).with_name("manifest.schema.json")
SPLITS = ("train", "validation", "test")
# --redact groups: what each drops (datasets that leave the team)
REDACT = {"gps": ("gps_lat", "gps_lon", "gps_alt"), "serial": ("serial",)}


@dataclass(frozen=True)
class ColumnSpec:
    """One manifest column: name, logical type, whether it may be null, and what it holds."""

    name: str
    type: str  # string | int32 | int64 | float64 | bool | timestamp | list<string> | labels
    nullable: bool
    help: str


COLUMNS: tuple[ColumnSpec, ...] = (
    ColumnSpec("sample_id", "string", False, "Stable capture id (never changes, whichever file is the representative); for a pair: its pair id <video_sha256[:16]>-<frame_index>."),
    ColumnSpec("sha256", "string", False, "SHA-256 of the representative original (for a video frame: of the video)."),
    ColumnSpec("file_name", "string", False, "File name of the representative original as ingested."),
    ColumnSpec("path", "string", True, "Store-relative path of the original (objects/ab/<sha256>; for a video frame: the video's); null for link-mode files."),
    ColumnSpec("source_uri", "string", False, "Where the representative original was ingested from (path or URL; for a video frame: the video's)."),
    ColumnSpec("video_sha256", "string", True, "A video frame: SHA-256 of its video (equal to sha256); null for photos."),
    ColumnSpec("frame_index", "int64", True, "A video frame: its index in presentation order, from 0; null for photos."),
    ColumnSpec("frame_pts", "float64", True, "A video frame: its presentation time in seconds (null: photo, or unknown)."),
    ColumnSpec("rainy_path", "string", True, "A pair (export --pairs): store-relative path of the rainy frame PNG (pairs/NAME/rainy/...); null otherwise."),
    ColumnSpec("clean_path", "string", True, "A pair: store-relative path of the pseudo-clean target PNG (pairs/NAME/clean/..._clean.png); null otherwise."),
    ColumnSpec("mask_path", "string", True, "A pair: store-relative path of the validity mask PNG (8-bit, 255 = valid); null otherwise."),
    ColumnSpec("pair_quality", "float64", True, "A pair: its quality score, 0..1, higher is better (accepted pairs only are exported); null otherwise."),
    ColumnSpec("pairs_name", "string", True, "A pair: the pair set it comes from (STORE/pairs/NAME); null otherwise."),
    ColumnSpec("source_name", "string", True, "Name of the source (provenance)."),
    ColumnSpec("license", "string", True, "Licence of the capture (provenance)."),
    ColumnSpec("owner", "string", True, "Owner of the capture (provenance)."),
    ColumnSpec("format", "string", False, "jpeg, png, tiff, raw, heic, or frame (a video frame, decoded from its video on demand)."),
    ColumnSpec("width", "int32", False, "Full-resolution width in pixels, orientation applied."),
    ColumnSpec("height", "int32", False, "Full-resolution height in pixels, orientation applied."),
    ColumnSpec("bit_depth", "int32", False, "Bits per channel of the original."),
    ColumnSpec("make", "string", True, "EXIF camera make."),
    ColumnSpec("model", "string", True, "EXIF camera model."),
    ColumnSpec("serial", "string", True, "EXIF camera body serial number (dropped by --redact serial)."),
    ColumnSpec("lens", "string", True, "EXIF lens model."),
    ColumnSpec("capture_time", "string", True, "EXIF capture time, ISO 8601 local time with sub-seconds and offset when known."),
    ColumnSpec("subsec", "string", True, "EXIF SubSecTimeOriginal."),
    ColumnSpec("time_offset", "string", True, "EXIF OffsetTimeOriginal (e.g. +02:00)."),
    ColumnSpec("exposure_time", "float64", True, "EXIF exposure time in seconds."),
    ColumnSpec("f_number", "float64", True, "EXIF aperture (f-number)."),
    ColumnSpec("iso", "int32", True, "EXIF ISO speed."),
    ColumnSpec("focal_length", "float64", True, "EXIF focal length in mm."),
    ColumnSpec("orientation", "int32", True, "EXIF orientation tag (1-8) of the original."),
    ColumnSpec("gps_lat", "float64", True, "EXIF GPS latitude in degrees (dropped by --redact gps)."),
    ColumnSpec("gps_lon", "float64", True, "EXIF GPS longitude in degrees (dropped by --redact gps)."),
    ColumnSpec("gps_alt", "float64", True, "EXIF GPS altitude in metres (dropped by --redact gps)."),
    ColumnSpec("phash", "string", True, "64-bit perceptual hash (DCT) of the representative, 16 hex digits."),
    ColumnSpec("dhash", "string", True, "64-bit difference hash of the representative, 16 hex digits."),
    ColumnSpec("flags", "list<string>", False, "Quality flags (blur, clipping, ...) set by rainset dedupe."),
    ColumnSpec("cluster_id", "string", True, "Key of the near-duplicate cluster the capture belongs to (null: none)."),
    ColumnSpec("burst_id", "string", True, "Key of the burst the capture belongs to (null: none)."),
    ColumnSpec("scene_id", "string", True, "Key of the same-scene group the capture belongs to (null: none)."),
    ColumnSpec("leakage_group", "string", False, "Oldest capture id of the leakage group (clusters, bursts and scenes joined); one split per group."),
    ColumnSpec("split", "string", False, "train, validation or test."),
    ColumnSpec("rain_type", "string", True, "Consensus rain type (null: unlabelled or no consensus)."),
    ColumnSpec("attributes", "list<string>", False, "Consensus attributes (night, lens-droplets, splash, ...)."),
    ColumnSpec("agreement", "float64", True, "Share of annotators agreeing with the consensus (null with fewer than two labels)."),
    ColumnSpec("label_source", "string", True, "How the consensus was reached: adjudication, unanimous, majority or single."),
    ColumnSpec("needs_review", "bool", False, "Labelled, but without a majority: waits for a reviewer."),
    ColumnSpec("labels", "labels", False, "Every annotator's current label: list of {user, role, rain_type, attributes, created_at}."),
    ColumnSpec("rain_streak_density", "float64", True, "Preview rain measurement (docs/rainstats.md): streak density, 0..1 (null: not measured)."),
    ColumnSpec("rain_streak_angle", "float64", True, "Dominant streak angle, degrees from vertical, + leaning right going down (null: no streaks)."),
    ColumnSpec("rain_streak_length", "float64", True, "Typical streak length, pixels at a 1024-px long side (null: not measured)."),
    ColumnSpec("rain_streak_coherence", "float64", True, "How aligned the thin bright structures are, 0..1 (null: not measured)."),
    ColumnSpec("rain_veil", "float64", True, "Veiling haze strength, 0..1 (null: not measured)."),
    ColumnSpec("rain_droplets", "float64", True, "Share of the frame covered by lens-droplet blobs, 0..1 (null: not measured)."),
    ColumnSpec("rain_night", "float64", True, "Night score, 0..1 (null: not measured)."),
    ColumnSpec("ingested_at", "timestamp", False, "When the capture was first ingested (UTC)."),
)
# Manifest column -> key of the preview measurements (rainset.rainstats.RainStats.to_dict()).
RAIN_COLUMNS = {c.name: c.name[len("rain_"):] for c in COLUMNS if c.name.startswith("rain_") and c.name != "rain_type"}
COLUMN_NAMES = tuple(c.name for c in COLUMNS)
# The columns a pair row (``rainset export --pairs``) fills; null in every other row.
PAIR_COLUMNS = ("rainy_path", "clean_path", "mask_path", "pair_quality", "pairs_name")
# The members ``rainset shards`` writes for a pair row (KEY.rainy.png, ...), from these path columns.
PAIR_MEMBERS = {"rainy": "rainy_path", "clean": "clean_path", "mask": "mask_path"}


def _arrow_type(kind: str) -> Any:
    import pyarrow as pa  # heavy: pyarrow

    simple = {"string": pa.string(), "int32": pa.int32(), "int64": pa.int64(), "float64": pa.float64(),
              "bool": pa.bool_(), "timestamp": pa.timestamp("us", tz="UTC"), "list<string>": pa.list_(pa.string())}
    if kind in simple:
        return simple[kind]
    if kind == "labels":
        return pa.list_(pa.struct([("user", pa.string()), ("role", pa.string()), ("rain_type", pa.string()),
                                   ("attributes", pa.list_(pa.string())), ("created_at", pa.string())]))
    raise ValueError(f"unknown column type {kind!r}")


IMAGE_COLUMN = "image"
IMAGE_HELP = ("The embedded image (rainset export --images embed|embed-full): {bytes, path}, which Hugging Face "
              "datasets loads as Image (a PIL image).")
# The Hugging Face ``datasets`` features stored in the Parquet schema metadata (key ``huggingface``): only
# the image column needs one (the other columns' types follow from Arrow), so any datasets version reads it.
HF_METADATA = json.dumps({"info": {"features": {IMAGE_COLUMN: {"_type": "Image"}}}})


def arrow_schema(drop: tuple[str, ...] = (), image: bool = False) -> Any:
    """The manifest's ``pyarrow.Schema`` (without the ``drop`` columns), schema version in its metadata.

    With ``image``, a last column ``image`` (struct of ``bytes`` and ``path``, as Hugging Face
    ``datasets`` stores an ``Image``) and the ``huggingface`` features metadata that make
    ``load_dataset("parquet", ...)`` decode it to PIL images.
    """
    import pyarrow as pa  # heavy: pyarrow

    fields = [pa.field(c.name, _arrow_type(c.type), nullable=c.nullable, metadata={"description": c.help})
              for c in COLUMNS if c.name not in drop]
    metadata = {"rainset.schema_version": str(SCHEMA_VERSION)}
    if image:
        fields.append(pa.field(IMAGE_COLUMN, pa.struct([("bytes", pa.binary()), ("path", pa.string())]),
                               nullable=True, metadata={"description": IMAGE_HELP}))
        metadata["huggingface"] = HF_METADATA
    return pa.schema(fields, metadata=metadata)


def hf_feature(kind: str) -> dict[str, Any]:
    """A column type as one entry of a dataset card's ``dataset_info.features`` (without its name)."""
    if kind == "labels":
        return {"list": [{"name": n, **hf_feature(k)} for n, k in
                         (("user", "string"), ("role", "string"), ("rain_type", "string"),
                          ("attributes", "list<string>"), ("created_at", "string"))]}
    if kind == "list<string>":
        return {"list": "string"}
    if kind == "timestamp":
        return {"dtype": "timestamp[us, tz=UTC]"}
    if kind == "image":
        return {"dtype": "image"}
    return {"dtype": kind}


def hf_features(drop: tuple[str, ...] = (), image: bool = False) -> list[dict[str, Any]]:
    """The card's ``dataset_info.features`` for a version without the ``drop`` columns."""
    cols = [(c.name, c.type) for c in COLUMNS if c.name not in drop] + ([(IMAGE_COLUMN, "image")] if image else [])
    return [{"name": name, **hf_feature(kind)} for name, kind in cols]


def filter_types() -> dict[str, type]:
    """Column name → Python type for ``compile_where`` (timestamps compare as ISO text)."""
    py = {"string": str, "int32": int, "int64": int, "float64": float, "bool": bool, "timestamp": str,
          "list<string>": list, "labels": list}
    return {c.name: py[c.type] for c in COLUMNS}


def _json_type(kind: str) -> dict[str, Any]:
    if kind == "labels":
        item = {"type": "object", "additionalProperties": False,
                "required": ["user", "role", "rain_type", "attributes", "created_at"],
                "properties": {"user": {"type": "string"}, "role": {"type": "string"},
                               "rain_type": {"type": "string"},
                               "attributes": {"type": "array", "items": {"type": "string"}},
                               "created_at": {"type": "string"}}}
        return {"type": "array", "items": item}
    if kind == "list<string>":
        return {"type": "array", "items": {"type": "string"}}
    if kind == "timestamp":
        return {"type": "string", "format": "date-time"}
    return {"type": {"string": "string", "int32": "integer", "int64": "integer", "float64": "number",
                     "bool": "boolean"}[kind]}


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of one manifest row, generated from ``COLUMNS``."""
    props: dict[str, Any] = {}
    for c in COLUMNS:
        spec = _json_type(c.type)
        if c.nullable:
            spec["type"] = [spec["type"], "null"]
        props[c.name] = {**spec, "description": c.help, "x-arrow-type": c.type}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://rainset.invalid/manifest/v{SCHEMA_VERSION}.schema.json",
        "title": "rainset manifest row",
        "x-schema-version": SCHEMA_VERSION,
        "type": "object",
        "additionalProperties": False,
        "required": [c.name for c in COLUMNS if c.name not in {x for g in REDACT.values() for x in g}],
        "properties": props,
    }


def json_schema_text() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=False) + "\n"


def write_json_schema(path: Path = SCHEMA_FILE) -> Path:
    """Rewrite the checked-in JSON Schema file from ``COLUMNS``."""
    path.write_text(json_schema_text(), encoding="utf-8")
    return path


if __name__ == "__main__":
    print(write_json_schema())
