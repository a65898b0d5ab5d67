"""The web stage of ``rainset demo``: serve the labelling app on 127.0.0.1 and use it over HTTP.

It signs in a demo admin by token (cookie and CSRF token, like a browser), opens every page
and its JSON twin, fetches a preview and a 100 % tile, and reports what answered and how fast.
The store keeps the admin; the token is printed so that the demo's user can sign in.
"""

from __future__ import annotations

import socket
import statistics
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any, Iterator

import uvicorn

from rainset.annotate_ui.app import create_app
from rainset.annotate_ui.config import AppSettings
from rainset.annotate_ui.pages import PAGE_TWINS
from rainset.catalog.db import open_catalog
from rainset.labels.users import add_user

DEMO_USER = "demo-admin"


@dataclass(frozen=True)
class DemoWeb:
    """What the web stage of the demo did (part of the demo's ``--json`` output)."""

    url: str
    user: str
    token: str
    statuses: dict[str, int]
    requests: int
    median_ms: float
    review_queue: int
    serve_command: str
    suggestion: str | None = None  # the next capture's suggestion as the labelling screen shows it

    @property
    def ok(self) -> bool:
        return all(code == 200 for code in self.statuses.values())

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}

    def lines(self) -> list[str]:
        bad = {p: c for p, c in self.statuses.items() if c != 200}
        state = "all answered 200" if not bad else f"FAILED: {bad}"
        return [f"web: {self.requests} requests to the labelling app at {self.url} ({state}), "
                f"median {self.median_ms:.1f} ms; review queue: {self.review_queue}",
                *([f"web: the next capture comes with the suggestion {self.suggestion}, pre-selected "
                   "(Enter accepts it)"] if self.suggestion else []),
                f"web: sign in as {self.user} with token {self.token}",
                f"try:   {self.serve_command}"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serving(app: Any, port: int) -> Iterator[str]:
    """Serve ``app`` with uvicorn in a thread on 127.0.0.1:``port`` for the block; yields its URL."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError(f"the demo web server did not start on {url}")
            time.sleep(0.05)
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def demo_stage(store: Any) -> DemoWeb:
    """Serve the app on the demo store and open its pages, twins and images over HTTP."""
    import httpx  # optional: httpx (the dev extra); only this stage needs it

    catalog = open_catalog(store.db_url)
    try:
        with catalog.session() as s:
            token = add_user(s, DEMO_USER, "admin").token
    finally:
        catalog.close()
    statuses: dict[str, int] = {}
    times: list[float] = []
    app = create_app(AppSettings(store=store, cookie_secure=False))
    with serving(app, _free_port()) as url, httpx.Client(base_url=url, timeout=30) as client:
        def get(path: str, **kw: Any) -> httpx.Response:
            t0 = time.perf_counter()
            res = client.get(path, **kw)
            times.append((time.perf_counter() - t0) * 1000)
            statuses[path] = res.status_code
            return res

        signed = client.post("/login", data={"token": token}, headers={"Origin": url})
        statuses["/login"] = 200 if signed.status_code == 303 and client.cookies else signed.status_code
        item = get("/api/queue/peek").json()  # looks ahead without claiming a queue slot
        review = get("/api/review").json()
        capture = item["capture_id"] if item else (review[0]["capture_id"] if review else None)
        groups = get("/api/groups").json()["items"]  # a group to open, when dedupe found any
        fills = {"{capture_id}": capture, "{key}": groups[0]["key"] if groups else None}
        for page, twin in PAGE_TWINS.items():
            wanted = [(name, value) for name, value in fills.items() if name in page]
            if any(value is None for _, value in wanted):
                continue
            for name, value in wanted:
                page, twin = page.replace(name, value), twin.replace(name, value)
            get(page)
            get(twin)
        if capture is not None:
            get(f"/api/captures/{capture}/preview.jpg")
            get(f"/api/captures/{capture}/zoom")
            get(f"/api/captures/{capture}/tiles/0/0.jpg")
    return DemoWeb(url=url, user=DEMO_USER, token=token, statuses=statuses, requests=len(times) + 1,
                   median_ms=round(statistics.median(times), 2) if times else 0.0, review_queue=len(review),
                   serve_command=f"rainset annotate serve --store {store.root}", suggestion=_shown(item))


def _shown(item: dict[str, Any] | None) -> str | None:
    """A queue item's suggestion as the labelling screen writes it: ``heavy (82 %)``."""
    suggestion = (item or {}).get("suggestion")
    if not suggestion:
        return None
    return f"{suggestion['rain_type']} ({round(suggestion['confidence'] * 100)} %)"
