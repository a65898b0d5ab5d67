"""Helpers shared by the labelling web app tests: a small ingested store, users, a live server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx
import numpy as np

from rainset.catalog.db import open_catalog
from rainset.ingest import IngestOptions, ingest
from rainset.labels.users import add_user
from rainset.store import Store, init_store

HOSTILE_FILE = '<img src=x onerror=alert("file")>.jpg'
HOSTILE_MAKE = '<script>alert("make")</script>'
REPO = Path(__file__).resolve().parents[1]


def write_hostile_capture(folder: Path) -> Path:
    """A JPEG whose file name and EXIF make hold HTML."""
    from rainset.synth import SynthExif, add_rain, render_scene, write_jpeg

    rng = np.random.default_rng(7)
    rgb = add_rain(render_scene(rng, 640, 480), "heavy", rng, exposure_time=1 / 125)
    exif = SynthExif(make=HOSTILE_MAKE, model="X<b>1</b>", serial="S1", lens="L & <i>", capture_time=datetime(2024, 5, 1, 12),
                     subsec="000", offset="+00:00", exposure_time=1 / 125, f_number=2.8, iso=400, focal_length=35.0,
                     gps=None)
    path = folder / HOSTILE_FILE
    write_jpeg(path, rgb, exif)
    return path


def make_store(root: Path, n: int = 12, *, hostile: bool = True, db_url: str | None = None,
               size: tuple[int, int] = (640, 480)) -> Store:
    """A store holding ``n`` generated captures (one with a RAW twin), plus the hostile one."""
    from rainset.synth import generate_dataset

    caps = root / "captures"
    generate_dataset(caps, n, corrupt=False, raw_pairs=1, bursts=0, near_duplicates=0, exact_copies=0, size=size)
    if hostile:
        write_hostile_capture(caps)
    store = init_store(root / "store", db_url)
    ingest(store, [str(caps)], IngestOptions(workers=1))
    return store


def make_users(store: Store, names: dict[str, str]) -> dict[str, str]:
    """Create users (name -> role) and return name -> token."""
    catalog = open_catalog(store.db_url)
    try:
        with catalog.session() as session:
            return {name: add_user(session, name, role).token for name, role in names.items()}
    finally:
        catalog.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, timeout: float = 60.0, proc: subprocess.Popen | None = None) -> None:
    """Wait until ``url`` answers (any HTTP status)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the server exited with code {proc.returncode}: {proc.stderr.read() if proc.stderr else ''}")
        try:
            httpx.get(url, timeout=2.0)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


@dataclass
class CliServer:
    """``rainset annotate serve`` running in a subprocess on 127.0.0.1."""

    proc: subprocess.Popen
    url: str

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


SERVE = "from rainset.cli import app; app(prog_name='rainset')"


def start_cli_server(store: Store, *extra: str) -> CliServer:
    """Start the serve command in a subprocess and wait until it answers."""
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-c", SERVE, "annotate", "serve", "--store", str(store.root), "--host", "127.0.0.1",
                             "--port", str(port), "--log-level", "warning", *extra],
                            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(url + "/login", proc=proc)
    except RuntimeError:
        proc.kill()
        raise
    return CliServer(proc, url)


class ThreadServer:
    """uvicorn serving an app in a thread of this process (for tests that need the app object)."""

    def __init__(self, app) -> None:  # noqa: ANN001 - a FastAPI app
        import uvicorn

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> "ThreadServer":
        self.thread.start()
        wait_for(self.url + "/login")
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)


def watch_errors(page) -> list[str]:  # noqa: ANN001
    """Collect a Chromium page's console errors, uncaught exceptions and HTTP responses >= 400."""
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    return errors


def browser_sign_in(page, url: str, token: str) -> None:  # noqa: ANN001
    """Open ``url``, sign in with ``token`` on the login form it shows, and wait to be back at ``url``."""
    page.goto(url)
    page.fill("#token", token)
    page.click("#sign-in")
    page.wait_for_url(url)
