"""``index.json`` (rainset-shard-index-v1) and the per-split wids indexes; checking a built folder."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from rainset.errors import ShardsError
from rainset.hashing import sha256_file
from rainset.loader.index import INDEX_KIND
from rainset.shards.tarwrite import ShardInfo

WIDS_KIND = "wids-shard-index-v1"
INDEX_FILE = "index.json"


def _dump(data: dict) -> bytes:
    return (json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def index_document(name: str, manifest: str, settings: dict[str, Any], splits: dict[str, list[ShardInfo]],
                   skipped: list[dict[str, str]]) -> dict[str, Any]:
    """The index.json content: settings, and per split its sample count and shard list.

    ``skipped`` lists the samples left out with ``--skip-bad`` ({sample_id, split, reason, detail}).
    """
    return {
        "__kind__": INDEX_KIND, "name": name, "manifest": manifest, "settings": settings,
        "splits": {split: {"nsamples": sum(s.nsamples for s in shards), "shardlist": [s.to_dict() for s in shards]}
                   for split, shards in splits.items() if shards},
        "skipped": skipped,
    }


def wids_document(name: str, split: str, shards: list[ShardInfo]) -> dict[str, Any]:
    """A wids-compatible shard index of one split (``{split}.wids.json``)."""
    return {"__kind__": WIDS_KIND, "wids_version": 1, "name": f"{name}/{split}",
            "shardlist": [{"url": s.url, "nsamples": s.nsamples, "filesize": s.filesize} for s in shards]}


def write_indexes(folder: Path, index: dict[str, Any]) -> list[str]:
    """Write index.json and one ``{split}.wids.json`` per split with shards; returns the file names."""
    (folder / INDEX_FILE).write_bytes(_dump(index))
    written = [INDEX_FILE]
    for split, body in index["splits"].items():
        shards = [ShardInfo(s["url"], s["nsamples"], s["filesize"], s["sha256"], s["labels"], s["images"])
                  for s in body["shardlist"]]
        (folder / f"{split}.wids.json").write_bytes(_dump(wids_document(index["name"], split, shards)))
        written.append(f"{split}.wids.json")
    return written


def load_index(folder: Path) -> dict[str, Any]:
    """Read and check the kind of ``folder/index.json`` (ShardsError when missing or not ours)."""
    path = folder / INDEX_FILE
    try:
        index = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ShardsError(f"{path}: no shard index here") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ShardsError(f"{path}: cannot read the shard index: {exc}") from exc
    if not isinstance(index, dict) or index.get("__kind__") != INDEX_KIND:
        raise ShardsError(f"{path}: not a rainset shard index (__kind__ is not {INDEX_KIND!r})")
    return index


@dataclass(frozen=True)
class ShardsCheck:
    """What ``rainset shards NAME --verify`` found (its ``--json`` output)."""

    path: str
    shards: int
    ok: int
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    def lines(self) -> list[str]:
        head = f"{self.path}: {self.shards} shards checked, {self.ok} ok, {len(self.problems)} problems"
        return [head, *(f"  {p}" for p in self.problems)]


def verify_folder(folder: Path, progress: Callable[[int, int], None] | None = None) -> ShardsCheck:
    """Check every shard listed in ``folder/index.json``: present, same size, same sha256; no stray tars."""
    index = load_index(folder)
    entries = [s for body in index["splits"].values() for s in body["shardlist"]]
    problems = []
    for n, entry in enumerate(entries):
        path = folder / entry["url"]
        if not path.is_file():
            problems.append(f"{entry['url']}: missing")
        elif path.stat().st_size != entry["filesize"]:
            problems.append(f"{entry['url']}: {path.stat().st_size} bytes, index.json says {entry['filesize']}")
        elif sha256_file(path) != entry["sha256"]:
            problems.append(f"{entry['url']}: sha256 differs from index.json")
        if progress:
            progress(n + 1, len(entries))
    listed = {e["url"] for e in entries}
    problems += [f"{p.name}: not listed in index.json" for p in sorted(folder.glob("*.tar")) if p.name not in listed]
    return ShardsCheck(str(folder), len(entries), len(entries) - sum(1 for p in problems if "not listed" not in p),
                       problems)
