"""Exact tiled inference vs the untiled pass: time, peak RSS and the difference of the outputs.

Each case runs in its own spawned process, so its peak resident memory (ru_maxrss) is its own.
``untiled`` is the one-piece forward pass (where it fits); ``tiled`` forces the exact tiled pass of
rainset.nlcl.tiled. For sizes where both run, the maximum absolute difference of the two outputs
(derain_array's [0, 1] units) is printed; ``f16`` repeats the tiled pass with float16 scratch.

    python bench/derain_tiled.py --threads 2 --sizes 1024x512 2048x1024 --tiled-only 6000x4000 \
        --tiled-only-blocks 2

The load average of the machine is printed before and after (the numbers in docs/trainer.md were
taken on a shared machine: say what the load was).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import resource
import tempfile
import time


def _case(q, mode: str, width: int, height: int, channels: int, blocks: int, tile: int, threads: int,
          out_path: str | None) -> None:
    import numpy as np
    import torch

    from rainset.nlcl.derain import derain_array
    from rainset.nlcl.model import Generator, init_weights

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    gen = Generator(channels, blocks)
    init_weights(gen, 0.05)
    gen.eval()
    rng = np.random.default_rng(0)
    # a smooth random image (low-frequency noise upsampled): like a photo, not like white noise
    small = rng.random((max(2, height // 64), max(2, width // 64), 3), dtype=np.float32)
    import cv2  # heavy: cv2 (only to make the test image)

    rgb = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC).clip(0, 1)
    kw = dict(tile=tile, device="cpu")
    if mode == "untiled":
        kw["whole_pixels"] = width * height
    else:
        kw["force_tiles"] = True
        kw["scratch_dtype"] = "float16" if mode == "f16" else "float32"
    derain_array(gen, rgb[:tile, :tile], **kw)  # warm-up (kernels, allocator)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    t0, c0 = time.perf_counter(), time.process_time()
    out = derain_array(gen, rgb, **kw)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    if out_path:
        np.save(out_path, out)
    q.put({"mode": mode, "size": f"{width}x{height}", "megapixels": round(width * height / 1e6, 2),
           "channels": channels, "blocks": blocks, "tile": tile, "seconds": round(seconds, 2),
           "cpu_seconds": round(cpu, 2), "peak_rss_gib": round(peak / 2 ** 30, 3),
           "rss_before_gib": round(base / 2 ** 30, 3),
           "image_activation_gib": round(channels * width * height * 4 / 2 ** 30, 3)})


def run_case(*args) -> dict:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_case, args=(q, *args))
    p.start()
    result = q.get()
    p.join()
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", nargs="*", default=["1024x512", "2048x1024"], help="WxH run untiled and tiled")
    ap.add_argument("--tiled-only", nargs="*", default=[], help="WxH run tiled only (e.g. 6000x4000)")
    ap.add_argument("--tiled-only-blocks", type=int, default=16, help="residual blocks for the tiled-only sizes")
    ap.add_argument("--channels", type=int, default=32)
    ap.add_argument("--blocks", type=int, default=16)
    ap.add_argument("--tile", type=int, default=512)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-f16", action="store_true", help="skip the float16-scratch runs")
    ap.add_argument("--out", help="write all results as JSON here")
    args = ap.parse_args()

    import numpy as np

    results = {"machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
               "threads": args.threads, "load_before": os.getloadavg(), "cases": []}
    print(f"load average before: {results['load_before']}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            w, h = map(int, size.split("x"))
            outs = {}
            for mode in ("untiled", "tiled", *(() if args.no_f16 else ("f16",))):
                path = os.path.join(tmp, f"{mode}.npy")
                r = run_case(mode, w, h, args.channels, args.blocks, args.tile, args.threads, path)
                outs[mode] = np.load(path)
                if mode != "untiled":
                    r["max_abs_diff_vs_untiled"] = float(np.abs(outs[mode] - outs["untiled"]).max())
                results["cases"].append(r)
                print(json.dumps(r), flush=True)
        for size in args.tiled_only:
            w, h = map(int, size.split("x"))
            r = run_case("tiled", w, h, args.channels, args.tiled_only_blocks, args.tile, args.threads, None)
            results["cases"].append(r)
            print(json.dumps(r), flush=True)
    results["load_after"] = os.getloadavg()
    print(f"load average after: {results['load_after']}", flush=True)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
