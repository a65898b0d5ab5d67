"""Speed of ``rainset.rainstats.measure`` on 1024-px previews: CPU time per preview and per part.

    .venv/bin/python bench/rainstats_speed.py [--n 24] [--json]

Previews are generated street scenes with each rain type, JPEG-encoded at quality 85 and decoded
(as ingest writes them). One process, one OpenCV thread: CPU time (``process_time``) is what a
core spends, wall time also shows the machine's load. Numbers recorded in docs/rainstats.md.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import cv2
import numpy as np


def previews(n: int) -> list[np.ndarray]:
    from rainset.synth import RAIN_TYPES, add_rain, render_scene

    out = []
    for i in range(n):
        rgb = add_rain(render_scene(np.random.default_rng([7, i]), 1024, 768), RAIN_TYPES[i % len(RAIN_TYPES)],
                       np.random.default_rng([7, i, 1]), exposure_time=1 / 60)
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])
        out.append(cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB))
    return out


def cpu_ms(fn, items) -> float:  # noqa: ANN001
    t = time.process_time()
    for item in items:
        fn(item)
    return 1000.0 * (time.process_time() - t) / len(items)


def main() -> None:
    from rainset.rainstats import measure
    from rainset.rainstats.droplets import droplet_score
    from rainset.rainstats.measure import SMALL_SIDE, contrast_scale, luma, resize_long, to_float_rgb
    from rainset.rainstats.night import night_score
    from rainset.rainstats.streaks import ANALYSIS_SIDE, streak_stats, thin_bright
    from rainset.rainstats.veil import veil_score

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=24)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    imgs = previews(args.n)
    for img in imgs[:3]:
        measure(img)  # first-use costs
    prepared = []
    for img in imgs:
        f = to_float_rgb(resize_long(img, ANALYSIS_SIDE))
        small = resize_long(f, SMALL_SIDE)
        prepared.append((f, small, luma(small), contrast_scale(luma(small))))
    wall = time.perf_counter()
    total = cpu_ms(measure, imgs)
    wall_ms = 1000.0 * (time.perf_counter() - wall) / len(imgs)
    parts = {
        "prepare": cpu_ms(lambda im: to_float_rgb(resize_long(im, ANALYSIS_SIDE)), imgs),
        "streaks": cpu_ms(lambda p: streak_stats(thin_bright(luma(p[0]), p[3])), prepared),
        "veil": cpu_ms(lambda p: veil_score(p[1], p[2]), prepared),
        "droplets": cpu_ms(lambda p: droplet_score(p[2]), prepared),
        "night": cpu_ms(lambda p: night_score(p[2]), prepared),
    }
    result = {"previews": len(imgs), "size": "1024x768", "cpu_ms_per_preview": round(total, 2),
              "previews_per_second_per_core": round(1000.0 / total, 1), "wall_ms_per_preview": round(wall_ms, 2),
              "cpu_ms_by_part": {k: round(v, 2) for k, v in parts.items()},
              "load_average": [round(x, 2) for x in os.getloadavg()], "cpus": os.cpu_count()}
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        print(f"measure(): {total:.1f} ms CPU per 1024x768 preview = {1000 / total:.1f} previews/s per core "
              f"(wall {wall_ms:.1f} ms; load average {result['load_average']}, {os.cpu_count()} CPUs)")
        print("  by part (ms CPU): " + ", ".join(f"{k} {v:.1f}" for k, v in parts.items()))


if __name__ == "__main__":
    main()
