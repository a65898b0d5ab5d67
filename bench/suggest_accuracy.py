"""Accuracy of the rain-type suggestions on a generator configuration they were not fitted on.

Fits the suggestion model on ``--train`` generated frames per rain type (``rainset.suggest.evaluate``
TRAIN configuration), scores it and the label-free rules on ``--test`` frames per type of the
held-out configuration (other scene seeds, shifted rain parameters, other frame size and exposure
times), and prints accuracy and confusion matrices. Also prints the measurements and rule
suggestions of the real rainy photos of ../shared/fixtures when they are there.

    python bench/suggest_accuracy.py --train 60 --test 40 --out bench/results/suggest_accuracy.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

REAL = ("nlcl-realrain/datasets/RealRain/trainA", "nlcl-realrain/datasets/RealRain/valA", "did-mdn/sample_results",
        "did-mdn/facades/github", "deraindrop/demo/input")


def real_photos(fixtures: Path) -> list[dict]:
    """Measurements and rule suggestions of the real rainy fixture photos (previews as ingest makes them)."""
    import cv2

    from rainset.rainstats import measure
    from rainset.suggest.rules import classify

    taxonomy = ("drizzle", "heavy", "streak", "fog-mixed", "no-rain", "not-usable", "unsure")
    out = []
    for folder in REAL:
        for path in sorted((fixtures / folder).glob("*")):
            bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if bgr is None:
                continue
            h, w = bgr.shape[:2]
            scale = min(1.0, 1024 / max(h, w))
            small = cv2.resize(bgr, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
            jpg = cv2.imdecode(cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 85])[1], cv2.IMREAD_COLOR)
            values = measure(cv2.cvtColor(jpg, cv2.COLOR_BGR2RGB)).to_dict()
            d = classify(values, taxonomy)
            out.append({"file": f"{folder}/{path.name}", "measurements": values,
                        "suggestion": d.rain_type if d else None, "confidence": d.confidence if d else None})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--train", type=int, default=60, help="training frames per rain type")
    ap.add_argument("--test", type=int, default=40, help="held-out frames per rain type")
    ap.add_argument("--fixtures", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared" / "fixtures")
    ap.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    args = ap.parse_args()
    from rainset.suggest.evaluate import evaluate

    t0 = time.perf_counter()
    report = evaluate(args.train, args.test)
    seconds = time.perf_counter() - t0
    for line in report.lines():
        print(line)
    print(f"fitted model cross-validated accuracy on the training configuration: {report.cv_accuracy}")
    real = real_photos(args.fixtures) if (args.fixtures / "SOURCES.md").is_file() else []
    for r in real:
        m = r["measurements"]
        print(f"{r['file']:<52} density {m['streak_density']:.3f} angle {m['streak_angle']} length "
              f"{m['streak_length']:.1f} veil {m['veil']:.3f} droplets {m['droplets']:.4f} -> {r['suggestion']} "
              f"({r['confidence']:.2f})")
    machine = {"python": platform.python_version(), "cpus": os.cpu_count(), "load": os.getloadavg(),
               "note": "2 cores, 24 GB, no GPU, shared with other jobs"}
    print(f"{seconds:.1f} s; load average {machine['load']}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"accuracy": report.to_dict(), "real_photos": real, "seconds": round(seconds, 1),
                                        "machine": machine}, indent=1, default=str) + "\n")


if __name__ == "__main__":
    main()
