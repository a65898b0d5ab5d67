"""The app factory: ``create_app(AppSettings(store=…))`` builds the labelling web app.

Nothing happens at import time: the catalog is opened and the session secret read when the
factory runs, and the catalog is closed when the server shuts down.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from pathlib import Path
from typing import AsyncIterator

import anyio.to_thread
import jinja2
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rainset.browse import SnapshotCache
from rainset.catalog.db import open_catalog
from rainset.errors import (
    AlreadyExistsError,
    AuthError,
    DedupeError,
    InvalidInputError,
    LabelError,
    NotFoundError,
    NotInQueueError,
    RainsetError,
    ReadOnlyStoreError,
    RejectError,
)

from rainset.annotate_ui.api import router as api_router
from rainset.annotate_ui.auth import IdentityCache
from rainset.annotate_ui.captures import PathCache
from rainset.annotate_ui.config import AppSettings, store_secret
from rainset.annotate_ui.deps import FifoGate, LoginRequired
from rainset.annotate_ui.limits import BodyLimit, LoginLimiter, TrustedHosts
from rainset.annotate_ui.pages import router as pages_router
from rainset.annotate_ui.security import SECURITY_HEADERS
from rainset.annotate_ui.strictjson import validation_error_content
from rainset.annotate_ui.tiles import TileServer

PACKAGE = Path(__file__).resolve().parent


# The HTTP status of each kind of LabelError; the most specific class of an error wins.
LABEL_ERROR_STATUS: dict[type[LabelError], int] = {
    LabelError: 400,
    InvalidInputError: 400,
    NotFoundError: 404,
    NotInQueueError: 403,
    AlreadyExistsError: 409,
    ReadOnlyStoreError: 503,  # the server serves a read-only store: pages only, nothing changes
}


def label_error_status(exc: LabelError) -> int:
    """The HTTP status of a library LabelError, by its class (:data:`LABEL_ERROR_STATUS`), never its message."""
    return next(LABEL_ERROR_STATUS[cls] for cls in type(exc).__mro__ if cls in LABEL_ERROR_STATUS)


def exposure(value: float | None) -> str:
    """An exposure time as photographers write it: 1/250 s, 0.8 s, 2 s."""
    if value is None:
        return "–"
    if 0 < value < 0.5:
        return f"1/{round(1 / value)} s"
    return f"{value:g} s"


def fnumber(value: float | None) -> str:
    return "–" if value is None else f"f/{value:g}"


def focal(value: float | None) -> str:
    return "–" if value is None else f"{value:g} mm"


def make_templates() -> Jinja2Templates:
    """The page templates, autoescaped, with the EXIF formatting filters."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(PACKAGE / "templates"), autoescape=True)
    env.filters.update(exposure=exposure, fnumber=fnumber, focal=focal)
    return Jinja2Templates(env=env)


def _wants_html(request: Request) -> bool:
    return not request.url.path.startswith("/api/") and "text/html" in request.headers.get("accept", "")


def _error(request: Request, status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    if _wants_html(request):
        templates: Jinja2Templates = request.app.state.templates
        return templates.TemplateResponse(request, "error.html", {"status": status, "message": message,
                                                                  "principal": None},
                                          status_code=status, headers=headers)
    return JSONResponse({"detail": message}, status_code=status, headers=headers)


def _install_handlers(app: FastAPI) -> None:
    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, exc: LoginRequired) -> Response:
        return RedirectResponse(f"/login?next={exc.next_url}", status_code=303)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return _error(request, exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        # never echo a value JSON cannot hold (NaN, inf): the error itself must serialise
        return JSONResponse(validation_error_content(exc.errors()), status_code=422)

    @app.exception_handler(AuthError)
    async def auth_error(request: Request, exc: AuthError) -> Response:
        # sign-in failures become 401 where they happen; what reaches here is a role the call needs
        return _error(request, 403, str(exc))

    @app.exception_handler(LabelError)
    async def label_error(request: Request, exc: LabelError) -> Response:
        return _error(request, label_error_status(exc), str(exc))

    @app.exception_handler(DedupeError)
    async def dedupe_error(request: Request, exc: DedupeError) -> Response:
        # a correction the library refuses (wrong number of captures, a capture in no cluster): bad input
        return _error(request, 400, str(exc))

    @app.exception_handler(RejectError)
    async def reject_error(request: Request, exc: RejectError) -> Response:
        return _error(request, 422, f"the original cannot be decoded: {exc}")

    @app.exception_handler(RainsetError)
    async def rainset_error(request: Request, exc: RainsetError) -> Response:
        return _error(request, 500, str(exc))


class SecurityHeaders:
    """ASGI middleware: security headers on every response; ``no-store`` unless a route says otherwise."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cacheable = scope["path"].startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
                if not cacheable:  # pages carry the session's CSRF token; images set their own policy
                    headers.setdefault("Cache-Control", "no-store")
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(settings: AppSettings) -> FastAPI:
    """Build the web app for one store.

    Args:
        settings: the store and the server's options (see :class:`AppSettings`).

    Returns:
        The FastAPI application; serve it with uvicorn (``rainset annotate serve``).
    """
    catalog = open_catalog(settings.store.db_url)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # fewer worker threads than Starlette's 40: the routes are short and share one GIL and
        # (on SQLite) one writer; a small pool queues requests instead of thrashing between them
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.worker_threads
        yield
        catalog.close()

    app = FastAPI(title="rainset annotate", version="1", lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Label rainy captures: the JSON twin of every page of the labelling web app. "
                              "Sign in with a session cookie (POST /api/session) or 'Authorization: Bearer TOKEN'.")
    app.state.settings = settings
    app.state.catalog = catalog
    app.state.write_gate = FifoGate()
    app.state.secret = store_secret(settings.store)
    app.state.identities = IdentityCache(settings.identity_ttl_s)
    app.state.previews = PathCache()
    app.state.browse = SnapshotCache()
    app.state.tiles = TileServer(settings.tile_size, settings.full_cache, settings.store.settings["max_pixels"],
                                 max_bytes=settings.tile_cache_bytes)
    app.state.login_limiter = LoginLimiter(settings.login_failures_per_address, settings.login_failures_global,
                                           settings.login_window_s)
    app.state.templates = make_templates()

    # the last added runs first: security headers on every answer, then the Host check, then
    # the body limit, all before any route parses a body or looks at credentials
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(TrustedHosts, hosts=settings.allowed_hosts)
    app.add_middleware(SecurityHeaders)
    _install_handlers(app)
    app.include_router(api_router)
    app.include_router(pages_router)
    app.mount("/static", StaticFiles(directory=PACKAGE / "static"), name="static")
    return app


__all__ = ["LABEL_ERROR_STATUS", "create_app", "label_error_status"]
