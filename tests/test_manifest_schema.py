"""The manifest schema: Arrow schema, checked-in JSON Schema and docs agree; exported rows conform."""

from __future__ import annotations

import json
import re
from datetime import datetime
from importlib import resources
from pathlib import Path

from rainset.manifests.export import export_manifest
from rainset.manifests.schema import (COLUMN_NAMES, COLUMNS, SCHEMA_FILE, SCHEMA_VERSION, arrow_schema,
                                      filter_types, json_schema, json_schema_text)
from rainset.manifests.versions import open_version
from tests.manifest_helpers import labelled_store

DOCS = Path(__file__).resolve().parents[1] / "docs" / "manifests.md"
JSON_TYPES = {"string": str, "integer": int, "number": (int, float), "boolean": bool, "array": list,
              "object": dict, "null": type(None)}


def test_checked_in_json_schema_is_generated_from_code() -> None:
    assert SCHEMA_FILE.read_text(encoding="utf-8") == json_schema_text(), \
        "run: python -m rainset.manifests.schema"
    shipped = resources.files("rainset.manifests") / "manifest.schema.json"
    assert json.loads(shipped.read_text(encoding="utf-8"))["x-schema-version"] == SCHEMA_VERSION


def test_arrow_schema_matches_columns() -> None:
    schema = arrow_schema()
    assert tuple(schema.names) == COLUMN_NAMES and len(set(COLUMN_NAMES)) == len(COLUMN_NAMES)
    assert schema.metadata[b"rainset.schema_version"] == str(SCHEMA_VERSION).encode()
    assert set(filter_types()) == set(COLUMN_NAMES)
    assert "gps_lat" not in arrow_schema(("gps_lat",)).names


def test_docs_document_every_column_with_its_type() -> None:
    text = DOCS.read_text(encoding="utf-8")
    for c in COLUMNS:
        assert re.search(rf"^\| `{c.name}` \| {re.escape(c.type)} \| {'yes' if c.nullable else 'no'} \|", text, re.M), c.name


def _conforms(value, spec: dict) -> bool:  # noqa: ANN001
    types = spec["type"] if isinstance(spec["type"], list) else [spec["type"]]
    if isinstance(value, bool) and "boolean" not in types:
        return False
    if not any(isinstance(value, JSON_TYPES[t]) for t in types):
        return False
    if isinstance(value, list):
        return all(_conforms(v, spec["items"]) for v in value)
    if isinstance(value, dict):
        return set(value) == set(spec["properties"]) and all(_conforms(value[k], spec["properties"][k]) for k in value)
    return True


def test_exported_rows_conform_and_docs_duckdb_example_runs(tmp_path: Path) -> None:
    import duckdb

    store, _ = labelled_store(tmp_path / "store", 30)
    export_manifest(store, "v1", include_unlabelled=True)
    schema = json_schema()
    rows = open_version(store, "v1").rows()
    assert rows
    for row in rows:
        row = {k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()}
        assert set(schema["required"]) <= set(row) <= set(schema["properties"])
        bad = [k for k, v in row.items() if not _conforms(v, schema["properties"][k])]
        assert bad == [], (bad, row)
    sql = DOCS.read_text(encoding="utf-8").split("```sql")[1].split("```")[0].replace("STORE", str(store.root))
    con = duckdb.connect()
    results = [con.execute(s).fetchall() for s in sql.split(";") if "SELECT" in s]
    assert len(results) == 2
    assert sum(n for _, _, n in results[0]) == len(rows)
    night_heavy = [r for r in rows if r["rain_type"] == "heavy" and "night" in r["attributes"]]
    assert night_heavy and len(results[1]) == sum(len(r["labels"]) for r in night_heavy)
