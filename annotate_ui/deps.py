"""FastAPI dependencies: the catalog session, the signed-in user, CSRF and role checks.

A request is signed in either by ``Authorization: Bearer TOKEN`` (scripts; no ambient
credentials, so no CSRF token needed) or by the session cookie (browsers). State-changing
requests signed in by cookie must come from this origin and carry the session's CSRF token in the
``X-CSRF-Token`` header or the ``csrf_token`` form field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Iterator

from fastapi import Depends, HTTPException, Request
from sqlalchemy.orm import Session

from rainset.errors import AuthError
from rainset.labels.users import UserInfo, authenticate, get_user, require_role

from rainset.annotate_ui.config import AppSettings
from rainset.annotate_ui.security import (
    COOKIE_NAME,
    CSRF_FIELD,
    CSRF_HEADER,
    UNSAFE_METHODS,
    check_csrf,
    cross_site_reason,
    csrf_token,
    read_cookie,
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


def get_settings(request: Request) -> AppSettings:
    return request.app.state.settings


def get_session(request: Request) -> Iterator[Session]:
    """A catalog session for one request, committed before the response is sent."""
    with request.app.state.catalog.session() as session:
        yield session


SettingsDep = Annotated[AppSettings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HTTPException(401, "the Authorization header must be 'Bearer TOKEN'",
                            headers={"WWW-Authenticate": "Bearer"})
    return token.strip()


def identify(request: Request, session: Session) -> Principal | None:
    """The principal of a request, None when it carries no credentials at all.

    Raises:
        HTTPException: 401 for a bad bearer token or a cookie whose user is gone or disabled.
    """
    token = _bearer(request)
    if token is not None:
        try:
            return Principal(authenticate(session, token), "bearer", None)
        except AuthError as exc:
            raise HTTPException(401, str(exc), headers={"WWW-Authenticate": "Bearer"}) from exc
    secret = request.app.state.secret
    cookie = read_cookie(secret, request.cookies.get(COOKIE_NAME), request.app.state.settings.session_hours * 3600)
    if cookie is None:
        return None
    try:
        user = get_user(session, cookie.user_id)
    except AuthError as exc:
        raise HTTPException(401, str(exc)) from exc
    return Principal(user, "cookie", csrf_token(secret, cookie.value))


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


def _api_identity(request: Request, session: SessionDep) -> Principal:
    principal = identify(request, session)
    if principal is None:
        raise HTTPException(401, "sign in first: session cookie or 'Authorization: Bearer TOKEN'",
                            headers={"WWW-Authenticate": "Bearer"})
    return principal


def _page_identity(request: Request, session: SessionDep) -> Principal:
    try:
        principal = identify(request, session)
    except HTTPException as exc:
        if exc.status_code == 401:
            raise LoginRequired(request.url.path) from exc
        raise
    if principal is None:
        raise LoginRequired(request.url.path)
    return principal


async def api_principal(request: Request, principal: Annotated[Principal, Depends(_api_identity)]) -> Principal:
    """The signed-in principal of an API request (401 without credentials; 403 on a CSRF failure)."""
    await guard_writes(request, principal)
    return principal


async def page_principal(request: Request, principal: Annotated[Principal, Depends(_page_identity)]) -> Principal:
    """The signed-in principal of a page; sends the browser to /login when there is none."""
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
