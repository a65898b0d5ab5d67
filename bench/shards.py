"""Shard build throughput: samples/s and MB/s written by ``build_shards`` for each format and worker count.

Usage: .venv/bin/python bench/shards.py [--n 60] [--size 1024x768] [--runs 3] [--json]
Generates N captures (a few with DNG twins), ingests and exports them once, then builds shards
``--runs`` times per setting and prints the median. Prints the 1-minute load average before and
after (the machine may be shared).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rainset.shards.render import RenderSettings  # noqa: E402
from rainset.shards.writer import ShardOptions, build_shards  # noqa: E402
from tests.shards_helpers import shard_store  # noqa: E402

SETTINGS = [("jpg", 1), ("jpg", 2), ("jpg-512", 1), ("png", 1), ("tiff16", 1), ("tiff16-512", 1)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=60)
    parser.add_argument("--size", default="1024x768")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    load0 = os.getloadavg()[0]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        store = shard_store(Path(tmp), n=args.n, raw_pairs=max(1, args.n // 10), size=(width, height))
        setup = time.perf_counter() - t
        for label, workers in SETTINGS:
            fmt, _, side = label.partition("-")
            seconds, size = [], 0
            for run in range(args.runs):
                opts = ShardOptions(RenderSettings(fmt, max_side=int(side) if side else None), target_size=64 * 10**6,
                                    workers=workers)
                t = time.perf_counter()
                result = build_shards(store, f"b-{label}-{workers}-{run}", opts, manifest="v1")
                seconds.append(time.perf_counter() - t)
                size = result.bytes
            med = statistics.median(seconds)
            results.append({"format": label, "workers": workers, "samples": result.samples, "seconds": round(med, 3),
                            "samples_per_s": round(result.samples / med, 1), "mb_per_s": round(size / med / 1e6, 1),
                            "bytes": size})
    report = {"n": args.n, "size": args.size, "runs": args.runs, "setup_s": round(setup, 1), "results": results,
              "load_before": round(load0, 2), "load_after": round(os.getloadavg()[0], 2), "cpus": os.cpu_count()}
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"{args.n} captures {args.size}, median of {args.runs} (load {report['load_before']} -> {report['load_after']})")
    for r in results:
        print(f"  {r['format']:<9} workers {r['workers']}: {r['samples_per_s']:>7} samples/s  {r['mb_per_s']:>6} MB/s  "
              f"({r['bytes'] / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
