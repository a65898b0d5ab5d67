"""``rainset annotate serve``: run the labelling web app with uvicorn."""

from __future__ import annotations

from typing import Annotated

import typer

from rainset.cli import StoreOpt, _store, app, edge, err

annotate = typer.Typer(help="The labelling web app: serve it to annotators and reviewers.", no_args_is_help=True)
app.add_typer(annotate, name="annotate")

LOOPBACK = ("127.0.0.1", "localhost", "::1")


@annotate.command("serve")
def serve(host: Annotated[str, typer.Option("--host", help="Address to listen on (127.0.0.1: this machine only).")] = "127.0.0.1",
          port: Annotated[int, typer.Option("--port", help="TCP port.", min=1, max=65535)] = 8080,
          store: StoreOpt = None,
          insecure_cookie: Annotated[bool, typer.Option(
              "--insecure-cookie", help="Send the session cookie over plain http too (no Secure flag). Only for "
              "plain-http access that is not on this machine; put TLS in front instead.")] = False,
          session_hours: Annotated[float, typer.Option("--session-hours", help="How long a sign-in lasts.", min=0.1)] = 12.0,
          workers_log: Annotated[str, typer.Option("--log-level", help="uvicorn log level.")] = "info") -> None:
    """Serve the labelling web app (FastAPI + uvicorn) on HOST:PORT."""
    import uvicorn

    from rainset.annotate_ui.app import create_app
    from rainset.annotate_ui.config import AppSettings

    with edge():
        st = _store(store)
        app = create_app(AppSettings(store=st, cookie_secure=not insecure_cookie, session_hours=session_hours))
    if host not in LOOPBACK and not insecure_cookie:
        err.print(f"note: the session cookie is Secure: browsers reaching http://{host}:{port} need TLS in front "
                  "(or --insecure-cookie on a trusted network)", highlight=False)
    err.print(f"serving {st.root} on http://{host}:{port}/ (Ctrl-C stops)", highlight=False)
    uvicorn.run(app, host=host, port=port, log_level=workers_log, access_log=False)
