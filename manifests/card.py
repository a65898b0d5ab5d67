"""The dataset card of a manifest version: ``README.md`` with Hugging Face YAML metadata.

The front matter follows the Hub's dataset card format (``license``, ``pretty_name``,
``task_categories``, ``tags``, ``size_categories``, ``configs`` with one ``data_files`` entry per
split that has rows, ``dataset_info`` with the features and split sizes); the body says where the
version comes from and how to load it. The YAML is written here (no YAML library needed): keys
are plain words and every string is a JSON string, which YAML reads as a double-quoted scalar.
"""

from __future__ import annotations

import json
import shlex
from collections import Counter
from dataclasses import dataclass
from typing import Any

from rainset import __version__
from rainset.manifests.schema import SPLITS, hf_features

DEFAULT_LICENSE = "other"
TAGS = ("deraining", "rain", "image-restoration", "rainset")


@dataclass(frozen=True)
class CardFacts:
    """What the card tells beyond version.json: where the version comes from and how it was made."""

    store_id: str | None
    command: str  # an export command line that makes the same version
    license: str
    sources: dict[str, int]  # source name -> samples
    rain_types: dict[str, int]  # consensus rain type (or "(unlabelled)") -> samples


def export_command(name: str, settings: dict[str, Any]) -> str:
    """The ``rainset export`` command line equivalent to ``settings`` (as version.json records them)."""
    parts = ["rainset", "export", name]
    if settings.get("pairs"):
        parts += ["--pairs", settings["pairs"]]
    if settings.get("where"):
        parts += ["--where", settings["where"]]
    if settings.get("include_unlabelled"):
        parts.append("--include-unlabelled")
    if settings.get("redact"):
        parts += ["--redact", ",".join(settings["redact"])]
    if settings.get("images", "path") != "path":
        parts += ["--images", settings["images"]]
    if settings.get("license", DEFAULT_LICENSE) != DEFAULT_LICENSE:
        parts += ["--license", settings["license"]]
    if settings.get("seed"):
        parts += ["--seed", str(settings["seed"])]
    ratios = settings.get("ratios")
    if ratios and [float(ratios.get(s, 0)) for s in SPLITS] != [0.8, 0.1, 0.1]:
        parts += ["--ratios", ",".join(f"{float(ratios.get(s, 0)) * 100:g}" for s in SPLITS)]
    if settings.get("rows_per_file", 50_000) != 50_000:
        parts += ["--rows-per-file", str(settings["rows_per_file"])]
    return shlex.join(parts)


def card_facts(rows: list[dict[str, Any]], store_id: str | None, name: str, settings: dict[str, Any]) -> CardFacts:
    """The :class:`CardFacts` of the exported ``rows``."""
    sources = Counter(r.get("source_name") or "(unnamed)" for r in rows)
    rain = Counter(r.get("rain_type") or "(unlabelled)" for r in rows)
    return CardFacts(store_id, export_command(name, settings), settings.get("license", DEFAULT_LICENSE),
                     dict(sorted(sources.items())), dict(sorted(rain.items())))


def _size_category(n: int) -> str:
    for limit, label in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"),
                         (1_000_000, "100K<n<1M"), (10_000_000, "1M<n<10M")):
        if n < limit:
            return label
    return "10M<n<100M"


def _yaml(value: Any, indent: int = 0) -> list[str]:
    """Block-style YAML lines of ``value`` (dicts, lists, strings, numbers, bools, None)."""
    pad = " " * indent
    lines: list[str] = []
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(v, (dict, list)) and v:
                lines.append(f"{pad}{k}:")
                lines += _yaml(v, indent + 2)
            else:
                lines.append(f"{pad}{k}: {_scalar(v)}")
    elif isinstance(value, list):
        for item in value:
            sub = _yaml(item, indent + 2) if isinstance(item, (dict, list)) and item else [f"{pad}  {_scalar(item)}"]
            lines.append(f"{pad}- {sub[0].lstrip()}")
            lines += sub[1:]
    else:
        lines.append(f"{pad}{_scalar(value)}")
    return lines


def _scalar(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "null"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, (dict, list)):
        return "{}" if isinstance(v, dict) else "[]"
    return json.dumps(str(v), ensure_ascii=False)


def front_matter(info: dict[str, Any], facts: CardFacts) -> dict[str, Any]:
    """The card's YAML metadata as a dict (what :func:`dataset_card` writes between the ``---`` lines)."""
    images = info["settings"].get("images", "path")
    counts = info["counts"]
    files = {s: [f["path"] for f in info["files"] if f["path"].startswith(f"data/{s}-")] for s in SPLITS}
    data_files = [{"split": s, "path": f"data/{s}-*.parquet"} for s in SPLITS if files[s]]
    meta: dict[str, Any] = {"license": facts.license}
    if facts.license == "other":
        meta["license_name"] = "per-capture"
        meta["license_details"] = "Each sample's licence is in its license column (set at ingest)."
    meta.update({
        "pretty_name": f"rainset {info['name']}",
        "task_categories": ["image-to-image"],
        "tags": list(TAGS),
        "size_categories": [_size_category(info["samples"])],
        "configs": [{"config_name": "default", "data_files": data_files}] if data_files else [],
        "dataset_info": {
            "features": hf_features(tuple(info["redacted"]), images != "path"),
            "splits": [{"name": s, "num_examples": counts[s]["total"],
                        "num_bytes": sum(f["bytes"] for f in info["files"] if f["path"] in files[s])}
                       for s in SPLITS if files[s]],
            "download_size": sum(f["bytes"] for f in info["files"]),
        },
    })
    return meta


