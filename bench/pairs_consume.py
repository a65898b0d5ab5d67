"""Cost of consuming real pairs, per 1280×720 pair: masked PSNR/SSIM against the plain metrics, the
shard rendering of a pair sample (three lossless PNGs) against a plain JPEG frame member, and the
loader's decode of a pair sample (image + clean + mask crops) against an image-only sample.

The pair is a real fixture photo (Rain100H clean crop, resized to 1280×720) with rendered rain
(``rainset.synth``) and a mask with a 25 % invalid box. Each case runs ``--repeat`` times; the
median and best are printed (seconds per pair) with the load average before and after.

    python bench/pairs_consume.py --repeat 7
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from rainset.loader.decode import decode_image
from rainset.nlcl.pair_eval import masked_scores
from rainset.nlcl.evaluate import psnr, ssim, to_y
from rainset.shards.render import RenderJob, RenderSettings, encode_image, render_sample
from rainset.synth.rain import rain_layer

FIXTURE = (Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "mspfn-rain100h" / "model" / "test"
           / "test_data" / "R100H" / "cleancrop" / "1.png")


def _timed(fn, repeat: int) -> dict[str, float]:  # noqa: ANN001
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return {"median_s": round(statistics.median(times), 4), "best_s": round(min(times), 4)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    cv2.setNumThreads(1)
    load_before = os.getloadavg()
    clean_bgr = cv2.resize(cv2.imread(str(FIXTURE)), (1280, 720), interpolation=cv2.INTER_CUBIC)
    clean = cv2.cvtColor(clean_bgr, cv2.COLOR_BGR2RGB).astype(np.float32) / 255
    layer = rain_layer(clean.shape[:2], "streak", np.random.default_rng(0))
    rainy = np.clip(clean + 0.8 * layer[..., None], 0, 1).astype(np.float32)
    mask = np.full(clean.shape[:2], 255, np.uint8)
    mask[180:540, 320:960] = 0
    out: dict[str, dict[str, float]] = {}

    def plain() -> None:
        psnr(rainy, clean), ssim(rainy, clean), psnr(to_y(rainy), to_y(clean), 255.0), ssim(to_y(rainy), to_y(clean), 255.0)

    out["plain PSNR+SSIM (RGB and Y)"] = _timed(plain, args.repeat)
    out["masked PSNR+SSIM (RGB and Y)"] = _timed(lambda: masked_scores(rainy, clean, mask), args.repeat)
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for name, img in (("rainy", cv2.cvtColor((rainy * 255).round().astype(np.uint8), cv2.COLOR_RGB2BGR)),
                          ("clean", clean_bgr), ("mask", mask)):
            paths.append(str(Path(tmp) / f"{name}.png"))
            cv2.imwrite(paths[-1], img)
        job = RenderJob("k", paths[0], "0" * 64, "frame", "x", None, RenderSettings(), pair=tuple(paths))  # type: ignore[arg-type]
        result = render_sample(job)
        out["shards: render one pair sample (3 PNG)"] = _timed(lambda: render_sample(job), args.repeat)
        rgb8 = (rainy * 255).round().astype(np.uint8)
        out["shards: encode one JPEG frame member (q95)"] = _timed(lambda: encode_image(rgb8, "jpg", 95), args.repeat)
        sizes = {"rainy.png": len(result.image), **{k: len(v) for k, v in result.extra}}
        jpg = encode_image(rgb8, "jpg", 95)[1]
        draws = (0.3, 0.6, 0.2)
        out["loader: decode+crop 256 of an image-only sample (JPEG)"] = _timed(
            lambda: decode_image(jpg, "jpg", crop=256, draws=draws), args.repeat)
        members = [result.image, *(v for _, v in result.extra)]
        out["loader: decode+crop 256 of a pair sample (3 PNG)"] = _timed(
            lambda: [decode_image(m, "png", crop=256, draws=draws) for m in members], args.repeat)
    print(json.dumps({"cases": out, "member_bytes": {**sizes, "frame.jpg": len(jpg)},
                      "load_before": load_before, "load_after": os.getloadavg()}, indent=1))


if __name__ == "__main__":
    main()
