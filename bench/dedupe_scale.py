#!/usr/bin/env python
"""Near-duplicate search at scale: all pairs within Hamming ≤ R among N 64-bit hashes.

Two runs, each comparing rainset's multi-index search (``rainset.dedupe.index.all_pairs``) with
the baseline on the same hashes, in the same process:

1. random hashes with planted near pairs (N/100 pairs at distance 1..R), for each ``--sizes`` N;
   reports time, peak traced memory (numpy allocations, tracemalloc) and the recall of the
   planted pairs.
2. the clustered hashes of generated images (procedural scenes with several rain types, shifts,
   crops and brightness changes, hashed by rainset's own pHash): similar images give similar
   hashes, buckets crowd, the harder case for an index.

Baseline: imagededup's ``find_duplicates`` needs torch + torchvision, which cannot be installed
beside this project's torch wheel, so the baseline is a plain blocked numpy popcount brute force
(``brute_force_pairs``), run up to ``--brute-seconds``; when it stops early its full time is
extrapolated from the fraction of the N(N-1)/2 pairs it covered (said so in the output).

Usage: ``python bench/dedupe_scale.py [--sizes 100000 1000000] [--radius 8] [--brute-seconds 90]
[--images 2000] [--repeat 3] [--json]``. Times are the best of ``--repeat`` runs. Results: docs/dedupe.md.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import tracemalloc

import numpy as np

from rainset.dedupe.index import all_pairs, brute_force_pairs


def planted(n: int, radius: int, seed: int = 0) -> tuple[np.ndarray, set[tuple[int, int]]]:
    """N random hashes; N/100 disjoint pairs re-planted at distance 1..radius."""
    rng = np.random.default_rng(seed)
    h = rng.integers(0, 2**64, n, dtype=np.uint64, endpoint=False)
    k = n // 100
    idx = rng.permutation(n)[: 2 * k].reshape(k, 2)
    pairs = set()
    for a, b in idx:
        bits = rng.choice(64, int(rng.integers(1, radius + 1)), replace=False)
        mask = 0
        for x in bits:
            mask |= 1 << int(x)
        h[b] = h[a] ^ np.uint64(mask)
        pairs.add((int(min(a, b)), int(max(a, b))))
    return h, pairs


def image_hashes(n_scenes: int, seed: int = 0) -> np.ndarray:
    """pHashes of generated images: each scene with 4 rain types, a shift, a crop, ±brightness."""
    import cv2

    from rainset.hashing import compute_hashes
    from rainset.records import Frame
    from rainset.synth import add_rain, render_scene
    from rainset.synth.variants import brightness, crop

    out = []
    for s in range(n_scenes):
        rng = np.random.default_rng([seed, s])
        clean = render_scene(rng, 160, 120)
        imgs = [add_rain(clean, t, rng) for t in ("drizzle", "heavy", "streak", "fog-mixed")]
        imgs += [crop(clean, 0.03), brightness(clean, 1.1),
                 cv2.warpAffine(clean, np.float32([[1, 0, 3], [0, 1, 2]]), (160, 120), borderMode=cv2.BORDER_REFLECT)]
        for im in imgs:
            out.append(int(compute_hashes(Frame(im, im.shape[1], im.shape[0], 8, "jpeg", "synth")).phash, 16))
    return np.array(out, np.uint64)


def measure(fn, *args, **kwargs):
    tracemalloc.start()
    t0 = time.perf_counter()
    result = fn(*args, **kwargs)
    seconds = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return result, seconds, peak


def best_of(repeat: int, fn, *args, **kwargs):
    """The result, the fastest time and the largest peak of ``repeat`` runs (a shared machine is noisy)."""
    runs = [measure(fn, *args, **kwargs) for _ in range(max(1, repeat))]
    return runs[0][0], min(r[1] for r in runs), max(r[2] for r in runs)


def compare(h: np.ndarray, radius: int, brute_seconds: float, truth: set | None, repeat: int) -> dict:
    n = int(h.size)
    pairs, t_ours, mem_ours = best_of(repeat, all_pairs, h, radius)
    found = set(zip(pairs.i.tolist(), pairs.j.tolist()))
    brute_repeat = repeat if n <= 200_000 else 1  # the 1M brute force stops at its deadline anyway
    (bpairs, rows), t_brute, mem_brute = best_of(brute_repeat, lambda: brute_force_pairs(
        h, radius, deadline=time.perf_counter() + brute_seconds))
    covered = (rows * n - rows * (rows + 1) / 2) / (n * (n - 1) / 2) if n > 1 else 1.0
    bfound = set(zip(bpairs.i.tolist(), bpairs.j.tolist()))
    row: dict = {"n": n, "radius": radius, "pairs": len(found), "repeat": repeat,
                 "ours_seconds": round(t_ours, 3), "ours_peak_mb": round(mem_ours / 1e6, 1),
                 "brute_seconds": round(t_brute, 3), "brute_peak_mb": round(mem_brute / 1e6, 1),
                 "brute_fraction_done": round(covered, 4),
                 "brute_seconds_full": round(t_brute / max(covered, 1e-9), 1)}
    row["speedup"] = round(row["brute_seconds_full"] / max(t_ours, 1e-9), 1)
    done = {p for p in bfound if p[0] < rows}
    row["agrees_with_brute_on_done_rows"] = done == {p for p in found if p[0] < rows}
    if truth is not None:
        row["planted"] = len(truth)
        row["planted_recall"] = round(len(truth & found) / len(truth), 6)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--radius", type=int, default=8)
    ap.add_argument("--brute-seconds", type=float, default=90.0)
    ap.add_argument("--images", type=int, default=2000, help="generated scenes for the clustered run (7 images each)")
    ap.add_argument("--repeat", type=int, default=3, help="best of this many runs (brute force at N > 200k: once)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    rows = []
    for n in (n for n in args.sizes if n > 0):  # --sizes 0: only the generated-images run
        h, truth = planted(n, args.radius)
        rows.append({"run": "random+planted", **compare(h, args.radius, args.brute_seconds, truth, args.repeat)})
        if not args.json:
            print(rows[-1], flush=True)
    if args.images:
        t0 = time.perf_counter()
        h = image_hashes(args.images)
        gen = time.perf_counter() - t0
        rows.append({"run": "generated-images", "generate_seconds": round(gen, 1),
                     **compare(h, args.radius, args.brute_seconds, None, args.repeat)})
        if not args.json:
            print(rows[-1], flush=True)
    machine = {"cpus": os.cpu_count(), "load_average": os.getloadavg()}
    if args.json:
        print(json.dumps({"machine": machine, "rows": rows}, indent=2))
    else:
        print("machine:", machine)


if __name__ == "__main__":
    main()
