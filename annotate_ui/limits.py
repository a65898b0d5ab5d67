"""Limits applied before a request reaches a route: body size, trusted hosts, failed sign-ins.

:class:`BodyLimit` and :class:`TrustedHosts` are ASGI middlewares, so they act before any body is
parsed and before authentication. :class:`LoginLimiter` counts failed sign-ins (per client
address, and all addresses together) and is consulted by the sign-in routes and the bearer-token
check only after a failure: a valid token or session is never throttled.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import deque

from starlette.types import ASGIApp, Message, Receive, Scope, Send

BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


async def send_json(send: Send, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
    """Answer a request directly from a middleware with ``{"detail": …}``."""
    body = json.dumps({"detail": detail}).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
           (b"connection", b"close")]
    raw += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


class BodyTooLarge(Exception):
    """Raised into the app by the wrapped ``receive`` once a body passes the limit."""


class BodyLimit:
    """ASGI middleware: refuse request bodies over ``max_bytes`` with 413.

    A ``Content-Length`` over the limit is refused before a byte of the body is read; a body
    streamed without one (chunked) is counted as it arrives and refused as soon as it passes the
    limit, so at most ``max_bytes`` plus one chunk is ever held.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _too_large(self) -> str:
        return f"request body too large: the limit is {self.max_bytes} bytes"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await send_json(send, 400, "invalid Content-Length header")
                    return
                if declared > self.max_bytes:
                    await send_json(send, 413, self._too_large())
                    return
        received = 0
        overflow = False
        started = False

        async def counting_receive() -> Message:
            nonlocal received, overflow
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    overflow = True
                    raise BodyTooLarge(self._too_large())
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if overflow:  # whatever the app makes of the aborted body, the answer is 413 (below)
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except BodyTooLarge:
            pass
        if overflow and not started:
            await send_json(send, 413, self._too_large())


def host_name(header: str) -> str:
    """The host of a ``Host`` header, without port and brackets, lower case."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:].partition("]")[0]
    return header.rpartition(":")[0] if header.count(":") == 1 else header


class TrustedHosts:
    """ASGI middleware: 400 for a ``Host`` header naming none of ``hosts`` (DNS rebinding)."""

    def __init__(self, app: ASGIApp, hosts: tuple[str, ...]) -> None:
        self.app = app
        self.hosts = frozenset(host_name(h) for h in hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.hosts:
            header = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"host"), "")
            if host_name(header) not in self.hosts:
                await send_json(send, 400, f"untrusted Host header {header[:100]!r} (see --allowed-host)")
                return
        await self.app(scope, receive, send)


class LoginLimiter:
    """Failed sign-ins in a sliding window: per client address and for all addresses together (thread-safe).

    Only failures within the limits are recorded: a refused attempt does not extend the wait, and
    memory stays bounded (at most ``overall`` recorded failures, whatever the attack).
    """

    def __init__(self, per_address: int, overall: int, window_s: float) -> None:
        self.per_address = per_address
        self.overall = overall
        self.window_s = window_s
        self._by_address: dict[str, deque[float]] = {}
        self._all: deque[float] = deque()
        self._lock = threading.Lock()

    @staticmethod
    def _drop_before(times: deque[float], cut: float) -> None:
        while times and times[0] <= cut:
            times.popleft()

    def failed(self, address: str, now: float | None = None) -> float | None:
        """Record a failed sign-in from ``address``.

        Returns:
            None while the failure is within the limits, else the seconds to wait before the
            next attempt can be counted (the ``Retry-After`` of the 429 answer).
        """
        now = time.monotonic() if now is None else now
        cut = now - self.window_s
        with self._lock:
            self._drop_before(self._all, cut)
            if len(self._by_address) > 2 * self.overall + 16:  # addresses whose failures all expired
                for key in [k for k, times in self._by_address.items() if not times or times[-1] <= cut]:
                    del self._by_address[key]
            times = self._by_address.setdefault(address, deque())
            self._drop_before(times, cut)
            waits = []
            if len(times) >= self.per_address:
                waits.append(times[0] + self.window_s - now)
            if len(self._all) >= self.overall:
                waits.append(self._all[0] + self.window_s - now)
            if not waits:
                times.append(now)
                self._all.append(now)
                return None
        return float(max(1, math.ceil(max(waits))))
