"""``rainset annotate serve``: run the labelling web app with uvicorn."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from rainset.cli import StoreOpt, _store, app, edge, err

annotate = typer.Typer(help="The labelling web app: serve it to annotators and reviewers.", no_args_is_help=True)
app.add_typer(annotate, name="annotate")

LOOPBACK = ("127.0.0.1", "localhost", "::1")
HostOpt = Annotated[str, typer.Option("--host", help="Address to listen on (127.0.0.1: this machine only).")]
PortOpt = Annotated[int, typer.Option("--port", help="TCP port.", min=1, max=65535)]
InsecureOpt = Annotated[bool, typer.Option(
    "--insecure-cookie", help="Send the session cookie without the Secure flag, for plain-http access from other "
    "machines on a trusted network; put TLS in front instead where you can.")]
HoursOpt = Annotated[float, typer.Option("--session-hours", help="How long a sign-in lasts.", min=0.1)]
LogOpt = Annotated[str, typer.Option("--log-level", help="uvicorn's log level.")]
OriginOpt = Annotated[Optional[list[str]], typer.Option(
    "--origin", help="Another origin (scheme://host[:port]) browsers may post from: a reverse proxy's public "
    "address. Repeatable.", show_default=False)]


@annotate.command("serve")
def serve(host: HostOpt = "127.0.0.1", port: PortOpt = 8080, store: StoreOpt = None, insecure_cookie: InsecureOpt = False,
          session_hours: HoursOpt = 12.0, log_level: LogOpt = "info", origin: OriginOpt = None) -> None:
    """Serve the labelling web app (FastAPI + uvicorn) on HOST:PORT until Ctrl-C."""
    import uvicorn

    from rainset.annotate_ui.app import create_app
    from rainset.annotate_ui.config import AppSettings

    with edge():
        st = _store(store)
        web = create_app(AppSettings(store=st, cookie_secure=not insecure_cookie, session_hours=session_hours,
                                     allowed_origins=tuple(o.rstrip("/") for o in origin or ())))
    if host not in LOOPBACK and not insecure_cookie:
        err.print(f"note: the session cookie is Secure: browsers reaching http://{host}:{port} need TLS in front "
                  "(or --insecure-cookie on a trusted network)", highlight=False)
    err.print(f"serving {st.root} on http://{host}:{port}/ (Ctrl-C stops)", highlight=False)
    uvicorn.run(web, host=host, port=port, log_level=log_level, access_log=False)
