"""rainset export --images path|embed|embed-full: seconds, Parquet bytes and peak memory per mode.

Usage: .venv/bin/python bench/manifests_images.py --n 200 [--size 2048x1536] [--raw-pairs 10] [--json]
Generates N synthetic captures (RAW pairs among them), ingests them, then exports the same rows once
per mode, each in a fresh process so its peak RSS (ru_maxrss) is its own. Prints the 1-minute load
average before and after (the machine is shared).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rainset.ingest import IngestOptions, Provenance, ingest  # noqa: E402
from rainset.manifests.export import export_manifest  # noqa: E402
from rainset.store import init_store, open_store  # noqa: E402
from rainset.synth import generate_dataset  # noqa: E402

MODES = ("path", "embed", "embed-full")


def _one(store_root: str, mode: str) -> dict:
    """Export in this process; seconds, bytes and peak RSS."""
    store = open_store(store_root)
    t = time.perf_counter()
    result = export_manifest(store, f"bench-{mode}", include_unlabelled=True, images=mode, rows_per_file=100_000)
    seconds = time.perf_counter() - t
    size = sum((Path(result.path) / f).stat().st_size for f in result.files)
    return {"mode": mode, "samples": result.samples, "seconds": round(seconds, 2), "parquet_mb": round(size / 1e6, 1),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--size", default="2048x1536")
    parser.add_argument("--raw-pairs", type=int, default=10)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--one", nargs=2, metavar=("STORE", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(_one(*args.one)))
        return
    w, h = (int(x) for x in args.size.split("x"))
    load0 = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        generate_dataset(Path(tmp) / "captures", args.n, size=(w, h), raw_pairs=args.raw_pairs, bursts=0,
                         near_duplicates=0, exact_copies=0, corrupt=False)
        store = init_store(Path(tmp) / "store")
        t = time.perf_counter()
        ingest(store, [str(Path(tmp) / "captures")], IngestOptions(workers=1, provenance=Provenance("bench", "CC0-1.0", "bench")))
        ingest_s = time.perf_counter() - t
        rows = []
        for mode in MODES:
            out = subprocess.run([sys.executable, __file__, "--one", str(store.root), mode], check=True,
                                 capture_output=True, text=True).stdout
            rows.append(json.loads(out.strip().splitlines()[-1]))
    report = {"n": args.n, "size": args.size, "raw_pairs": args.raw_pairs, "ingest_seconds": round(ingest_s, 1),
              "modes": rows, "load_before": round(load0, 2), "load_after": round(os.getloadavg()[0], 2),
              "cpus": os.cpu_count()}
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"{args.n} captures {args.size} ({args.raw_pairs} with a DNG twin), ingest {ingest_s:.1f} s")
    print("mode        seconds  parquet MB  peak RSS MB")
    for r in rows:
        print(f"{r['mode']:<11} {r['seconds']:>7}  {r['parquet_mb']:>10}  {r['peak_rss_mb']:>11}")
    print(f"load average (1 min): {load0:.2f} before, {os.getloadavg()[0]:.2f} after; {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
