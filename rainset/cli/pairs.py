"""Pair set commands: ``rainset pairs build/list/show/remove`` (thin shells over rainset.pairs)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from rainset.cli.shell import JsonOpt, QuietOpt, StoreOpt, app, edge, emit, err, progress_bar, resolve_store
from rainset.pairs.sets import list_pairsets, open_pairset, remove_pairset

pairs_app = typer.Typer(help="Real rainy / pseudo-clean pairs from static-camera video (docs/pairs.md).",
                        no_args_is_help=True)
app.add_typer(pairs_app, name="pairs")


@pairs_app.command("build")
def build(name: Annotated[str, typer.Argument(help="Name of the pair set (letters, digits, '.', '_', '-'): "
                                              "STORE/pairs/NAME.")],
          where: Annotated[Optional[str], typer.Option("--where", help="Filter on capture columns (export's); a video "
                                                       "is in when any of its frames matches (default: every "
                                                       "video).")] = None,
          method: Annotated[str, typer.Option("--method", help="How targets are made: median (registered "
                                              "temporal percentile), or another method of docs/pairs.md.")] = "median",
          window: Annotated[int, typer.Option("--window", help="At most N frames per background, 8 to 100000 "
                                              "(bounds disk and memory on long videos).")] = 48,
          min_quality: Annotated[float, typer.Option("--min-quality", help="Pairs with a quality (0-1) at least this "
                                                     "are accepted.")] = 0.5,
          all_frames: Annotated[bool, typer.Option("--all-frames", help="A pair for every frame of the static "
                                                   "segments, not only the frames kept at ingest.")] = False,
          replace: Annotated[bool, typer.Option("--replace", help="Replace a pair set of that name.")] = False,
          workers: Annotated[int, typer.Option("--workers", help="Videos built in parallel in N worker processes "
                                               "(0 or 1: one after the other in this process; at most 1024).")] = 1,
          store: StoreOpt = None, as_json: JsonOpt = False, quiet: QuietOpt = False) -> None:
    """Build pairs (rainy frame, pseudo-clean target, mask) from the store's videos."""
    with edge():
        from rainset.pairs.build import build_pairs  # heavy: cv2, PyAV, sqlalchemy

        st = resolve_store(store)
        with progress_bar("pairs", not (quiet or as_json)) as bar:
            result = build_pairs(st, name, where=where, method=method, window=window, min_quality=min_quality,
                                 all_frames=all_frames, replace=replace, workers=workers, progress=bar,
                                 warn=lambda line: err.print(f"warning: {line}", highlight=False, markup=False))
    emit(result, as_json, quiet)


@pairs_app.command("list")
def list_cmd(store: StoreOpt = None, as_json: JsonOpt = False) -> None:
    """List the store's pair sets."""
    with edge():
        result = list_pairsets(resolve_store(store, read_only_ok=True))
    emit(result, as_json)


@pairs_app.command("show")
def show(name: Annotated[str, typer.Argument(help="The pair set.")],
         store: StoreOpt = None, as_json: JsonOpt = False) -> None:
    """Show a pair set: how it was built and every pair with its quality (--json: with its files)."""
    with edge():
        result = open_pairset(resolve_store(store, read_only_ok=True), name)
    emit(result, as_json)


@pairs_app.command("remove")
def remove(name: Annotated[str, typer.Argument(help="The pair set to delete with its files.")],
           store: StoreOpt = None, quiet: QuietOpt = False) -> None:
    """Delete a pair set and its files."""
    with edge():
        result = remove_pairset(resolve_store(store), name)
    emit(result, False, quiet)
