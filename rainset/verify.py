"""``rainset verify``: re-hash every stored original against its sha256, and list objects no catalog row names."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Callable

from sqlalchemy import select

from rainset.capture_paths import files_by_content
from rainset.catalog.db import catalog_session
from rainset.catalog.models import File, Video
from rainset.hashing import sha256_file
from rainset.local_uri import uri_to_path
from rainset.store import Store


@dataclass(frozen=True)
class Problem:
    """One object that is missing or whose bytes no longer match its sha256."""

    sha256: str
    path: str
    problem: str  # missing | damaged | unreadable | orphan (in objects/, named by no catalog row)
    detail: str
    captures: tuple[str, ...] = ()  # the captures with a file of this content
    sources: tuple[str, ...] = ()  # those files' source paths (or URIs), in ingest order

    def lines(self) -> list[str]:
        """The problem, then (unless an orphan, which no catalog row names) its captures and sources."""
        first = f"  {self.problem:<10} {self.path}: {self.detail}"
        if self.problem == "orphan":
            return [first]
        return [first, f"             capture {', '.join(self.captures) or '(none)'}; "
                       f"source {', '.join(self.sources) or '(none)'}"]


@dataclass(frozen=True)
class VerifyReport:
    """The ``--json`` output of ``rainset verify`` (keys are stable)."""

    checked: int
    ok: int
    missing: int
    damaged: int
    problems: list[Problem] = field(default_factory=list)
    orphans: int = 0

    def to_dict(self) -> dict:
        return asdict(self)

    def lines(self) -> list[str]:
        """The human-readable report (``rainset verify``)."""
        return [f"{self.checked} objects checked: {self.ok} ok, {self.missing} missing, {self.damaged} damaged, "
                f"{self.orphans} named by no catalog row",
                *(line for p in self.problems for line in p.lines())]


def verify_store(store: Store, progress: Callable[[int, int], None] | None = None) -> VerifyReport:
    """Re-hash every object (copy mode) or referenced original (link mode)."""
    with catalog_session(store.db_url) as s:
        rows = s.execute(select(File.sha256, File.storage, File.uri).where(File.storage != "frame")
                         .order_by(File.sha256)).all()
        # videos: frame captures have no object of their own (storage 'frame'); their video's is checked
        rows += s.execute(select(Video.sha256, Video.storage, Video.uri).order_by(Video.sha256)).all()
    targets: dict[tuple[str, str], tuple[str, bool]] = {}  # (sha, shown path) -> (what to open, is a URL)
    for sha, storage, uri in rows:
        if storage == "copy":
            path = str(store.object_path(sha))
            targets[(sha, path)] = (path, False)
        elif "://" in uri:
            targets[(sha, uri)] = (uri, True)
        else:  # a linked local original: its URI escapes backslashes and undecodable bytes
            targets[(sha, uri)] = (uri_to_path(uri), False)
    problems: list[Problem] = []
    for i, ((sha, path), (opened, is_url)) in enumerate(sorted(targets.items())):
        try:
            actual = sha256_file(opened, url=is_url)
        except FileNotFoundError:
            problems.append(Problem(sha, path, "missing", "the file does not exist"))
        except OSError as exc:
            problems.append(Problem(sha, path, "unreadable", exc.strerror or str(exc)))
        else:
            if actual != sha:
                problems.append(Problem(sha, path, "damaged", f"content hashes to {actual}"))
        if progress:
            progress(i + 1, len(targets))
    problems = _named(store, problems)
    missing = sum(p.problem == "missing" for p in problems)
    damaged = len(problems) - missing
    orphans = orphan_objects(store, {sha for sha, _, _ in rows})
    return VerifyReport(checked=len(targets), ok=len(targets) - len(problems), missing=missing,
                        damaged=damaged, problems=problems + orphans, orphans=len(orphans))


def orphan_objects(store: Store, named: set[str]) -> list[Problem]:
    """Files in objects/ whose name is no sha256 a ``files`` row carries (a lost or foreign catalog)."""
    found = []
    for path in sorted((store.root / "objects").glob("*/*")):
        if path.is_file() and path.name not in named:
            found.append(Problem(path.name, str(path), "orphan", "no catalog row names this object"))
    return found


def _named(store: Store, problems: list[Problem]) -> list[Problem]:
    """The problems with the captures and source files behind each object."""
    if not problems:
        return problems
    with catalog_session(store.db_url) as s:
        files = files_by_content(s, {p.sha256 for p in problems})
    named = []
    for p in problems:
        found = files.get(p.sha256, [])
        named.append(replace(p, captures=tuple(dict.fromkeys(f.capture_id for f in found)),
                             sources=tuple(f.path for f in found)))
    return named
