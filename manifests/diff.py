"""``rainset diff A B``: what changed between two manifest versions, and why."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import select

from rainset.capture_paths import representative_paths
from rainset.catalog.db import catalog_session
from rainset.catalog.manifest_tables import Removal, SplitMove
from rainset.manifests.schema import SPLITS
from rainset.manifests.versions import open_version
from rainset.store import Store

COLUMNS = ["sample_id", "split", "rain_type", "attributes"]


@dataclass(frozen=True)
class DiffResult:
    """Differences from version ``a`` to version ``b`` (the ``--json`` output)."""

    a: str
    b: str
    seed_changed: bool
    added: tuple[dict[str, Any], ...]  # {sample_id, path, split, rain_type}
    removed: tuple[dict[str, Any], ...]  # {sample_id, path, split, rain_type, reason}
    relabelled: tuple[dict[str, Any], ...]  # {sample_id, path, old, new, old_attributes, new_attributes}
    moved: tuple[dict[str, Any], ...]  # {sample_id, path, from, to, reason}
    labels: dict[str, dict[str, int]]  # rain type -> {a, b, change}
    labels_by_split: dict[str, dict[str, dict[str, int]]]  # split -> rain type -> {a, b, change}

    def to_dict(self) -> dict:
        return asdict(self)

    def lines(self) -> list[str]:
        out = [f"{self.a} → {self.b}: +{len(self.added)} added, -{len(self.removed)} removed, "
               f"{len(self.relabelled)} relabelled, {len(self.moved)} moved between splits"
               + (" (the split seed changed)" if self.seed_changed else "")]
        out += [f"  removed {r['sample_id']} {_name(r)}: {r['reason']}" for r in self.removed]
        out += [f"  relabelled {r['sample_id']} {_name(r)}: {r['old']} → {r['new']}" for r in self.relabelled]
        out += [f"  moved {m['sample_id']} {_name(m)}: {m['from']} → {m['to']} ({m['reason']})" for m in self.moved]
        out += [f"  {label}: {c['a']} → {c['b']} ({c['change']:+d})" for label, c in self.labels.items() if c["change"]]
        return out


def _name(row: dict[str, Any]) -> str:
    return f"({row.get('path') or 'no file in the catalog'})"


def _paths(store: Store, ids: set[str]) -> dict[str, str]:
    """Capture id → its representative file's path, from the catalog (removed captures keep their files)."""
    if not ids:
        return {}
    with catalog_session(store.db_url) as s:
        return representative_paths(s, ids)


def _removal_reasons(store: Store, ids: list[str]) -> dict[str, str]:
    if not ids:
        return {}
    with catalog_session(store.db_url) as s:
        rows = s.execute(select(Removal.capture_id, Removal.reason).where(Removal.capture_id.in_(ids))
                         .order_by(Removal.id))
        return {cid: reason for cid, reason in rows}


def _move_reasons(store: Store, ids: list[str], seed: int) -> dict[str, str]:
    if not ids:
        return {}
    with catalog_session(store.db_url) as s:
        rows = s.execute(select(SplitMove.capture_id, SplitMove.reason)
                         .where(SplitMove.capture_id.in_(ids), SplitMove.seed == seed).order_by(SplitMove.id))
        return {cid: reason for cid, reason in rows}


def label_changes(a_rows: list[dict], b_rows: list[dict]) -> dict[str, dict[str, int]]:
    ca = Counter(r["rain_type"] or "(unlabelled)" for r in a_rows)
    cb = Counter(r["rain_type"] or "(unlabelled)" for r in b_rows)
    return {k: {"a": ca[k], "b": cb[k], "change": cb[k] - ca[k]} for k in sorted(set(ca) | set(cb))}


def diff_versions(store: Store, a: str, b: str) -> DiffResult:
    """Compare the exported versions ``a`` and ``b`` of ``store``."""
    va, vb = open_version(store, a), open_version(store, b)
    ra = {r["sample_id"]: r for r in va.rows(COLUMNS)}
    rb = {r["sample_id"]: r for r in vb.rows(COLUMNS)}
    seed_a = va.info.get("settings", {}).get("seed")
    seed_b = vb.info.get("settings", {}).get("seed")
    added = [{"sample_id": k, "split": rb[k]["split"], "rain_type": rb[k]["rain_type"]} for k in sorted(set(rb) - set(ra))]
    gone = sorted(set(ra) - set(rb))
    reasons = _removal_reasons(store, gone)
    removed = [{"sample_id": k, "split": ra[k]["split"], "rain_type": ra[k]["rain_type"],
                "reason": f"removed: {reasons[k]}" if k in reasons else f"not selected by {b}'s settings"}
               for k in gone]
    both = sorted(set(ra) & set(rb))
    relabelled = [{"sample_id": k, "old": ra[k]["rain_type"], "new": rb[k]["rain_type"],
                   "old_attributes": ra[k]["attributes"], "new_attributes": rb[k]["attributes"]}
                  for k in both if (ra[k]["rain_type"], ra[k]["attributes"]) != (rb[k]["rain_type"], rb[k]["attributes"])]
    moved_ids = [k for k in both if ra[k]["split"] != rb[k]["split"]]
    seed_changed = seed_a != seed_b
    why = {} if seed_changed else _move_reasons(store, moved_ids, seed_b if seed_b is not None else 0)
    moved = [{"sample_id": k, "from": ra[k]["split"], "to": rb[k]["split"],
              "reason": f"split seed changed ({seed_a} → {seed_b})" if seed_changed else why.get(k, "unrecorded")}
             for k in moved_ids]
    by_split = {split: label_changes([r for r in ra.values() if r["split"] == split],
                                     [r for r in rb.values() if r["split"] == split]) for split in SPLITS}
    listed = [*added, *removed, *relabelled, *moved]
    paths = _paths(store, {r["sample_id"] for r in listed})
    added, removed, relabelled, moved = ([{"sample_id": r["sample_id"], "path": paths.get(r["sample_id"]), **r} for r in rows]
                                         for rows in (added, removed, relabelled, moved))
    return DiffResult(a, b, seed_changed, tuple(added), tuple(removed), tuple(relabelled), tuple(moved),
                      label_changes(list(ra.values()), list(rb.values())), by_split)
