"""Session cookies, CSRF tokens and the same-origin checks of state-changing requests.

The session cookie holds ``user_id.epoch.issued.nonce.signature``: an HMAC-SHA256 over the rest
with the store's secret (``STORE/secret``). The only server-side state is the user's session
epoch in the catalog: a cookie stops working when it expires, when its user is disabled, or when
the user's epoch moves on (sign-out, token rotation, disable) — :mod:`rainset.annotate_ui.auth`
looks the user up and compares.
The CSRF token is an HMAC of the cookie value, so it is per session and needs no storage either.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from starlette.requests import Request

COOKIE_NAME = "rainset_session"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
SECURITY_HEADERS = {
    "Content-Security-Policy": ("default-src 'self'; img-src 'self' blob: data:; script-src 'self'; "
                                "style-src 'self'; object-src 'none'; base-uri 'none'; "
                                "form-action 'self'; frame-ancestors 'none'"),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}


def _sign(secret: bytes, purpose: str, message: str) -> str:
    digest = hmac.new(secret, f"{purpose}|{message}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


@dataclass(frozen=True)
class SessionCookie:
    """A verified session cookie: whose it is and its raw value (the CSRF token derives from it)."""

    user_id: int
    epoch: int
    issued: int
    value: str


def make_cookie(secret: bytes, user_id: int, epoch: int = 0, now: float | None = None) -> str:
    """A new signed session cookie value for ``user_id`` under the user's session ``epoch``."""
    issued = int(now if now is not None else time.time())
    body = f"{user_id}.{epoch}.{issued}.{secrets.token_urlsafe(12)}"
    return f"{body}.{_sign(secret, 'session', body)}"


def read_cookie(secret: bytes, value: str | None, max_age_s: float, now: float | None = None) -> SessionCookie | None:
    """The session in ``value`` when its signature is right and it has not expired, else None."""
    if not value or len(value) > 256:
        return None
    body, _, sig = value.rpartition(".")
    parts = body.split(".")
    if len(parts) != 4 or not hmac.compare_digest(sig, _sign(secret, "session", body)):
        return None
    try:
        user_id, epoch, issued = int(parts[0]), int(parts[1]), int(parts[2])
    except ValueError:
        return None
    age = (now if now is not None else time.time()) - issued
    if age < -60 or age > max_age_s:
        return None
    return SessionCookie(user_id, epoch, issued, value)


def csrf_token(secret: bytes, cookie_value: str) -> str:
    """The CSRF token of the session whose cookie is ``cookie_value``."""
    return _sign(secret, "csrf", cookie_value)


def check_csrf(secret: bytes, cookie_value: str, presented: str | None) -> bool:
    """True when ``presented`` is this session's CSRF token."""
    return bool(presented) and hmac.compare_digest(presented, csrf_token(secret, cookie_value))


def own_origin(request: Request) -> str:
    """``scheme://host[:port]`` of this server as the client addressed it."""
    host = request.headers.get("host", "")
    return f"{request.url.scheme}://{host}"


def cross_site_reason(request: Request, allowed: tuple[str, ...] = ()) -> str | None:
    """Why a state-changing request looks cross-site (None when it does not).

    Browsers send ``Sec-Fetch-Site`` and ``Origin`` on form posts and fetches: a request from
    another site is refused whatever credentials it carries. Clients that send neither (curl,
    scripts) pass this check and must still present a CSRF token or a bearer token.
    """
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return f"cross-site request refused (Sec-Fetch-Site: {site})"
    origin = request.headers.get("origin")
    if origin is not None and origin != own_origin(request) and origin not in allowed:
        return f"cross-origin request refused (Origin: {origin})"
    return None
