"""Suggest commands: ``rainset suggest``, ``rainset suggest show``, ``rainset suggest model``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from rainset.cli.shell import (JsonOpt, QuietOpt, StoreOpt, app, edge, emit, print_json, progress_bar, resolve_store,
                               say)

suggest_app = typer.Typer(help="Rain-type suggestions from the rain measurements (never labels).",
                          invoke_without_command=True)
app.add_typer(suggest_app, name="suggest")


@suggest_app.callback()
def suggest(ctx: typer.Context,
            checkpoint: Annotated[Optional[Path], typer.Option(
                "--checkpoint", help="NLCL checkpoint: also measure the rain layer R = O - G_B(O) and use it.")] = None,
            model: Annotated[str, typer.Option("--model", help="auto (fitted when enough labels, else rules), "
                                               "rules or fitted.")] = "auto",
            store: StoreOpt = None, as_json: JsonOpt = False, quiet: QuietOpt = False) -> None:
    """Measure every active capture (what is missing) and suggest its rain type."""
    if ctx.invoked_subcommand is not None:  # 'rainset suggest --store S show X': hand --store and --json on
        ctx.obj = {"store": store, "json": as_json}
        return
    from rainset.suggest.run import suggest_store  # heavy: sqlalchemy, numpy

    with edge():
        st = resolve_store(store)
        with progress_bar("measure", not (quiet or as_json)) as bar:
            result = suggest_store(st, checkpoint=checkpoint, model=model, progress=bar)
    emit(result, as_json, quiet)


def _inherit(ctx: typer.Context, store: Optional[Path], as_json: bool) -> tuple[Optional[Path], bool]:
    """A sub-command's --store and --json, else those given before its name."""
    parent = ctx.obj or {}
    return store or parent.get("store"), as_json or bool(parent.get("json"))


@suggest_app.command("show")
def show(ctx: typer.Context, capture_id: Annotated[str, typer.Argument(help="The capture's id.")],
         store: StoreOpt = None, as_json: JsonOpt = False) -> None:
    """A capture's measurements, its suggestion and why (rules passed or class probabilities)."""
    from rainset.catalog.db import catalog_session  # heavy: sqlalchemy
    from rainset.suggest.explain import explain_capture  # heavy: sqlalchemy, numpy

    store, as_json = _inherit(ctx, store, as_json)
    with edge():
        st = resolve_store(store)
        with catalog_session(st.db_url) as s:
            result = explain_capture(s, capture_id)
    emit(result, as_json)


@suggest_app.command("model")
def model_cmd(ctx: typer.Context, name: Annotated[Optional[str], typer.Option("--name", help="A stored model (suggest-<id>); "
                                                         "default: the newest.")] = None,
              store: StoreOpt = None, as_json: JsonOpt = False) -> None:
    """Print the fitted model (standardisation and coefficients per class), or the rules' thresholds."""
    from rainset.catalog.db import catalog_session  # heavy: sqlalchemy
    from rainset.suggest.explain import model_description  # heavy: sqlalchemy, numpy

    store, as_json = _inherit(ctx, store, as_json)
    with edge():
        st = resolve_store(store)
        with catalog_session(st.db_url) as s:
            desc = model_description(s, name)
    if as_json:
        print_json({k: v for k, v in desc.items() if k != "text"})
        return
    say(desc["text"])
