"""The ``rainset`` command line: a thin shell over the library.

Library errors (``rainset.errors.RainsetError``) become one-line messages and exit code 1;
``verify`` exits 2 when it finds missing or damaged objects. Heavy imports happen inside the
commands so that ``rainset --help`` starts fast.
"""

from __future__ import annotations

import json
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Iterator, Optional

import typer
from rich.console import Console

from rainset.errors import RainsetError

app = typer.Typer(help="Curate real rainy captures into a versioned deraining dataset.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
err = Console(stderr=True)
out = Console(soft_wrap=True)

StoreOpt = Annotated[Optional[Path], typer.Option("--store", help="The store (else $RAINSET_STORE, else the "
                                                  "current folder or its parents).", show_default=False)]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON (stable keys, docs/cli.md).")]
QuietOpt = Annotated[bool, typer.Option("-q", "--quiet", help="No progress bar, no summary.")]


def fail(message: str, code: int = 1) -> None:
    err.print(f"[red]error:[/red] {message}", highlight=False, markup=True, soft_wrap=True)
    raise typer.Exit(code)


@contextmanager
def edge() -> Iterator[None]:
    """Turn library errors into one-line messages and an exit code."""
    try:
        yield
    except RainsetError as exc:
        fail(str(exc).replace("[", r"\["))


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


@contextmanager
def progress_bar(description: str, enabled: bool) -> Iterator[Any]:
    """A rich progress bar on stderr; yields a ``progress(done, total)`` callback."""
    if not enabled:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=err, transient=True) as bar:
        task = bar.add_task(description, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def _store(path: Optional[Path]):  # noqa: ANN202
    from rainset.store import find_store

    return find_store(path)


@app.command()
def init(path: Annotated[Path, typer.Argument(help="Folder of the new store (created if missing).")],
         db: Annotated[Optional[str], typer.Option("--db", help="Catalog URL, e.g. postgresql+psycopg://user@host/db "
                                                   "(default: SQLite catalog.db inside the store).")] = None,
         as_json: JsonOpt = False) -> None:
    """Create a new store."""
    from rainset.catalog.db import safe_url
    from rainset.store import init_store

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
                                                          "process; default: one per CPU core).", show_default=False)] = None,
           engine: Annotated[str, typer.Option("--engine", help="local or dask.")] = "local",
           scheduler: Annotated[Optional[str], typer.Option("--scheduler", help="Dask scheduler address (default: a LocalCluster).")] = None,
           batch_size: Annotated[Optional[int], typer.Option("--batch-size", help="Results per catalog transaction (default: store setting).")] = None,
           as_json: JsonOpt = False, quiet: QuietOpt = False) -> None:
    """Ingest captures: decode, read EXIF, hash, measure, preview and store them; reject bad files with a reason."""
    from rainset.ingest import IngestOptions, Provenance, ingest as run_ingest

    with edge():
        st = _store(store)
        if workers is None:
            workers = os.cpu_count() or 1
        opts = IngestOptions(link=link, workers=workers, engine=engine, scheduler=scheduler, batch_size=batch_size,
                             provenance=Provenance(source_name, license, owner))
        with progress_bar("ingest", not (quiet or as_json)) as bar:
            summary = run_ingest(st, sources, opts, progress=bar)
    if as_json:
        print_json(summary.to_dict())
    elif not quiet:
        s = summary
        out.print(f"ingest run {s.run_id}: {s.seen} files seen, {s.skipped} already known, {s.processed} processed "
                  f"in {s.seconds:.1f} s ({s.files_per_second:.1f} files/s)", highlight=False)
        out.print(f"  {s.new_captures} new captures, {s.new_files} new files ({s.exact_copies} exact copies, "
                  f"{s.paired} paired RAW/JPEG), {s.bytes_stored / 1e6:.1f} MB stored", highlight=False)
        if s.rejected:
            reasons = ", ".join(f"{k}: {v}" for k, v in s.rejects_by_reason.items())
            out.print(f"  {s.rejected} rejected ({reasons}); see 'rainset status'", highlight=False)


@app.command()
def status(store: StoreOpt = None, as_json: JsonOpt = False) -> None:
    """Counts: captures, files, bytes, rejects by reason, ingest runs."""
    from rainset.status import store_status

    with edge():
        st = store_status(_store(store))
    if as_json:
        print_json(st.to_dict())
        return
    out.print(f"store    {st.store}\ncatalog  {st.catalog}", highlight=False)
    out.print(f"captures {st.captures}  ({', '.join(f'{k}: {v}' for k, v in st.formats.items()) or 'none'})")
    out.print(f"files    {st.files}  ({st.raw_files} RAW, {st.exact_copies} exact copies), {st.bytes / 1e6:.1f} MB")
    out.print(f"rejects  {st.rejects}" + "".join(f"\n  {k:<20} {v}" for k, v in st.rejects_by_reason.items()))
    out.print(f"runs     {st.runs}" + (f" ({st.runs_unfinished} unfinished)" if st.runs_unfinished else ""))


@app.command()
def verify(store: StoreOpt = None, as_json: JsonOpt = False, quiet: QuietOpt = False) -> None:
    """Re-hash every stored original; report missing or damaged ones (exit code 2 if any)."""
    from rainset.verify import verify_store

    with edge():
        st = _store(store)
        with progress_bar("verify", not (quiet or as_json)) as bar:
            report = verify_store(st, progress=bar)
    if as_json:
        print_json(report.to_dict())
    elif not quiet:
        out.print(f"{report.checked} objects checked: {report.ok} ok, {report.missing} missing, "
                  f"{report.damaged} damaged", highlight=False)
        for p in report.problems:
            out.print(f"  {p.problem:<10} {p.path}: {p.detail}", highlight=False)
    if report.problems:
        raise typer.Exit(2)


@app.command()
def demo(out_dir: Annotated[Optional[Path], typer.Option("--out", help="Where to put the generated captures and "
                                                         "the store (default: a new temporary folder).")] = None,
         n: Annotated[int, typer.Option("--captures", help="How many shots to generate.")] = 60,
         workers: Annotated[int, typer.Option("--workers", help="Ingest worker processes.")] = 2,
         train: Annotated[bool, typer.Option("--train/--no-train", help="End with a short NLCL training run "
                                             "(needs the train extra: torch).")] = True,
         as_json: JsonOpt = False) -> None:
    """Run the main flow end to end on generated captures, in a temporary store (no network)."""
    from rainset.demo import run_demo

    with edge():
        with progress_bar("demo", not as_json) as bar:
            result = run_demo(out_dir, n_captures=n, workers=workers, train=train, progress=bar)
    if as_json:
        print_json(result.to_dict())
        return
    for line in result.lines():
        out.print(line, highlight=False)


# Commands of the later stages live in rainset/commands/, one module per area.
from rainset.commands import annotate, dedupe, manifests, nlcl, shards, suggest  # noqa: E402,F401
from rainset.annotate_ui import serve_cli  # noqa: E402,F401


def main() -> None:
    """Entry point of the ``rainset`` script."""
    app()


if __name__ == "__main__":
    # Run as ``python -m rainset.cli`` this file is ``__main__``, while the command modules register
    # on the imported ``rainset.cli.app``: call that one.
    from rainset.cli import main as imported_main

    imported_main()
