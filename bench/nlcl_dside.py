"""Cost of the released discriminator side (issue 14 rows 1, 2, 5, 7): one training step with the
``paper`` D side against the same step with rainset's earlier D side (stride-2 D, block features,
shared heads, G first), batch 1 at 256² (full model) and the ``cpu-smoke`` preset.

Each case runs in its own spawned process (its own peak RSS); CPU seconds per step (all threads of
the process) are reported next to wall time because the bench machine is shared.

    python bench/nlcl_dside.py --steps 3 --threads 2
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import statistics
import time

OLD_D_SIDE = dict(disc_antialias=False, layer_features="blocks", layer_levels=(0, 1, 2), separate_heads=False,
                  init="normal", d_first=False)


def _case(q, preset: str, side: str, steps: int, threads: int) -> None:
    import torch

    from rainset.nlcl.config import make_config
    from rainset.nlcl.train import build_models, step_generator, train_step

    torch.set_num_threads(threads)
    over = dict(OLD_D_SIDE) if side == "old" else {}
    if preset == "paper":
        over.update(batch_size=1, device="cpu")
    cfg = make_config(preset, over)
    m = build_models(cfg)
    g = torch.Generator().manual_seed(0)
    shape = (cfg.batch_size, 3, cfg.crop, cfg.crop)
    o, c = torch.rand(shape, generator=g) * 2 - 1, torch.rand(shape, generator=g) * 2 - 1
    wall, cpu = [], []
    for step in range(steps + 1):  # step 0 warms up
        t0, c0 = time.perf_counter(), time.process_time()
        train_step(m, o, c, step_generator(0, 0, step))
        if step:
            wall.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
    q.put(dict(preset=preset, side=side, wall=statistics.median(wall), cpu=statistics.median(cpu),
               peak_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--presets", default="cpu-smoke,paper")
    args = ap.parse_args()
    ctx = mp.get_context("spawn")
    print(f"load average at start: {os.getloadavg()}")
    print("| preset | D side | wall s / step | CPU s / step | peak RSS MiB |\n|---|---|---|---|---|")
    for preset in args.presets.split(","):
        for side in ("old", "paper"):
            q = ctx.Queue()
            p = ctx.Process(target=_case, args=(q, preset, side, args.steps, args.threads))
            p.start()
            r = q.get()
            p.join()
            print(f"| {r['preset']} | {r['side']} | {r['wall']:.3f} | {r['cpu']:.3f} | {r['peak_mib']:.0f} |", flush=True)
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
