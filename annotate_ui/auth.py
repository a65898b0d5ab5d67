"""Who is asking: credentials of a request, checked against the catalog, briefly remembered.

Credentials are read without the database (bearer token, or the signed session cookie whose
signature and age are checked every time); the user behind them is looked up in the catalog
and kept for ``ttl`` seconds, so that a busy annotator's requests do not each pay a look-up.
Disabling a user through the web app forgets every remembered user at once; a user disabled
from the command line loses access within ``ttl`` seconds.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass

from fastapi import HTTPException
from starlette.requests import Request

from rainset.errors import AuthError
from rainset.labels.users import UserInfo, authenticate, get_user

from rainset.annotate_ui.security import COOKIE_NAME, csrf_token, read_cookie


@dataclass(frozen=True)
class Credentials:
    """What a request presents: a bearer token or a verified session cookie."""

    via: str  # bearer | cookie
    key: str  # cache key: a hash of the token, or the cookie's user id
    token: str | None = None
    user_id: int | None = None
    epoch: int | None = None
    csrf: str | None = None


class IdentityCache:
    """Users by credential key, each kept ``ttl`` seconds (thread-safe)."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._users: dict[str, tuple[UserInfo, float]] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> UserInfo | None:
        with self._lock:
            found = self._users.get(key)
            if found is None or found[1] < time.monotonic():
                self._users.pop(key, None)
                return None
            return found[0]

    def put(self, key: str, user: UserInfo) -> None:
        if self.ttl > 0:
            with self._lock:
                if len(self._users) > 10_000:
                    self._users.clear()
                self._users[key] = (user, time.monotonic() + self.ttl)

    def clear(self) -> None:
        with self._lock:
            self._users.clear()


def read_credentials(request: Request) -> Credentials | None:
    """The request's credentials (no database), None when it carries none.

    Raises:
        HTTPException: 401 for a malformed Authorization header.
    """
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise HTTPException(401, "the Authorization header must be 'Bearer TOKEN'",
                                headers={"WWW-Authenticate": "Bearer"})
        return Credentials("bearer", "t:" + hashlib.sha256(token.encode()).hexdigest(), token=token)
    secret = request.app.state.secret
    cookie = read_cookie(secret, request.cookies.get(COOKIE_NAME), request.app.state.settings.session_hours * 3600)
    if cookie is None:
        return None
    return Credentials("cookie", f"u:{cookie.user_id}:{cookie.epoch}", user_id=cookie.user_id, epoch=cookie.epoch,
                       csrf=csrf_token(secret, cookie.value))


def look_up(request: Request, creds: Credentials) -> UserInfo:
    """The enabled user behind ``creds``, from the catalog (runs in a worker thread).

    A cookie's session epoch must still be its user's (sign-out, token rotation and disable
    move it on).

    Raises:
        HTTPException: 401 for an unknown token, a user missing or disabled, or an ended session.
    """
    try:
        with request.app.state.catalog.session() as session:
            if creds.via == "bearer":
                return authenticate(session, creds.token or "")
            return get_user(session, creds.user_id or 0, creds.epoch or 0)
    except AuthError as exc:
        headers = {"WWW-Authenticate": "Bearer"} if creds.via == "bearer" else None
        raise HTTPException(401, str(exc), headers=headers) from exc
