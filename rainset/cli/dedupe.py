"""Dedupe commands: ``rainset dedupe`` and ``rainset groups`` (list, and the corrections)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Callable, Optional, TypeVar

import typer

from rainset.cli.shell import JsonOpt, QuietOpt, StoreOpt, app, edge, emit, out, print_json, progress_bar, resolve_store
from rainset.ranges import HAMMING, check_optional

groups_app = typer.Typer(help="List duplicate clusters, bursts and scene groups; correct them.")
app.add_typer(groups_app, name="groups")

T = TypeVar("T")
KindOpt = Annotated[Optional[str], typer.Option("--kind", help="Only groups of this kind: cluster, burst or scene.")]


def _in_catalog(store_path: Optional[Path], work: Callable[[Any, Any], T]) -> T:
    """Run ``work(store, session)`` in one catalog transaction (library errors become messages)."""
    from rainset.catalog.db import catalog_session  # heavy: sqlalchemy

    with edge():
        store = resolve_store(store_path)
        with catalog_session(store.db_url) as session:
            return work(store, session)
    raise AssertionError("unreachable")  # edge() exits on errors


@app.command("dedupe")
def dedupe_cmd(threshold: Annotated[Optional[int], typer.Option("--threshold", help="pHash Hamming threshold "
                                                                "0 to 64 (default: the store's near_duplicate_threshold).",
                                                                show_default=False)] = None,
               store: StoreOpt = None, as_json: JsonOpt = False, quiet: QuietOpt = False) -> None:
    """Find exact and near-duplicates, bursts and scenes; choose representatives; set quality flags."""
    from rainset.dedupe.run import dedupe  # heavy: sqlalchemy, numpy, cv2

    with edge():
        check_optional("--threshold", threshold, HAMMING)
        st = resolve_store(store)
        with progress_bar("confirm", not (quiet or as_json)) as bar:
            result = dedupe(st, threshold, progress=bar)
    emit(result, as_json, quiet)


@groups_app.callback(invoke_without_command=True)
def groups_list(ctx: typer.Context, kind: KindOpt = None, store: StoreOpt = None, as_json: JsonOpt = False) -> None:
    """List clusters, bursts and scene groups with their members and relation (no sub-command)."""
    if ctx.invoked_subcommand is not None:
        return
    from rainset.dedupe.groups import list_groups  # heavy: sqlalchemy

    views = _in_catalog(store, lambda _, session: list_groups(session, kind))
    if as_json:
        print_json({"groups": [v.to_dict() for v in views]})
        return
    for v in views:
        out.print(f"{v.kind:<8} {v.key}  ({len(v.members)} captures)", highlight=False)
        for m in v.members:
            out.print(f"  {'*' if m.representative else ' '} {m.capture_id}  {m.relation:<14} {m.path or '-'}",
                      highlight=False)
    if not views:
        out.print("no groups (run 'rainset dedupe')", highlight=False)


def _correct(kind: str, captures: list[str], store: Optional[Path], as_json: bool) -> None:
    from rainset.dedupe.corrections import add_correction  # heavy: sqlalchemy
    from rainset.dedupe.groups import regroup  # heavy: sqlalchemy

    def work(st: Any, session: Any) -> tuple[Any, Any]:
        corr = add_correction(session, kind, captures)
        return corr, regroup(session, st.settings["near_duplicate_threshold"], float(st.settings["burst_seconds"]))

    corr, stats = _in_catalog(store, work)
    if as_json:
        print_json({"correction": corr.to_dict(), "groups": stats.to_dict()})
    else:
        out.print(f"correction {corr.id} ({kind} {' '.join(captures)}) stored; now {stats.clusters} clusters, "
                  f"{stats.scenes} scene groups", highlight=False)


Ids = Annotated[list[str], typer.Argument(help="Capture ids.")]


@groups_app.command("not-duplicate")
def not_duplicate(a: Annotated[str, typer.Argument(help="A capture id.")],
                  b: Annotated[str, typer.Argument(help="Another capture id.")],
                  store: StoreOpt = None, as_json: JsonOpt = False) -> None:
    """Mark two captures as not duplicates: they never share a cluster again."""
    _correct("not-duplicate", [a, b], store, as_json)


@groups_app.command("split")
def split(captures: Ids, store: StoreOpt = None, as_json: JsonOpt = False) -> None:
    """Take captures out of their cluster (they may stay together; never with the rest)."""
    _correct("split", list(captures), store, as_json)


@groups_app.command("merge")
def merge(a: Annotated[str, typer.Argument(help="A capture id.")],
          b: Annotated[str, typer.Argument(help="Another capture id.")],
          store: StoreOpt = None, as_json: JsonOpt = False) -> None:
    """Merge the clusters of two captures (or make the two a cluster)."""
    _correct("merge", [a, b], store, as_json)


@groups_app.command("representative")
def representative(capture: Annotated[str, typer.Argument(help="The capture that should represent its cluster.")],
                   store: StoreOpt = None, as_json: JsonOpt = False) -> None:
    """Make a capture the representative of its cluster (overrides RAW > resolution > sharpness)."""
    _correct("representative", [capture], store, as_json)


@groups_app.command("corrections")
def corrections(store: StoreOpt = None, as_json: JsonOpt = False) -> None:
    """List the stored corrections, oldest first."""
    from rainset.dedupe.corrections import list_corrections  # heavy: sqlalchemy

    rows = _in_catalog(store, lambda _, session: list_corrections(session))
    if as_json:
        print_json({"corrections": [r.to_dict() for r in rows]})
        return
    for r in rows:
        extra = f" (apart from {len(r.others)} others)" if r.others else ""
        out.print(f"{r.id:>4} {r.created_at[:19]} {r.kind:<15} {' '.join(r.captures)}{extra}", highlight=False)
    if not rows:
        out.print("no corrections", highlight=False)
