"""Manifest commands: export, versions, diff, leakage, report, remove, gc (thin shells over rainset.manifests)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from rainset.cli.shell import JsonOpt, QuietOpt, StoreOpt, app, edge, emit, out, print_json, resolve_store, say
from rainset.errors import ConfigError, StoreError
from rainset.manifests.splits import parse_ratios
from rainset.ranges import HAMMING, ROWS_PER_FILE, SEED, WORKERS, check_optional


@app.command()
def export(name: Annotated[str, typer.Argument(help="Name of the new version (letters, digits, '.', '_', '-').")],
           where: Annotated[Optional[str], typer.Option("--where", help="Filter on manifest columns, e.g. "
                                                        "\"rain_type in ('heavy','streak') and iso >= 800\".")] = None,
           include_unlabelled: Annotated[bool, typer.Option("--include-unlabelled",
                                                            help="Also export captures without a consensus label.")] = False,
           redact: Annotated[Optional[list[str]], typer.Option("--redact", help="Drop columns: gps (gps_lat, gps_lon, "
                                                               "gps_alt), serial; comma-separated or repeated. "
                                                               "Embedded images then carry no metadata.")] = None,
           seed: Annotated[int, typer.Option("--seed", help="Split seed, 0 to 2147483647 (a new seed re-draws "
                                                   "every split).")] = 0,
           ratios: Annotated[str, typer.Option("--ratios", help="train,validation,test shares.")] = "80,10,10",
           rows_per_file: Annotated[int, typer.Option("--rows-per-file", help="Rows per Parquet file (1 to 10000000).")] = 50_000,
           images: Annotated[str, typer.Option("--images", help="path: no image column; embed: the preview JPEG; "
                                               "embed-full: the full-resolution original (Hugging Face Image "
                                               "column).")] = "path",
           license_id: Annotated[str, typer.Option("--license", help="Licence identifier for the dataset card "
                                                   "(cc-by-4.0, cc0-1.0, ...; other: per capture).")] = "other",
           workers: Annotated[Optional[int], typer.Option("--workers", help="Processes that decode embedded "
                                                          "images (default: one per CPU core for embed-full, at "
                                                          "most one per 50 samples; 1 otherwise).",
                                                          show_default=False)] = None,
           pairs: Annotated[Optional[str], typer.Option("--pairs", help="Export the accepted pairs of the pair set "
                                                        "STORE/pairs/PAIRS (rainy, clean and mask paths; splits by "
                                                        "video) instead of the captures.",
                                                        show_default=False)] = None,
           store: StoreOpt = None, as_json: JsonOpt = False, quiet: QuietOpt = False) -> None:
    """Export an immutable, named manifest version (Parquet + version.json)."""
    with edge():
        SEED.check("--seed", seed)
        ROWS_PER_FILE.check("--rows-per-file", rows_per_file)
        check_optional("--workers", workers, WORKERS)
        from rainset.manifests.export import export_manifest  # heavy: sqlalchemy, numpy, cv2

        result = export_manifest(resolve_store(store), name, where=where, include_unlabelled=include_unlabelled,
                                 redact=redact or (), seed=seed, ratios=parse_ratios(ratios),
                                 rows_per_file=rows_per_file, images=images, license=license_id,
                                 workers=workers, pairs=pairs)
    emit(result, as_json, quiet)


@app.command()
def versions(store: StoreOpt = None, as_json: JsonOpt = False) -> None:
    """List the exported manifest versions, oldest first."""
    with edge():
        from rainset.manifests.versions import list_versions, open_version  # heavy: sqlalchemy, numpy, cv2

        s = resolve_store(store, read_only_ok=True)
        infos = [open_version(s, n).info for n in list_versions(s)]
    rows = [{"name": i["name"], "parent": i.get("parent"), "created_at": i.get("created_at"),
             "samples": i.get("samples"), "schema_version": i.get("schema_version")} for i in infos]
    if as_json:
        print_json({"versions": rows})
    else:
        say([f"{r['name']}\t{r['samples']} samples\t{r['created_at']}\tparent {r['parent'] or '-'}" for r in rows]
            or ["no manifest versions yet"])


@app.command()
def diff(a: Annotated[str, typer.Argument(help="The older version.")],
         b: Annotated[str, typer.Argument(help="The newer version.")],
         store: StoreOpt = None, as_json: JsonOpt = False) -> None:
    """What changed from version A to version B: added, removed, relabelled, moved, label counts."""
    with edge():
        from rainset.manifests.diff import diff_versions  # heavy: sqlalchemy, numpy, cv2

        result = diff_versions(resolve_store(store, read_only_ok=True), a, b)
    emit(result, as_json)


@app.command()
def leakage(target: Annotated[str, typer.Argument(help="A manifest version name, or a Parquet file or folder "
                                                  "with a phash column.")],
            threshold: Annotated[Optional[int], typer.Option("--threshold", help="Hamming distance in bits, 0 "
                                                             "to 64 (default: the store's near_duplicate_threshold, "
                                                             "else 6).")] = None,
            store: StoreOpt = None, as_json: JsonOpt = False) -> None:
    """Report near-duplicate pairs that sit in different splits (exit code 2 when any)."""
    with edge():
        check_optional("--threshold", threshold, HAMMING)
        from rainset.manifests.leakage import check_leakage, check_version_leakage  # heavy: numpy

        path = Path(target)
        if not path.exists():
            result = check_version_leakage(resolve_store(store), target, threshold)
        else:
            limit = threshold
            if limit is None:
                try:
                    limit = resolve_store(store).settings["near_duplicate_threshold"]
                except StoreError:
                    limit = 6
            result = check_leakage(path, int(limit))
    emit(result, as_json)
    if not result.ok:
        raise typer.Exit(2)


@app.command()
def report(name: Annotated[Optional[str], typer.Argument(help="The version (default: the newest).")] = None,
           out_file: Annotated[Path, typer.Option("--out", help="The HTML file to write.")] = Path("report.html"),
           store: StoreOpt = None, as_json: JsonOpt = False, quiet: QuietOpt = False) -> None:
    """Write a self-contained HTML report of a version (plots and galleries embedded)."""
    with edge():
        from rainset.manifests.report import write_report  # heavy: sqlalchemy, numpy, cv2, plots

        result = write_report(resolve_store(store, read_only_ok=True), name, out_file)
    emit(result, as_json, quiet)


@app.command()
def remove(captures: Annotated[list[str], typer.Argument(help="Capture ids to remove.")],
           reason: Annotated[str, typer.Option("--reason", help="Why (licence withdrawn, a face, a plate, …).")],
           store: StoreOpt = None, as_json: JsonOpt = False, quiet: QuietOpt = False) -> None:
    """Exclude captures from every later export and shard, with a reason."""
    with edge():
        from rainset.manifests.removal import remove_captures  # heavy: sqlalchemy

        result = remove_captures(resolve_store(store), captures, reason)
    emit(result, as_json, quiet)


@app.command()
def gc(yes: Annotated[bool, typer.Option("--yes", help="Delete without asking.")] = False,
       store: StoreOpt = None, as_json: JsonOpt = False) -> None:
    """Delete the objects and previews of removed captures that no kept capture needs."""
    with edge():
        from rainset.manifests.removal import gc_apply, gc_plan  # heavy: sqlalchemy

        s = resolve_store(store)
        plan = gc_plan(s)
        n = len(plan.objects) + len(plan.previews)
        if n and not yes and not as_json:
            out.print(f"{len(plan.objects)} objects and {len(plan.previews)} previews ({plan.bytes} bytes) of removed "
                      f"captures are needed by no kept capture.", highlight=False)
            if not typer.confirm("Delete them?", default=False):
                raise typer.Exit(1)
        elif n and not yes:
            raise ConfigError("gc --json cannot ask for confirmation; add --yes")
        deleted = gc_apply(s, plan) if n else 0
    if as_json:
        print_json({**plan.to_dict(), "deleted": deleted})
    else:
        say([f"deleted {deleted} files ({plan.kept_shared} contents of removed captures kept: still needed)"])
