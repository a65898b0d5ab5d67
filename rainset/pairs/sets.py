"""The pair sets of a store: list them, show one, remove one (``rainset pairs list/show/remove``).

A folder under ``STORE/pairs/`` is a pair set when it holds ``pairs.json``; hidden folders
(``.NAME.building-*``: a build in progress or killed) are not listed.
"""

from __future__ import annotations

import os
import secrets
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rainset.errors import PairsError
from rainset.folder_names import FOLDER_NAME_RULE, is_folder_name
from rainset.pairs.pairset import INDEX_NAME, PairSet, pairs_root, pairset_dir, read_index
from rainset.store import Store


def check_name(name: str) -> str:
    """``name`` when it can name a pair set folder. Raises PairsError naming it and the rule."""
    if not is_folder_name(name):
        raise PairsError(f"invalid pair set name {name!r}: {FOLDER_NAME_RULE}")
    return name


@dataclass(frozen=True)
class PairSetSummary:
    """One pair set in a listing."""

    name: str
    method: str
    created: str
    pairs: int
    accepted: int
    threshold: float
    videos: int
    folder: str

    @classmethod
    def of(cls, folder: Path, ps: PairSet) -> "PairSetSummary":
        return cls(ps.name, ps.method, ps.created, len(ps.pairs), len(ps.accepted()), ps.threshold,
                   len({p.video_sha256 for p in ps.pairs}), str(folder))

    def line(self) -> str:
        return (f"{self.name}\t{self.method}\t{self.pairs} pairs ({self.accepted} accepted, quality >= "
                f"{self.threshold:g})\t{self.videos} videos\t{self.created}")


@dataclass(frozen=True)
class PairSetList:
    sets: tuple[PairSetSummary, ...]
    unreadable: tuple[str, ...] = ()  # folders whose pairs.json cannot be read

    def to_dict(self) -> dict[str, Any]:
        return {"pairsets": [asdict(s) for s in self.sets], "unreadable": list(self.unreadable)}

    def lines(self) -> list[str]:
        out = [s.line() for s in self.sets] or ["no pair sets yet (rainset pairs build NAME)"]
        return out + [f"unreadable: {u}" for u in self.unreadable]


@dataclass(frozen=True)
class PairSetView:
    """One pair set in full: its index, with the files as absolute paths."""

    folder: Path
    pairset: PairSet

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self.pairset)
        for row in data["pairs"]:
            for key in ("rainy", "clean", "mask"):
                row[key] = str(self.folder / row[key])
        return {**data, "folder": str(self.folder), "accepted": len(self.pairset.accepted())}

    def lines(self) -> list[str]:
        ps = self.pairset
        out = [PairSetSummary.of(self.folder, ps).line(), f"folder {self.folder}",
               f"where {ps.where}" if ps.where else "where: every video",
               "pair_id\tframe\tsegment\tquality\taccepted\tresidual_px\tlight\tmasked"]
        out += [f"{p.pair_id}\t{p.frame_index}\t{p.segment}\t{p.quality:.3f}\t{'yes' if p.accepted else 'no'}\t"
                f"{p.residual_motion:.2f}\t{p.light_change:.3f}\t{p.masked_fraction:.3f}" for p in ps.pairs]
        return out


@dataclass(frozen=True)
class RemovedPairSet:
    name: str
    folder: str
    pairs: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def lines(self) -> list[str]:
        return [f"removed pair set {self.name} ({self.pairs} pairs, {self.folder})"]


def list_pairsets(store: Store) -> PairSetList:
    """Every pair set of the store, by name."""
    root = pairs_root(store.root)
    sets, unreadable = [], []
    for folder in sorted(root.iterdir()) if root.is_dir() else ():
        if folder.name.startswith(".") or not (folder / INDEX_NAME).is_file():
            continue
        try:
            sets.append(PairSetSummary.of(folder, read_index(folder)))
        except (ValueError, OSError) as exc:
            unreadable.append(f"{folder}: {exc}")
    return PairSetList(tuple(sets), tuple(unreadable))


def open_pairset(store: Store, name: str) -> PairSetView:
    """The pair set ``name``.

    Raises:
        PairsError: a bad name, no such set, or an unreadable ``pairs.json``.
    """
    folder = pairset_dir(store.root, check_name(name))
    try:
        return PairSetView(folder, read_index(folder))
    except FileNotFoundError:
        raise PairsError(f"no pair set {name!r} in {folder.parent}") from None
    except (ValueError, OSError) as exc:
        raise PairsError(f"pair set {name!r}: cannot read {folder / INDEX_NAME}: {exc}") from None


def remove_pairset(store: Store, name: str) -> RemovedPairSet:
    """Delete the pair set ``name`` and its files.

    Raises:
        PairsError: a bad name or no such set.
    """
    folder = pairset_dir(store.root, check_name(name))
    if not folder.is_dir():
        raise PairsError(f"no pair set {name!r} in {folder.parent}")
    try:
        count = len(read_index(folder).pairs)
    except (ValueError, OSError):
        count = 0
    try:  # hidden first, so an interrupted removal leaves no half set under the name
        gone = folder.with_name(f".{name}.removing-{secrets.token_hex(4)}")
        os.rename(folder, gone)
        shutil.rmtree(gone)
    except OSError as exc:
        raise PairsError(f"{folder}: cannot remove: {exc.strerror or exc}") from exc
    return RemovedPairSet(name, str(folder), count)
