"""Store commands: ``rainset init``, ``ingest``, ``status``, ``verify`` (exit code 2 on problems) and ``rejects``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Optional

import typer

from rainset.cli.shell import JsonOpt, QuietOpt, StoreOpt, app, edge, emit, out, print_json, progress_bar, resolve_store
from rainset.ranges import BATCH, WORKERS, check_optional
from rainset.store import init_store


@app.command()
def init(path: Annotated[Path, typer.Argument(help="Folder of the new store (created if missing).")],
         db: Annotated[Optional[str], typer.Option("--db", help="Catalog URL, e.g. postgresql+psycopg://user@host/db "
                                                   "(default: SQLite catalog.db inside the store).")] = None,
         as_json: JsonOpt = False) -> None:
    """Create a new store."""
    from rainset.catalog.db import safe_url  # heavy: sqlalchemy

    with edge():
        store = init_store(path, db)
    if as_json:
        print_json({"store": str(store.root), "catalog": safe_url(store.db_url)})
    else:
        out.print(f"created store {store.root} (catalog: {safe_url(store.db_url)})", highlight=False)


@app.command()
def ingest(sources: Annotated[list[str], typer.Argument(help="Folders, files or fsspec URLs (http://, s3://, …).")],
           store: StoreOpt = None,
           source_name: Annotated[Optional[str], typer.Option("--source-name", help="Provenance: where these came from.")] = None,
           license: Annotated[Optional[str], typer.Option("--license", help="Provenance: licence of the captures.")] = None,
           owner: Annotated[Optional[str], typer.Option("--owner", help="Provenance: who owns the captures.")] = None,
           link: Annotated[bool, typer.Option("--link", help="Record references instead of copying originals into objects/.")] = False,
           workers: Annotated[Optional[int], typer.Option("--workers", help="Local worker processes (0 or 1: in this "
                                                          "process; default: one per CPU core; at most 1024).",
                                                          show_default=False)] = None,
           engine: Annotated[str, typer.Option("--engine", help="local or dask.")] = "local",
           scheduler: Annotated[Optional[str], typer.Option("--scheduler", help="Dask scheduler address (default: a LocalCluster).")] = None,
           batch_size: Annotated[Optional[int], typer.Option("--batch-size", help="Results per catalog transaction, 1 to 100000 "
                                                               "(default: the store's batch_size).")] = None,
           every: Annotated[int, typer.Option("--every", help="Videos: only every K-th frame is a candidate capture.")] = 1,
           max_fps: Annotated[Optional[float], typer.Option("--max-fps", help="Videos: keep at most F frames per second "
                                                            "of video (default: no limit).", show_default=False)] = None,
           min_change: Annotated[Optional[float], typer.Option("--min-change", help="Videos: skip a frame whose small grey "
                                                               "version differs from the last kept frame's by less than "
                                                               "this mean absolute difference (grey levels 0-255; 0 keeps "
                                                               "all; default 0.5).", show_default=False)] = None,
           as_json: JsonOpt = False, quiet: QuietOpt = False) -> None:
    """Ingest captures: decode, read EXIF, hash, measure, preview and store them; reject bad files with a reason.

    Videos (MP4, MOV, MKV, AVI) are stored once; their sampled frames become captures."""
    from rainset.ingest.pool import start_workers  # light: the worker processes start before the heavy imports
    from rainset.ingest.video_records import FrameSampling

    with edge():
        check_optional("--workers", workers, WORKERS)
        check_optional("--batch-size", batch_size, BATCH)
        sampling = FrameSampling(every, max_fps, FrameSampling.min_change if min_change is None else min_change).check()
        if workers is None:
            workers = os.cpu_count() or 1
        pool = start_workers(workers, engine)  # they start up while this process opens the store and imports the driver
        try:
            st = resolve_store(store)
            from rainset.ingest import IngestOptions, Provenance, ingest as run_ingest  # heavy: sqlalchemy

            opts = IngestOptions(link=link, workers=workers, engine=engine, scheduler=scheduler, batch_size=batch_size,
                                 provenance=Provenance(source_name, license, owner), video=sampling)
            with progress_bar("ingest", not (quiet or as_json)) as bar:
                summary = run_ingest(st, sources, opts, progress=bar, pool=pool)
        finally:
            if pool is not None:
                pool.shutdown(wait=False, cancel_futures=True)  # a no-op once the run has used it
    emit(summary, as_json, quiet)


@app.command()
def status(store: StoreOpt = None, as_json: JsonOpt = False) -> None:
    """Counts: captures, files, bytes, rejects by reason, ingest runs."""
    from rainset.status import store_status  # heavy: sqlalchemy

    with edge():
        st = store_status(resolve_store(store, read_only_ok=True))
    emit(st, as_json)


@app.command()
def verify(store: StoreOpt = None, as_json: JsonOpt = False, quiet: QuietOpt = False) -> None:
    """Re-hash every stored original; report missing or damaged ones (exit code 2 if any)."""
    from rainset.verify import verify_store  # heavy: sqlalchemy

    with edge():
        st = resolve_store(store, read_only_ok=True)
        with progress_bar("verify", not (quiet or as_json)) as bar:
            report = verify_store(st, progress=bar)
    emit(report, as_json, quiet)
    if report.problems:
        raise typer.Exit(2)


@app.command()
def rejects(reason: Annotated[Optional[str], typer.Option("--reason", help="Only files rejected for this reason "
                                                          "(e.g. decode-failed, unsupported-format).")] = None,
            store: StoreOpt = None, as_json: JsonOpt = False) -> None:
    """List the files ingest rejected: path, reason, detail, size and when, newest first."""
    from rainset.rejects import list_rejects  # heavy: sqlalchemy

    with edge():
        result = list_rejects(resolve_store(store), reason)
    emit(result, as_json)
