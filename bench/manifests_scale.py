"""Export, diff, leakage and report times for a catalog of N captures (inserted directly, no ingest).

Usage: .venv/bin/python bench/manifests_scale.py --n 20000 [--json]
Prints the seconds of each step and the 1-minute load average before and after (the machine is shared).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rainset.manifests.diff import diff_versions  # noqa: E402
from rainset.manifests.export import export_manifest  # noqa: E402
from rainset.manifests.leakage import check_version_leakage  # noqa: E402
from rainset.manifests.report import write_report  # noqa: E402
from rainset.store import init_store  # noqa: E402
from tests.manifest_helpers import RAIN, add_captures, add_group, add_labels  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    load0 = os.getloadavg()[0]
    times: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        store = init_store(Path(tmp) / "store")
        t = time.perf_counter()
        ids = add_captures(store, 0, args.n)
        for k in range(0, args.n - 3, 10):  # a burst of three every ten captures
            add_group(store, "burst", f"burst-{k}", ids[k:k + 3])
        add_labels(store, {c: [("ann", RAIN[i % 5], []), ("bob", RAIN[i % 5], [])] for i, c in enumerate(ids)})
        times["setup"] = time.perf_counter() - t
        for step, fn in [
            ("export_v1", lambda: export_manifest(store, "v1")),
            ("add_1pct", lambda: add_labels(store, {c: [("ann", "heavy", [])] for c in
                                                    add_captures(store, args.n, max(1, args.n // 100), salt="b")})),
            ("export_v2", lambda: export_manifest(store, "v2")),
            ("diff", lambda: diff_versions(store, "v1", "v2")),
            ("leakage", lambda: check_version_leakage(store, "v2")),
            ("report", lambda: write_report(store, "v2", Path(tmp) / "r.html")),
        ]:
            t = time.perf_counter()
            fn()
            times[step] = time.perf_counter() - t
    result = {"n": args.n, "seconds": {k: round(v, 2) for k, v in times.items()},
              "load_before": round(load0, 2), "load_after": round(os.getloadavg()[0], 2), "cpus": os.cpu_count()}
    print(json.dumps(result, indent=2) if args.json else
          "\n".join(f"{k:10s} {v:8.2f} s" for k, v in result["seconds"].items()) +
          f"\nn={args.n}, load {result['load_before']} -> {result['load_after']}, {result['cpus']} CPUs")


if __name__ == "__main__":
    main()
