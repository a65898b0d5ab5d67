"""Shards commands: ``rainset shards`` builds WebDataset shards of a manifest version, or ``--verify`` checks them."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from rainset.cli.shell import JsonOpt, QuietOpt, StoreOpt, app, edge, emit, progress_bar, resolve_store
from rainset.ranges import WORKERS, check_optional
from rainset.shards.sizes import parse_size


@app.command()
def shards(name: Annotated[str, typer.Argument(help="The manifest version to shard (from 'rainset export').")],
           target_size: Annotated[str, typer.Option("--target-size", help="Start a new shard before one would pass "
                                                    "this size: 512MB, 1GiB, bytes.")] = "512MB",
           fmt: Annotated[str, typer.Option("--format", help="Rendered image: jpg, png (8-bit) or tiff16 (16-bit TIFF "
                                            "for RAW-born and other 16-bit captures, 8-bit PNG for the rest).")] = "jpg",
           max_side: Annotated[Optional[int], typer.Option("--max-side", help="Shrink so the long side is at most N "
                                                           "pixels (INTER_AREA); default: full resolution.",
                                                           show_default=False)] = None,
           with_raw: Annotated[bool, typer.Option("--with-raw", help="Also store the original bytes of RAW-born "
                                                  "captures (KEY.dng, KEY.nef, ...).")] = False,
           quality: Annotated[int, typer.Option("--quality", help="JPEG quality (1-100).")] = 95,
           shards_name: Annotated[Optional[str], typer.Option("--name", help="Name of the shards (default: the "
                                                              "manifest version's name).", show_default=False)] = None,
           workers: Annotated[Optional[int], typer.Option("--workers", help="Render processes (0 or 1: in this "
                                                          "process; default: one per CPU core, at most one per 100 "
                                                          "samples; at most 1024).", show_default=False)] = None,
           skip_bad: Annotated[bool, typer.Option("--skip-bad", help="Leave out samples whose original is missing, "
                                                  "damaged or undecodable, and list them in index.json "
                                                  "(default: stop with an error naming the sample).")] = False,
           verify: Annotated[bool, typer.Option("--verify", help="Build nothing: check the shards NAME against "
                                                "their index.json (exit code 2 on any problem).")] = False,
           store: StoreOpt = None, as_json: JsonOpt = False, quiet: QuietOpt = False) -> None:
    """Write WebDataset tar shards (+ index.json) for a manifest version, or --verify built ones."""
    if verify:
        _verify(name, store, as_json, quiet)
        return
    with edge():
        from rainset.shards.render import RenderSettings  # heavy: numpy, cv2
        from rainset.shards.writer import ShardOptions, build_shards  # heavy: sqlalchemy, numpy, cv2

        check_optional("--workers", workers, WORKERS)
        size = parse_size(target_size)
        st = resolve_store(store)
        render = RenderSettings(fmt, max_side, quality, with_raw, int(st.settings["max_pixels"])).check()
        opts = ShardOptions(render, size, workers, skip_bad)
        with progress_bar("shards", not (quiet or as_json)) as bar:
            result = build_shards(st, shards_name or name, opts, progress=bar, manifest=name)
    emit(result, as_json, quiet)


def _verify(name: str, store: StoreOpt, as_json: bool, quiet: bool) -> None:
    with edge():
        from rainset.manifests.versions import validate_name  # heavy: sqlalchemy
        from rainset.shards.index import verify_folder  # heavy: cv2, imagehash (through rainset.hashing)

        st = resolve_store(store)
        folder = st.root / "shards" / validate_name(name)
        with progress_bar("verify shards", not (quiet or as_json)) as bar:
            check = verify_folder(folder, progress=bar)
    emit(check, as_json, quiet)
    if check.problems:
        raise typer.Exit(2)
