"""``rainset demo``: the main flow end to end on generated captures, in a temporary store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from rainset.cli.shell import JsonOpt, app, edge, emit, progress_bar
from rainset.ranges import CAPTURES, WORKERS


@app.command()
def demo(out_dir: Annotated[Optional[Path], typer.Option("--out", help="Where to put the generated captures and "
                                                         "the store (default: a new temporary folder).")] = None,
         n: Annotated[int, typer.Option("--captures", help="How many shots to generate (1 to 100000).")] = 60,
         workers: Annotated[int, typer.Option("--workers", help="Ingest worker processes (0 to 1024).")] = 2,
         train: Annotated[bool, typer.Option("--train/--no-train", help="End with a short NLCL training run "
                                             "(needs the train extra: torch).")] = True,
         as_json: JsonOpt = False) -> None:
    """Run the main flow end to end on generated captures, in a temporary store (no network)."""
    from rainset.demo import run_demo  # heavy: every stage (sqlalchemy, numpy, cv2)

    with edge():
        CAPTURES.check("--captures", n)
        WORKERS.check("--workers", workers)
        with progress_bar("demo", not as_json) as bar:
            result = run_demo(out_dir, n_captures=n, workers=workers, train=train, progress=bar)
    emit(result, as_json)
