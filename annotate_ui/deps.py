"""FastAPI dependencies: the catalog session, the signed-in user, CSRF and role checks.

A request is signed in either by ``Authorization: Bearer TOKEN`` (scripts; no ambient
credentials, so no CSRF token needed) or by the session cookie (browsers). State-changing
requests signed in by cookie must come from this origin and carry the session's CSRF token in the
``X-CSRF-Token`` header or the ``csrf_token`` form field.
"""

from __future__ import annotations

import functools
import threading
from collections import deque
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Annotated, Any, AsyncIterator, Callable, TypeVar

from fastapi import Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from rainset.errors import AuthError, ReadOnlyStoreError
from rainset.labels.users import UserInfo, require_role

from rainset.annotate_ui.auth import look_up, read_credentials
from rainset.annotate_ui.config import AppSettings
from rainset.annotate_ui.security import (
    COOKIE_NAME,
    CSRF_FIELD,
    CSRF_HEADER,
    UNSAFE_METHODS,
    check_csrf,
    cross_site_reason,
)


class LoginRequired(Exception):
    """Raised by page dependencies: the browser is sent to the sign-in page."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


@dataclass(frozen=True)
class Principal:
    """Who is making the request and how they proved it."""

    user: UserInfo
    via: str  # cookie | bearer
    csrf: str | None  # the session's CSRF token (cookie sign-in only)


async def get_settings(request: Request) -> AppSettings:
    return request.app.state.settings


async def get_session(request: Request) -> AsyncIterator[Session]:
    """A catalog session for one request (async: creating one does no I/O, so it costs no thread).

    The routes end their own transactions in their worker thread (:func:`in_one_hop`); what is
    left here on exit is closing an idle session.
    """
    with request.app.state.catalog.session() as session:
        session.info["write_gate"] = request.app.state.write_gate
        session.info["store"] = request.app.state.settings.store
        yield session


class FifoGate:
    """A lock that lets waiting threads in by order of arrival (a plain Lock wakes one at random).

    Serving writers first come, first served keeps the slowest waits short (p99 latency).
    """

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._queue: deque[threading.Event] = deque()
        self._held = False

    def __enter__(self) -> "FifoGate":
        with self._mutex:
            if not self._held:
                self._held = True
                return self
            turn = threading.Event()
            self._queue.append(turn)
        turn.wait()  # the releasing thread hands the gate over: _held stays True
        return self

    def __exit__(self, *exc: object) -> None:
        with self._mutex:
            if self._queue:
                self._queue.popleft().set()
            else:
                self._held = False


F = TypeVar("F", bound=Callable[..., Any])


def refuse_on_read_only(session: Session) -> None:
    """Raise ReadOnlyStoreError (503) when the app serves a read-only store: nothing can change there."""
    store = session.info["store"]
    if store.read_only:
        raise ReadOnlyStoreError(f"read-only store: {store.root}: this server shows the pages only; labels, "
                                 "review decisions, users and queue claims cannot change")


def in_one_hop(write: bool, *, read_only_ok: bool = False) -> Callable[[F], F]:
    """Decorate a sync route taking ``session``: its database work ends (commit) in its own thread.

    FastAPI runs a route and the exit of its dependencies in different worker threads; a
    transaction left open between them would hold a pooled connection, and on SQLite the write
    lock, while waiting for a thread. State-changing routes (``write=True``) also pass, one at a
    time and in order of arrival, through the app's write gate: on SQLite a transaction then never
    finds its snapshot overtaken by another writer (SQLITE_BUSY), and on PostgreSQL concurrent
    claims of the same queue slots no longer collide and retry (measured: 32 annotators racing
    for slots fell to 7 labels/s without the gate, 45 with it).

    On a read-only store a state-changing route is refused (:class:`ReadOnlyStoreError`, 503)
    before it runs, unless ``read_only_ok``: then it runs as a reader and must not write there
    (sign-out, which then only deletes the cookie).
    """

    def decorate(endpoint: F) -> F:
        @functools.wraps(endpoint)
        def run(*args: Any, **kwargs: Any) -> Any:
            session: Session = kwargs["session"]
            if write and not read_only_ok:
                refuse_on_read_only(session)
            gated = write and not session.info["store"].read_only
            with session.info["write_gate"] if gated else nullcontext():
                try:
                    result = endpoint(*args, **kwargs)
                except BaseException:
                    session.rollback()
                    raise
                session.commit()
            return result

        return run  # type: ignore[return-value]

    return decorate


reads = in_one_hop(write=False)
writes = in_one_hop(write=True)
signs_out = in_one_hop(write=True, read_only_ok=True)


SettingsDep = Annotated[AppSettings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def client_address(request: Request) -> str:
    """The address the request came from (the proxy's, behind a reverse proxy)."""
    return request.client.host if request.client else "unknown"


def sign_in_refused(request: Request, message: str, headers: dict[str, str] | None = None) -> HTTPException:
    """The answer to a failed sign-in (a wrong token): 401, or 429 with ``Retry-After`` once the
    failures of this client address, or of all addresses together, pass the app's limits."""
    wait = request.app.state.login_limiter.failed(client_address(request))
    if wait is not None:
        return HTTPException(429, f"too many failed sign-ins: try again in {wait:.0f} s",
                             headers={"Retry-After": f"{wait:.0f}"})
    return HTTPException(401, message, headers=headers)


async def identify(request: Request) -> Principal | None:
    """The principal of a request, None when it carries no credentials at all.

    The user is taken from the app's identity cache, else looked up in a worker thread. A
    valid token or session always passes; only wrong bearer tokens count as failed sign-ins.

    Raises:
        HTTPException: 401 for a bad bearer token or a cookie whose user is gone or disabled or
            whose session has ended; 429 when wrong bearer tokens come too fast.
    """
    creds = read_credentials(request)
    if creds is None:
        return None
    cache = request.app.state.identities
    user = cache.get(creds.key)
    if user is None:
        try:
            user = await run_in_threadpool(look_up, request, creds)
        except HTTPException as exc:
            if creds.via == "bearer" and exc.status_code == 401:
                raise sign_in_refused(request, str(exc.detail), exc.headers) from exc
            raise
        cache.put(creds.key, user)
    return Principal(user, creds.via, creds.csrf)


async def _presented_csrf(request: Request) -> str | None:
    token = request.headers.get(CSRF_HEADER)
    if token:
        return token
    ctype = request.headers.get("content-type", "")
    if ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        value = (await request.form()).get(CSRF_FIELD)
        return value if isinstance(value, str) else None
    return None


async def check_same_site(request: Request) -> None:
    """Refuse a state-changing request that a browser says comes from another site (403)."""
    if request.method in UNSAFE_METHODS:
        reason = cross_site_reason(request, request.app.state.settings.allowed_origins)
        if reason:
            raise HTTPException(403, reason)


async def guard_writes(request: Request, principal: Principal) -> None:
    """Cookie-signed state-changing requests: same origin and the session's CSRF token (403 otherwise)."""
    if request.method not in UNSAFE_METHODS or principal.via != "cookie":
        return
    await check_same_site(request)
    presented = await _presented_csrf(request)
    cookie = request.cookies.get(COOKIE_NAME, "")
    if not check_csrf(request.app.state.secret, cookie, presented):
        raise HTTPException(403, "missing or wrong CSRF token")


async def api_principal(request: Request) -> Principal:
    """The signed-in principal of an API request (401 without credentials; 403 on a CSRF failure)."""
    principal = await identify(request)
    if principal is None:
        raise HTTPException(401, "sign in first: session cookie or 'Authorization: Bearer TOKEN'",
                            headers={"WWW-Authenticate": "Bearer"})
    await guard_writes(request, principal)
    return principal


async def page_principal(request: Request) -> Principal:
    """The signed-in principal of a page; sends the browser to /login when there is none."""
    try:
        principal = await identify(request)
    except HTTPException as exc:
        if exc.status_code == 401:
            raise LoginRequired(request.url.path) from exc
        raise
    if principal is None:
        raise LoginRequired(request.url.path)
    await guard_writes(request, principal)
    return principal


def allow(principal: Principal, *roles: str) -> UserInfo:
    """The principal's user when it has one of ``roles``; 403 otherwise."""
    try:
        return require_role(principal.user, *roles)
    except AuthError as exc:
        raise HTTPException(403, str(exc)) from exc


ApiUser = Annotated[Principal, Depends(api_principal)]
PageUser = Annotated[Principal, Depends(page_principal)]
