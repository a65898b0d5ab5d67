"""``rainset leakage``: near-duplicate pairs that sit in two different splits.

Works on our manifests and on any Parquet with a ``phash`` column (16 hex digits or an integer).
The split of a row is its ``split`` column, else the Hugging Face file-name prefix
(``train-00000-of-00001.parquet`` → ``train``). Pairs come from the multi-index hash search of
``rainset.dedupe.index`` (no N×N matrix).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rainset.dedupe.index import all_pairs
from rainset.errors import ManifestError
from rainset.manifests.versions import open_version
from rainset.store import Store


@dataclass(frozen=True)
class LeakageResult:
    """Cross-split pairs within ``threshold`` bits (the ``--json`` output)."""

    source: str
    rows: int
    threshold: int
    pairs: tuple[dict[str, Any], ...]  # {a, b, split_a, split_b, distance}

    @property
    def ok(self) -> bool:
        return not self.pairs

    def to_dict(self) -> dict:
        return {**asdict(self), "ok": self.ok}

    def lines(self) -> list[str]:
        head = (f"{self.source}: no cross-split pair within {self.threshold} bits among {self.rows} rows" if self.ok else
                f"{self.source}: {len(self.pairs)} cross-split pairs within {self.threshold} bits among {self.rows} rows")
        return [head] + [f"  {p['a']} ({p['split_a']}) ~ {p['b']} ({p['split_b']}): {p['distance']} bits"
                         for p in self.pairs[:50]]


def _split_from_name(path: Path) -> str:
    return path.name.split("-", 1)[0] if "-" in path.name else path.stem


def _read(path: Path) -> tuple[list[str], list[Any], list[str]]:
    """(ids, phashes, splits) of every Parquet file at ``path`` (a file or a folder, recursively)."""
    import pyarrow.parquet as pq  # heavy: pyarrow

    files = sorted(path.rglob("*.parquet")) if path.is_dir() else [path]
    if not files:
        raise ManifestError(f"{path}: no Parquet files")
    ids: list[str] = []
    hashes: list[Any] = []
    splits: list[str] = []
    for f in files:
        try:
            names = pq.read_schema(f).names
            if "phash" not in names:
                raise ManifestError(f"{f}: no 'phash' column (columns: {', '.join(names[:20])})")
            cols = [c for c in ("sample_id", "phash", "split") if c in names]
            table = pq.read_table(f, columns=cols).to_pydict()
        except OSError as exc:
            raise ManifestError(f"{f}: cannot read Parquet: {exc}") from exc
        n = len(table["phash"])
        ids += [str(x) for x in table.get("sample_id", [f"{f.name}#{i}" for i in range(n)])]
        hashes += table["phash"]
        splits += table.get("split") or [_split_from_name(f)] * n
    return ids, hashes, splits


def _to_u64(values: list[Any]) -> tuple[np.ndarray, np.ndarray]:
    """uint64 hashes and a mask of the rows that have one."""
    out = np.zeros(len(values), np.uint64)
    ok = np.zeros(len(values), bool)
    for i, v in enumerate(values):
        try:
            if isinstance(v, str) and len(v) == 16:
                out[i], ok[i] = int(v, 16), True
            elif isinstance(v, int) and not isinstance(v, bool):
                out[i], ok[i] = v & 0xFFFFFFFFFFFFFFFF, True
        except ValueError:
            continue
    return out, ok


def find_leaks(ids: list[str], hashes: list[Any], splits: list[str], threshold: int) -> list[dict[str, Any]]:
    """Every pair within ``threshold`` bits whose splits differ (rows without a hash are skipped)."""
    if not 0 <= threshold <= 32:
        raise ManifestError(f"threshold {threshold} must be between 0 and 32 bits")
    values, ok = _to_u64(hashes)
    keep = np.flatnonzero(ok)
    if keep.size < 2:
        return []
    pairs = all_pairs(values[keep], threshold)
    leaks = []
    for i, j, d in zip(keep[pairs.i].tolist(), keep[pairs.j].tolist(), pairs.dist.tolist()):
        if splits[i] != splits[j]:
            a, b = sorted((i, j), key=lambda k: ids[k])
            leaks.append({"a": ids[a], "b": ids[b], "split_a": splits[a], "split_b": splits[b], "distance": int(d)})
    return sorted(leaks, key=lambda p: (p["distance"], p["a"], p["b"]))


def check_leakage(path: Path, threshold: int, source: str | None = None) -> LeakageResult:
    """Cross-split near-duplicate pairs in the Parquet file or folder at ``path``."""
    if not path.exists():
        raise ManifestError(f"{path}: no such manifest version, file or folder")
    ids, hashes, splits = _read(path)
    leaks = find_leaks(ids, hashes, splits, threshold)
    return LeakageResult(source or str(path), len(ids), threshold, tuple(leaks))


def check_version_leakage(store: Store, name: str, threshold: int | None = None) -> LeakageResult:
    """Cross-split pairs of the manifest version ``name`` (default threshold: the store's setting)."""
    version = open_version(store, name)
    limit = store.settings["near_duplicate_threshold"] if threshold is None else threshold
    if not version.data_files():
        return LeakageResult(name, 0, limit, ())
    return check_leakage(version.path / "data", limit, name)
