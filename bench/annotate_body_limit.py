#!/usr/bin/env python
"""Memory of the labelling server under oversized anonymous bodies (the body limit, issue 18).

Starts ``rainset annotate serve`` on a small generated store, then sends anonymously: a 100 MB
JSON body with its Content-Length, the same streamed without one (chunked), and a 12M-item JSON
array; prints each answer and the server's resident memory (VmRSS) after it.

Usage: ``python bench/annotate_body_limit.py`` (Linux: reads /proc).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402

from tests.annotate_fixtures import make_store, start_cli_server  # noqa: E402

JSON = {"Content-Type": "application/json"}


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def main() -> None:
    root = Path(tempfile.mkdtemp())
    server = start_cli_server(make_store(root, n=2, hostile=False, size=(320, 240)), "--insecure-cookie")
    try:
        print(f"server RSS at start: {rss_mib(server.proc.pid):.1f} MiB")

        def chunks():
            for _ in range(100 * 16):
                yield b" " * 65536

        cases = [("100 MB body, Content-Length", "/api/session", b'{"token": "' + b"x" * (100 << 20) + b'"}'),
                 ("100 MB body, chunked", "/api/session", None),
                 ("12M-item array", "/api/labels", b"[" + b"1," * 12_000_000 + b"1]")]
        for name, path, body in cases:
            start = time.perf_counter()
            try:
                status = httpx.post(server.url + path, content=body if body is not None else chunks(),
                                    headers=JSON, timeout=60).status_code
            except httpx.TransportError as exc:
                status = f"closed ({type(exc).__name__})"
            ms = (time.perf_counter() - start) * 1000
            print(f"{name:<30} -> {status} in {ms:.0f} ms; server RSS {rss_mib(server.proc.pid):.1f} MiB")
    finally:
        server.stop()
        shutil.rmtree(root)


if __name__ == "__main__":
    main()
