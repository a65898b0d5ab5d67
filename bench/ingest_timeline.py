"""Where the wall time of one ``rainset ingest`` process goes: a timeline from the process's start.

Runs the console command's own ``main()`` in this process (so every import, the workers started
ahead, typer's parse, the store's opening and the exit are those of ``rainset ingest``), with marks
put in through public functions only: when the workers are started ahead
(``rainset.ingest.pool.start_ahead``), when the command asks for its pool (after typer has parsed:
``rainset.ingest.pool.start_workers``), when the driver calls ``rainset.ingest.ingest``, the first
and last files done (its ``progress`` callback), its return, and the process's exit (the parent
sees it end). Times are seconds since the kernel started the process (``/proc/self/stat``).

Usage: ``python bench/ingest_timeline.py IMAGES [--runs 3] [--workers 2]`` (a fresh store each run).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def since_start() -> float:
    """Seconds since the kernel started this process."""
    fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
    uptime = float(Path("/proc/uptime").read_text().split()[0])
    return uptime - int(fields[19]) / os.sysconf("SC_CLK_TCK")


def child(args: list[str]) -> None:
    """Run ``rainset ingest ARGS`` with marks; print them as one JSON line on stderr at exit."""
    t0 = time.perf_counter() - since_start()
    marks: list[tuple[str, float, float]] = []

    def mark(label: str) -> None:
        marks.append((label, round(time.perf_counter() - t0, 3), round(time.process_time(), 3)))

    import atexit

    atexit.register(lambda: print(json.dumps(marks), file=sys.stderr))
    import rainset.cli as cli
    import rainset.ingest.pool as pool

    def wrap(module, name: str, before: str, after: str | None = None) -> None:  # noqa: ANN001
        real = getattr(module, name)

        def marked(*a, **k):  # noqa: ANN002, ANN003, ANN202
            mark(before)
            out = real(*a, **k)
            if after:
                mark(after)
            return out
        setattr(module, name, marked)

    mark("command line imported")
    wrap(pool, "start_ahead", "workers started ahead")
    real_start = pool.start_workers

    def start_workers(*a, **k):  # noqa: ANN002, ANN003, ANN202
        mark("parsed: the command claims its workers")
        out = real_start(*a, **k)
        import rainset.ingest as ingest_pkg  # what the command imports next (the driver)

        real_ingest = ingest_pkg.ingest

        def ingest(*ia, progress=None, **ik):  # noqa: ANN002, ANN003, ANN202
            mark("store open, driver imported: ingest() called")
            seen = {"first": False}

            def tick(done: int, total: int) -> None:
                if done and not seen["first"]:
                    seen["first"] = True
                    mark("first file done")
                if total and done == total:
                    mark("last file done")
                if progress:
                    progress(done, total)
            out = real_ingest(*ia, progress=tick, **ik)
            mark("ingest() returned")
            return out
        ingest_pkg.ingest = ingest
        return out
    pool.start_workers = start_workers
    sys.argv = ["rainset", "ingest", *args]
    cli.main()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("images", type=Path)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    script = Path(sys.executable).parent / "rainset"
    base = [str(script)] if script.is_file() else [sys.executable, "-m", "rainset"]
    for run in range(args.runs):
        store = Path(tempfile.mkdtemp(prefix="rainset-timeline-")) / "store"
        subprocess.run([*base, "init", str(store)], check=True, capture_output=True)
        t0 = time.perf_counter()
        out = subprocess.run([sys.executable, __file__, "--child", str(args.images), "--store", str(store),
                              "--workers", str(args.workers), "-q"], capture_output=True, text=True)
        wall = time.perf_counter() - t0
        shutil.rmtree(store.parent, ignore_errors=True)
        if out.returncode:
            raise SystemExit(out.stderr)
        marks = json.loads(out.stderr.strip().splitlines()[-1])
        print(f"run {run + 1} (load {os.getloadavg()[0]:.2f}):")
        for label, at, cpu in marks:
            print(f"  {at:7.3f} s   driver CPU {cpu:6.3f} s   {label}")
        print(f"  {wall:7.3f} s   (the parent sees the process end; it started ~0.01 s after t0)")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2:])
    else:
        main()
