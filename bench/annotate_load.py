#!/usr/bin/env python
"""Load benchmark of the labelling web app: ``rainset annotate serve`` driven over 127.0.0.1.

1. Open loop: ``--annotators`` annotators (50) each submit one label per second for
   ``--duration`` seconds, each followed by a next-image fetch (POST /api/queue/next, then GET of
   the next capture's preview). Requests are sent on schedule whatever the server's pace, and a
   late start counts in the latency (no coordinated omission). Reports p50/p99 of the submit
   and of the next-image fetch.
2. Closed loop: N annotators label as fast as answers come back, for N in ``--closed``; reports
   labels/s for each and the highest.
3. Check against the catalog: every acknowledged label is a row of ``labels`` (0 lost), no
   annotator has two label rows for one capture (0 duplicated), no unacknowledged extra rows.

The server runs in its own process (the CLI), sign-in is by session cookie and CSRF header
like a browser. Bounded: every phase stops after its duration, every request times out after 10 s.
Usage: ``python bench/annotate_load.py [--captures 300] [--annotators 50] [--duration 20]
[--closed 1,8,32] [--closed-duration 8] [--postgres] [--json]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402

TIMEOUT = 10.0
SUBMIT_P99_TARGET_MS = 50.0


@dataclass
class Annotator:
    name: str
    token: str
    client: httpx.AsyncClient | None = None
    csrf: str = ""
    current: str | None = None
    acked: list[tuple[int, str]] = field(default_factory=list)  # (label_id, capture_id)
    errors: list[str] = field(default_factory=list)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by process ``pid`` (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))], 2)


def build_store(root: Path, n: int, k: int, db_url: str | None):
    """A store of ``n`` generated 640x480 captures where each can be labelled by ``k`` annotators."""
    from rainset.ingest import IngestOptions, ingest
    from rainset.settings import dump_toml
    from rainset.store import init_store, open_store, write_atomic
    from rainset.synth import generate_dataset

    generate_dataset(root / "captures", n, corrupt=False, raw_pairs=0, bursts=0, near_duplicates=0, exact_copies=0,
                     size=(640, 480))
    store = init_store(root / "store", db_url)
    write_atomic(store, store.root / "rainset.toml",
                 dump_toml({**store.settings, "annotators_per_capture": k}, db_url, store.store_id).encode())
    store = open_store(store.root)
    ingest(store, [str(root / "captures")], IngestOptions(workers=2))
    return store


def add_annotators(store, names: list[str]) -> list[Annotator]:
    from rainset.catalog.db import open_catalog
    from rainset.labels.users import add_user

    catalog = open_catalog(store.db_url)
    try:
        with catalog.session() as s:
            return [Annotator(n, add_user(s, n, "annotator").token) for n in names]
    finally:
        catalog.close()


def start_server(store, port: int) -> subprocess.Popen:
    code = "from rainset.cli import app; app(prog_name='rainset')"
    proc = subprocess.Popen([sys.executable, "-c", code, "annotate", "serve", "--store", str(store.root),
                             "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
                             "--insecure-cookie"],  # httpx sends no Secure cookie over http (browsers do on 127.0.0.1)
                            cwd=REPO, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stderr.read()}")
        try:
            httpx.get(f"http://127.0.0.1:{port}/login", timeout=2)
            return proc
        except httpx.TransportError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("server did not start within 60 s")


async def sign_in(a: Annotator, base: str, limits: httpx.Limits) -> None:
    a.client = httpx.AsyncClient(base_url=base, timeout=TIMEOUT, limits=limits)
    res = await a.client.post("/api/session", json={"token": a.token})
    res.raise_for_status()
    a.csrf = res.json()["csrf_token"]


async def next_image(a: Annotator) -> bool:
    """Claim the next capture and fetch its preview; False when the queue is empty."""
    res = await a.client.post("/api/queue/next", headers={"X-CSRF-Token": a.csrf})
    res.raise_for_status()
    item = res.json()["item"]
    a.current = item["capture_id"] if item else None
    if a.current is None:
        return False
    img = await a.client.get(f"/api/captures/{a.current}/preview.jpg")
    img.raise_for_status()
    return True


async def submit(a: Annotator, rng: random.Random, taxonomy: list[str]) -> None:
    cid = a.current
    res = await a.client.post("/api/labels", headers={"X-CSRF-Token": a.csrf},
                              json={"capture_id": cid, "rain_type": rng.choice(taxonomy), "duration_ms": 1000})
    res.raise_for_status()
    a.acked.append((res.json()["label_id"], cid))


async def open_loop(annotators: list[Annotator], rate: float, duration: float, taxonomy: list[str]) -> dict:
    submit_ms: list[float] = []
    next_ms: list[float] = []
    late = 0

    async def run(a: Annotator, phase: float) -> None:
        nonlocal late
        rng = random.Random(a.name)
        await next_image(a)
        start = time.perf_counter() + phase
        i = 0
        while True:
            due = start + i / rate
            if due - start >= duration or a.current is None:
                return
            now = time.perf_counter()
            if due > now:
                await asyncio.sleep(due - now)
            else:
                late += 1
            try:
                await submit(a, rng, taxonomy)
                t1 = time.perf_counter()
                submit_ms.append((t1 - due) * 1000)
                await next_image(a)
                next_ms.append((time.perf_counter() - t1) * 1000)
            except (httpx.HTTPError, KeyError, ValueError) as exc:
                a.errors.append(repr(exc))
            i += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(run(a, i / len(annotators) / rate) for i, a in enumerate(annotators)))
    wall = time.perf_counter() - t0
    return {"annotators": len(annotators), "rate_per_annotator": rate, "seconds": round(wall, 2),
            "labels": len(submit_ms), "labels_per_s": round(len(submit_ms) / wall, 1), "late_starts": late,
            "submit_p50_ms": percentile(submit_ms, 50), "submit_p99_ms": percentile(submit_ms, 99),
            "next_image_p50_ms": percentile(next_ms, 50), "next_image_p99_ms": percentile(next_ms, 99),
            "errors": sum(len(a.errors) for a in annotators)}


async def closed_loop(annotators: list[Annotator], duration: float, taxonomy: list[str]) -> dict:
    count = 0

    async def run(a: Annotator) -> None:
        nonlocal count
        rng = random.Random(a.name)
        end = time.perf_counter() + duration
        if not await next_image(a):
            return
        while time.perf_counter() < end and a.current is not None:
            try:
                await submit(a, rng, taxonomy)
                count += 1
                await next_image(a)
            except (httpx.HTTPError, KeyError, ValueError) as exc:
                a.errors.append(repr(exc))
                return

    t0 = time.perf_counter()
    await asyncio.gather(*(run(a) for a in annotators))
    wall = time.perf_counter() - t0
    return {"annotators": len(annotators), "seconds": round(wall, 2), "labels": count,
            "labels_per_s": round(count / wall, 1), "errors": sum(len(a.errors) for a in annotators)}


def check_catalog(store, annotators: list[Annotator]) -> dict:
    """Compare what the server acknowledged with the label rows in the catalog."""
    from sqlalchemy import select

    from rainset.catalog.db import open_catalog
    from rainset.catalog.models import Label, User

    by_name = {a.name: a for a in annotators}
    catalog = open_catalog(store.db_url)
    try:
        with catalog.session() as s:
            rows = s.execute(select(Label.id, Label.capture_id, User.name).join(User, User.id == Label.user_id)
                             .where(Label.kind == "label")).all()
    finally:
        catalog.close()
    stored = {(rid, cid) for rid, cid, name in rows if name in by_name}
    acked = {x for a in annotators for x in a.acked}
    per_user_capture: dict[tuple[str, str], int] = {}
    for _, cid, name in rows:
        per_user_capture[(name, cid)] = per_user_capture.get((name, cid), 0) + 1
    return {"acknowledged": len(acked), "rows": len(stored), "lost": len(acked - stored),
            "unacknowledged_rows": len(stored - acked),
            "duplicated": sum(n - 1 for n in per_user_capture.values() if n > 1)}


async def drive(store, base: str, args, server_pid: int) -> dict:
    taxonomy = list(store.settings["taxonomy"])
    limits = httpx.Limits(max_connections=4, max_keepalive_connections=4)
    open_users = add_annotators(store, [f"open{i:02d}" for i in range(args.annotators)])
    for a in open_users:
        await sign_in(a, base, limits)
    server_cpu, client_cpu = cpu_seconds(server_pid), time.process_time()
    result: dict = {"open_loop": await open_loop(open_users, args.rate, args.duration, taxonomy)}
    o = result["open_loop"]
    requests = o["labels"] * 3 + o["annotators"] * 2  # submit, next, preview per label; first next + preview
    o["server_cpu_ms_per_request"] = round((cpu_seconds(server_pid) - server_cpu) * 1000 / requests, 2)
    o["client_cpu_ms_per_request"] = round((time.process_time() - client_cpu) * 1000 / requests, 2)
    everyone = list(open_users)
    closed = []
    for n in args.closed:
        users = add_annotators(store, [f"closed{n}_{i:02d}" for i in range(n)])
        for a in users:
            await sign_in(a, base, limits)
        closed.append(await closed_loop(users, args.closed_duration, taxonomy))
        everyone += users
    result["closed_loop"] = closed
    result["closed_loop_best_labels_per_s"] = max((c["labels_per_s"] for c in closed), default=None)
    for a in everyone:
        await a.client.aclose()
    result["catalog_check"] = check_catalog(store, everyone)
    result["error_samples"] = [e for a in everyone for e in a.errors][:5]
    return result


def run_one(backend: str, args) -> dict:
    from tests.annotate_fixtures import free_port

    pg = None
    db_url = None
    if backend == "postgresql":
        from tests import pgserver

        pg = pgserver.start()
        db_url = pg.new_database()
    work = Path(tempfile.mkdtemp(prefix="rainset-annotate-bench-"))
    try:
        t0 = time.perf_counter()
        store = build_store(work, args.captures, args.k, db_url)
        setup_s = time.perf_counter() - t0
        port = free_port()
        server = start_server(store, port)
        try:
            result = asyncio.run(drive(store, f"http://127.0.0.1:{port}", args, server.pid))
        finally:
            server.terminate()
            server.wait(timeout=30)
        result.update(backend=backend, captures=args.captures, annotators_per_capture=args.k,
                      setup_seconds=round(setup_s, 1))
        return result
    finally:
        if pg is not None:
            pg.stop()
        if not args.keep:
            import shutil

            shutil.rmtree(work, ignore_errors=True)


def lines(r: dict) -> list[str]:
    o, c = r["open_loop"], r["catalog_check"]
    out = [f"[{r['backend']}] {r['captures']} captures, K={r['annotators_per_capture']}",
           f"  open loop: {o['annotators']} annotators x {o['rate_per_annotator']}/s for {o['seconds']} s: "
           f"{o['labels']} labels ({o['labels_per_s']}/s), {o['errors']} errors, {o['late_starts']} late starts",
           f"    submit      p50 {o['submit_p50_ms']} ms  p99 {o['submit_p99_ms']} ms "
           f"(target p99 < {SUBMIT_P99_TARGET_MS:g} ms on SQLite)",
           f"    next image  p50 {o['next_image_p50_ms']} ms  p99 {o['next_image_p99_ms']} ms",
           f"    CPU per request: server {o['server_cpu_ms_per_request']} ms, "
           f"load generator {o['client_cpu_ms_per_request']} ms"]
    for cl in r["closed_loop"]:
        out.append(f"  closed loop {cl['annotators']:>3} annotators: {cl['labels_per_s']} labels/s "
                   f"({cl['labels']} in {cl['seconds']} s, {cl['errors']} errors)")
    out.append(f"  best closed-loop throughput: {r['closed_loop_best_labels_per_s']} labels/s")
    out.append(f"  catalog: {c['acknowledged']} acknowledged, {c['rows']} rows, {c['lost']} lost, "
               f"{c['duplicated']} duplicated, {c['unacknowledged_rows']} unacknowledged rows")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--captures", type=int, default=300)
    parser.add_argument("--k", type=int, default=20, help="annotators per capture in the bench store")
    parser.add_argument("--annotators", type=int, default=50)
    parser.add_argument("--rate", type=float, default=1.0, help="labels per second per annotator (open loop)")
    parser.add_argument("--duration", type=float, default=20.0, help="open-loop seconds (at most 120)")
    parser.add_argument("--closed", type=lambda s: [int(x) for x in s.split(",")], default=[1, 8, 32])
    parser.add_argument("--closed-duration", type=float, default=8.0)
    parser.add_argument("--postgres", action="store_true", help="also run on a throwaway PostgreSQL server")
    parser.add_argument("--only-postgres", action="store_true")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    args.duration = min(args.duration, 120.0)
    args.closed_duration = min(args.closed_duration, 60.0)
    backends = (["postgresql"] if args.only_postgres else ["sqlite"] + (["postgresql"] if args.postgres else []))
    results = [run_one(b, args) for b in backends]
    meta = {"machine": f"{platform.machine()}, {os.cpu_count()} cores", "load_avg": os.getloadavg(),
            "python": platform.python_version()}
    if args.json:
        print(json.dumps({"meta": meta, "results": results}, indent=2))
    else:
        print(f"machine: {meta['machine']}, load average {meta['load_avg'][0]:.1f} (shared with other work)")
        for r in results:
            print("\n".join(lines(r)))
    lost = sum(r["catalog_check"]["lost"] + r["catalog_check"]["duplicated"] for r in results)
    return 1 if lost else 0


if __name__ == "__main__":
    sys.exit(main())
