"""NLCL training and inference speed: images/s and peak memory at 256² crops, batch 1 and batch 8,
for the full step and for the convolution floor (the same step without non-local sampling and the
contrastive losses), plus inference megapixels/s on a 1024×512 image (the RealRain size).

Each configuration runs in its own process so its peak memory (ru_maxrss on CPU,
max_memory_allocated on CUDA) is its own. Full-size model (32 channels, 16 blocks) always.

    python bench/nlcl_speed.py --steps 3 --out bench/results/nlcl_speed.json
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import platform
import resource
import statistics
import time


# floor: no sampling, no contrastive losses; full: the paper step (PatchNCE on G_B layers 0, 2, 4, 8, 12 at
# non-local locations); noidt: full without the PatchNCE identity term (one generator pass on the clean
# crops less); uniform: full with uniformly random PatchNCE locations (the non-local search's cost);
# shallow: full with PatchNCE on layers 0, 2, 4 at uniform locations (the step before issue 14's rows 3
# and 6: what the deeper, non-local PatchNCE costs).
CASES = {
    "floor": dict(contrastive=False),
    "full": {},
    "noidt": dict(nce_identity=False),
    "uniform": dict(nce_sampling="uniform"),
    "shallow": dict(nce_sampling="uniform", nce_layers=(0, 2, 4)),
}


def _train_case(q, batch: int, crop: int, case: str, steps: int, device: str, threads: int) -> None:
    import torch

    from rainset.nlcl.config import make_config
    from rainset.nlcl.train import build_models, step_generator, train_step

    torch.set_num_threads(threads)
    cfg = make_config("paper", dict(batch_size=batch, crop=crop, device=device, **CASES[case]))
    dev = torch.device("cuda" if device == "cuda" else "cpu")
    m = build_models(cfg, dev)
    g = torch.Generator().manual_seed(0)
    o = (torch.rand(batch, 3, crop, crop, generator=g) * 2 - 1).to(dev)
    c = (torch.rand(batch, 3, crop, crop, generator=g) * 2 - 1).to(dev)
    times, cpu = [], []
    for step in range(steps + 1):  # the first step warms up (allocator, kernels) and is not counted
        t0, c0 = time.perf_counter(), time.process_time()
        train_step(m, o, c, step_generator(0, 0, step))
        if dev.type == "cuda":
            torch.cuda.synchronize()
        if step:
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
    peak = (torch.cuda.max_memory_allocated() if dev.type == "cuda"
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    q.put({"batch": batch, "crop": crop, "case": case, "step_seconds": times,
           "median_step_s": statistics.median(times), "images_per_s": batch / statistics.median(times),
           # CPU seconds of this process (all threads): the work done, less sensitive to other load
           "cpu_step_s": cpu, "median_cpu_step_s": statistics.median(cpu),
           "peak_bytes": peak})


def _infer_case(q, width: int, height: int, repeats: int, device: str, threads: int) -> None:
    import numpy as np
    import torch

    from rainset.nlcl.derain import derain_array
    from rainset.nlcl.model import Generator, init_weights

    torch.set_num_threads(threads)
    dev = torch.device("cuda" if device == "cuda" else "cpu")
    gen = Generator()
    init_weights(gen)
    gen = gen.to(dev).eval()
    img = np.random.default_rng(0).random((height, width, 3), dtype=np.float32)
    derain_array(gen, img[:128, :128], device=dev)  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        derain_array(gen, img, tile=1024, device=dev)
        times.append(time.perf_counter() - t0)
    peak = (torch.cuda.max_memory_allocated() if dev.type == "cuda"
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    med = statistics.median(times)
    q.put({"width": width, "height": height, "seconds": times, "median_s": med,
           "megapixels_per_s": width * height / 1e6 / med, "peak_bytes": peak})


def run_case(target, *args):
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=target, args=(q, *args))
    p.start()
    result = q.get()
    p.join()
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--steps", type=int, default=3, help="measured steps per case (after one warm-up)")
    ap.add_argument("--steps-b8", type=int, default=2, help="measured steps for batch 8")
    ap.add_argument("--crop", type=int, default=256)
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="auto", help="auto, cpu or cuda")
    ap.add_argument("--cases", default="floor,full,noidt", help="any of " + ", ".join(CASES) + " (all but floor and full: batch 1 only)")
    ap.add_argument("--no-infer", action="store_true", help="skip the inference measurement")
    ap.add_argument("--out", default="bench/results/nlcl_speed.json")
    args = ap.parse_args()
    import torch

    device = "cuda" if args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available()) else "cpu"
    results = {"device": torch.cuda.get_device_name() if device == "cuda" else platform.processor() or "cpu",
               "threads": args.threads, "train": [], "infer": None}
    cases = args.cases.split(",")
    for batch in (int(b) for b in args.batches.split(",")):
        for case in cases:
            if case not in ("floor", "full") and batch != 1:
                continue
            steps = args.steps_b8 if batch >= 8 else args.steps
            r = run_case(_train_case, batch, args.crop, case, steps, device, args.threads)
            results["train"].append(r)
            print(f"batch {batch} {case:>7}: {r['median_step_s']:.2f} s/step (cpu {r['median_cpu_step_s']:.2f} s), "
                  f"{r['images_per_s']:.3f} images/s, "
                  f"peak {r['peak_bytes'] / 2**30:.2f} GiB (steps {[round(t, 2) for t in r['step_seconds']]})", flush=True)
    by = {(r["batch"], r["case"]): (r["median_step_s"], r["median_cpu_step_s"]) for r in results["train"]}
    for (batch, case), (sec, cpu) in sorted(by.items()):
        if case != "floor" and (batch, "floor") in by:
            f_sec, f_cpu = by[(batch, "floor")]
            print(f"batch {batch}: {case} / floor = {sec / f_sec:.2f}x wall, {cpu / f_cpu:.2f}x cpu")
    if not args.no_infer:
        results["infer"] = run_case(_infer_case, 1024, 512, 2, device, args.threads)
        i = results["infer"]
        print(f"inference 1024x512: {i['median_s']:.2f} s, {i['megapixels_per_s']:.3f} MP/s, "
              f"peak {i['peak_bytes'] / 2**30:.2f} GiB", flush=True)
    with open(args.out, "w") as fh:
        json.dump(results, fh, indent=1)


if __name__ == "__main__":
    main()