def _table(head: tuple[str, ...], rows: list[tuple[Any, ...]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def pairs_note(info: dict[str, Any]) -> str:
    """The card's section on a pairs version (``rainset export --pairs``), or nothing."""
    p = info.get("pairs")
    if not p:
        return ""
    return f"""## Pairs

Every row is a **pair**: a real rainy video frame (`rainy_path`), its pseudo-clean target
(`clean_path`) and a validity mask (`mask_path`, 8-bit PNG, 255 = valid: score and train only
there), all lossless PNGs under the store's `pairs/{p["name"]}/` folder (paths are store-relative;
`rainset shards` packs them as `KEY.rainy.png`, `KEY.clean.png`, `KEY.mask.png`). The targets were
recovered from static-camera footage by rainset's `{p["method"]}` method, not photographed without
rain: they are pseudo ground truth.

| | |
|---|---|
| pair set | `{p["name"]}` (created {p["created"]}) |
| method | {p["method"]} |
| quality threshold | {p["threshold"]} (`pair_quality` of every row is at least this) |
| pairs in the set | {p["pairs"]}, accepted {p["accepted"]}, exported {p["exported"]} |

Splits are by video: all pairs of one video sit in one split.

"""


def dataset_card(info: dict[str, Any], facts: CardFacts) -> str:
    """The text of the version's ``README.md``."""
    name = info["name"]
    images = info["settings"].get("images", "path")
    counts = info["counts"]
    image_note = {
        "path": "No images are embedded (`--images path`): `path` is the store-relative path of the original.",
        "embed": "The `image` column holds each capture's preview JPEG (upright, long side at most 1024 px).",
        "embed-full": "The `image` column holds the full-resolution original: JPEG and PNG as ingested, TIFF, "
                      "RAW and HEIC decoded upright to 8-bit PNG.",
    }[images]
    redacted = info["redacted"]
    redact_note = (f"Redacted: the columns {', '.join(f'`{c}`' for c in redacted)} are left out"
                   + (", and the embedded images carry no EXIF, XMP or other metadata." if images != "path" else ".")
                   if redacted else "Not redacted: GPS and camera serial columns are included where known.")
    splits = _table(("split", "samples", *sorted({k for s in SPLITS for k in counts[s]["labels"]})),
                    [(s, counts[s]["total"], *(counts[s]["labels"].get(k, 0) for k in
                                               sorted({k for x in SPLITS for k in counts[x]["labels"]})))
                     for s in SPLITS])
    rain = _table(("rain type", "samples"), list(facts.rain_types.items()))
    pairs_section = pairs_note(info)
    sources = _table(("source", "samples"), list(facts.sources.items()))
    first = next((s for s in SPLITS if counts[s]["total"]), "train")
    load_images = (f'ds = load_dataset("path/to/{name}")  # this folder: the splits declared above\n'
                   f'ds = load_dataset("parquet", data_files={{"{first}": "data/{first}-*.parquet"}})  # or by files\n'
                   + (f'ds["{first}"][0]["image"]  # a PIL image' if images != "path" else
                      '# no image column: export with --images embed (or embed-full) to get one'))
    body = f"""# rainset {name}

A deraining dataset version exported by rainset {__version__}: real rainy camera
captures with consensus rain-type labels, grouped so that near-duplicates, bursts and scenes never
straddle splits.

## Provenance

| | |
|---|---|
| store id | `{facts.store_id or "-"}` |
| version | `{name}` (parent `{info.get("parent") or "-"}`) |
| created | {info.get("created_at")} |
| rainset | {__version__} |
| manifest schema | v{info.get("schema_version")}, taxonomy v{info.get("taxonomy_version")} |
| export command | `{facts.command}` |
| licence | {facts.license}{" (per capture: see the `license` column)" if facts.license == "other" else ""} |

{image_note} {redact_note}

Sources:

{sources}

{pairs_section}## Splits

{splits}

Rain types over all splits:

{rain}

## Loading

With pandas (any Parquet reader works: polars, DuckDB, pyarrow):

```python
import pandas as pd
df = pd.read_parquet("data/")  # or one split: "data/train-00000-of-00001.parquet"
```

With Hugging Face `datasets`:

```python
from datasets import load_dataset
{load_images}
```

Every column is described in rainset's docs/manifests.md; `version.json` beside this card records the
settings, the counts and the sha256 of every data file.
"""
    return "---\n" + "\n".join(_yaml(front_matter(info, facts))) + "\n---\n\n" + body
