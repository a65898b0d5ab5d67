#!/usr/bin/env python
"""Suggestions benchmark: what rain measurements cost at ingest scale, and what suggestions save annotators.

(1) Measurement speed on 12-megapixel captures. ``--large`` JPEGs of 4000×3000
    (``rainset.synth.generate_large_jpegs``) are ingested into a temporary store with one worker
    (after a 1-file warm-up, timed twice: 2 files, then all, so that the steady per-capture time
    (T_n - T_2) / (n - 2) leaves the start-up out), then ``rainset.rainstats.measure_store`` measures the previews
    (one worker). Also timed in this process per capture: reading + decoding the preview and
    ``measure()`` on it, and, for comparison, the same on the full-resolution original. All of it
    is MEASURED. The ratio measure / ingest per capture says whether measuring could dominate ingest.
(2) Labels per minute of a scripted annotator, with and without suggestions, against the real
    web app (``rainset annotate serve`` in its own process, driven over HTTP with httpx, bearer
    tokens). A store of ``--captures`` generated captures of known rain type, K = 2: annotator
    ``plain`` labels every capture without suggestions, then suggestions are written at accuracy
    p, then annotator ``assisted`` labels every capture seeing them (Enter on a correct one, the
    right key on a wrong one). The annotator is an oracle (always the true rain type).
    MEASURED: the HTTP round trips per capture (POST /api/queue/next, GET preview, POST
    /api/labels), and the acceptance the app records (GET /api/agreement). MODELLED: the human's
    decision time, which no script can measure: look at the capture (``--look`` s, the same with
    or without a suggestion), then a choice among the 7 keys costs ``--bit`` s per bit of the
    Hick-Hyman law, log2(7 + 1) = 3 bits; checking one suggested answer is a yes/no decision,
    log2(1 + 1) = 1 bit; then one key press (``--press`` s, Enter or a digit alike). So
        no suggestion:      look + 3·bit + press
        correct suggestion: look + 1·bit + press
        wrong suggestion:   look + 1·bit + 3·bit + press   (the check, then the choice)
    and suggestions pay off above p* = 1 bit / 3 bits = 1/3, whatever ``--bit`` is.
    The accuracy p is ``--accuracy`` when given, else the held-out accuracy of the fitted model
    from the suggest helper's evaluation: bench/results/suggest_accuracy.json when
    ``bench/suggest_accuracy.py`` has written it, else ``rainset.suggest.evaluate.evaluate`` run
    here at a small size (generated captures of a configuration the model was not fitted on).
    The suggestions themselves are written into the ``suggestions`` table by this script at
    exactly that accuracy (a model of the classifier, seeded), so the run does not depend on this
    store's images.
(3) Queue claim + label latency in each queue order (default, confidence, disagreement) on a
    SQLite catalog of ``--queue-captures`` captures with a suggestion each: the suggestion orders
    sort the claimable captures on each claim where the default order walks the primary key.

Results: printed, and written as JSON to ``--out`` (default bench/results/suggest.json, ignored by
git). Numbers and how to read them: docs/benchmarks.md, section "Suggestions".
Usage: ``python bench/suggest.py [--large 6] [--captures 40] [--accuracy P] [--queue-captures 5000] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402

from bench.annotate_load import start_server  # noqa: E402
from tests.annotate_fixtures import free_port  # noqa: E402

KEYS = 7  # rain types in the default taxonomy, one key each


def _say(args: argparse.Namespace, msg: str) -> None:
    print(msg, file=sys.stderr if args.json else sys.stdout, flush=True)


def _ms(seconds: list[float]) -> float:
    return round(statistics.median(seconds) * 1000, 2)


# --------------------------------------------------------------------------------------------
# (1) measurement speed
# --------------------------------------------------------------------------------------------


def _time_ingest(folder: Path, dest: Path):  # noqa: ANN202 - (store, seconds)
    from rainset.ingest import IngestOptions, ingest
    from rainset.store import init_store

    store = init_store(dest)
    t0 = time.perf_counter()
    ingest(store, [str(folder)], IngestOptions(workers=1))
    return store, time.perf_counter() - t0


def _read_rgb(path: Path):  # noqa: ANN202 - an RGB array
    import cv2

    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _time_measure(paths: list[Path]) -> dict:
    """Median seconds per image of decoding and of ``measure()`` on it, in this process."""
    from rainset.rainstats import measure

    decode, meas = [], []
    for p in paths:
        t0 = time.perf_counter()
        rgb = _read_rgb(p)
        t1 = time.perf_counter()
        measure(rgb)
        t2 = time.perf_counter()
        decode.append(t1 - t0)
        meas.append(t2 - t1)
    return {"images": len(paths), "size": list(_read_rgb(paths[0]).shape[1::-1]), "decode_ms": _ms(decode),
            "measure_ms": _ms(meas), "total_ms": round(_ms(decode) + _ms(meas), 2)}


def measurement_speed(root: Path, n: int, args: argparse.Namespace) -> dict:
    import shutil

    import cv2

    from sqlalchemy import select

    from rainset.catalog.db import open_catalog
    from rainset.catalog.models import Capture
    from rainset.rainstats import measure_store
    from rainset.synth import generate_large_jpegs

    cv2.setNumThreads(1)
    _say(args, f"(1) {n} JPEGs of 4000x3000: generate, ingest (1 worker), measure the previews")
    paths = generate_large_jpegs(root / "large", n)
    two = root / "large-2"
    two.mkdir()
    for p in paths[:2]:
        shutil.copyfile(p, two / p.name)
    one = root / "large-1"
    one.mkdir()
    shutil.copyfile(paths[-1], one / paths[-1].name)
    _time_ingest(one, root / "store-warm-up")  # imports and first-use costs, not timed
    _, t2 = _time_ingest(two, root / "store-2")
    store, tn = _time_ingest(root / "large", root / "store-large")
    steady = (tn - t2) / (n - 2)
    result = measure_store(store, workers=1)
    catalog = open_catalog(store.db_url)
    with catalog.session() as s:
        shas = list(s.scalars(select(Capture.representative_sha256)))
    catalog.close()
    previews = [store.preview_path(sha) for sha in shas]
    in_process = _time_measure(previews)
    full = _time_measure(paths[: min(3, n)])
    per_capture_store = result.seconds / max(1, result.measured)
    out = {
        "captures": n, "ingest_seconds_all": round(tn, 2), "ingest_seconds_2": round(t2, 2),
        "ingest_steady_s_per_capture": round(steady, 3),
        "measure_store": result.to_dict(), "measure_store_s_per_capture": round(per_capture_store, 3),
        "preview": in_process, "full_resolution": full,
        "measure_over_ingest": round(per_capture_store / steady, 3) if steady > 0 else None,
        "preview_measurements_per_second": round(1000 / in_process["total_ms"], 2),
        "full_resolution_measurements_per_second": round(1000 / full["total_ms"], 2),
    }
    _say(args, f"    ingest {steady:.2f} s/capture (steady), measure_store {per_capture_store:.3f} s/capture "
               f"({result.per_second:.1f}/s), ratio {out['measure_over_ingest']}; in-process on the "
               f"{in_process['size'][0]}x{in_process['size'][1]} preview {in_process['total_ms']} ms, "
               f"on the 12 MP original {full['total_ms']} ms")
    return out


# --------------------------------------------------------------------------------------------
# (2) labels per minute, with and without suggestions
# --------------------------------------------------------------------------------------------


def decision_model(look: float, bit: float, press: float) -> dict:
    """Modelled seconds per decision (see the module docstring)."""
    choose, check = bit * math.log2(KEYS + 1), bit * math.log2(1 + 1)  # 3 bits, 1 bit
    none, ok, wrong = look + choose + press, look + check + press, look + check + choose + press
    return {"look_s": look, "bit_s": bit, "press_s": press, "choose_bits": 3, "check_bits": 1,
            "no_suggestion_s": round(none, 3), "correct_suggestion_s": round(ok, 3),
            "wrong_suggestion_s": round(wrong, 3), "break_even_accuracy": round((wrong - none) / (wrong - ok), 4)}


def suggestion_accuracy(args: argparse.Namespace) -> tuple[float, str]:
    """``--accuracy``, else the suggest helper's recorded evaluation, else a fresh small evaluation."""
    if args.accuracy is not None:
        if not 0 <= args.accuracy <= 1:
            raise SystemExit("--accuracy must be between 0 and 1")
        return args.accuracy, "--accuracy flag"
    recorded = REPO / "bench" / "results" / "suggest_accuracy.json"
    if recorded.is_file():
        acc = json.loads(recorded.read_text())["accuracy"]
        return acc["fitted"]["accuracy"], (f"bench/results/suggest_accuracy.json (bench/suggest_accuracy.py): fitted "
                                           f"model on held-out generated captures, n_test={acc['n_test']}, "
                                           f"rules {acc['rules']['accuracy']}")
    try:
        from rainset.suggest.evaluate import evaluate
    except ImportError as exc:  # the suggest helper's evaluation is not there: say so, ask for the flag
        raise SystemExit(f"no suggestion evaluation available ({exc}); pass --accuracy P") from exc
    _say(args, f"    accuracy: the suggest evaluation, {args.eval_train}/{args.eval_test} generated captures "
               "per class (fit/held-out configuration)")
    report = evaluate(train_per_class=args.eval_train, test_per_class=args.eval_test)
    return report.fitted.accuracy, (f"rainset.suggest.evaluate: fitted model, held-out generated captures "
                                    f"(n_test={report.n_test}, rules {report.rules.accuracy})")


def _labelled_store(root: Path, n: int):  # noqa: ANN202 - (store, capture id -> true rain type)
    from sqlalchemy import select

    from rainset.catalog.db import open_catalog
    from rainset.catalog.models import File
    from rainset.ingest import IngestOptions, ingest
    from rainset.store import init_store
    from rainset.synth import generate_dataset

    truth = generate_dataset(root / "caps", n, corrupt=False, raw_pairs=0, bursts=0, near_duplicates=0,
                             exact_copies=0, size=(640, 480))
    store = init_store(root / "store-labels")
    ingest(store, [str(root / "caps")], IngestOptions(workers=1))
    catalog = open_catalog(store.db_url)
    with catalog.session() as s:
        rows = s.execute(select(File.uri, File.capture_id)).all()
    catalog.close()
    kinds = {cid: f.rain_type for uri, cid in rows for f in truth.files
             if f.rain_type and uri.endswith("/" + Path(f.path).as_posix())}
    if len(kinds) != n:
        raise RuntimeError(f"found the true rain type of {len(kinds)} of {n} captures")
    return store, kinds


def write_suggestions(store, kinds: dict[str, str], accuracy: float, seed: int) -> int:
    """Suggest the true type for round(p·n) captures (chosen at random), another type for the rest."""
    from rainset.catalog.db import open_catalog
    from rainset.catalog.rainstats_tables import Suggestion

    rng = random.Random(seed)
    ids = sorted(kinds)
    right = set(rng.sample(ids, round(accuracy * len(ids))))
    classes = sorted(set(kinds.values()) | {"drizzle", "heavy", "streak", "fog-mixed", "no-rain"})
    catalog = open_catalog(store.db_url)
    with catalog.session() as s:
        for cid in ids:
            if cid in right:
                rain, conf = kinds[cid], rng.uniform(0.55, 0.95)
            else:
                rain, conf = rng.choice([c for c in classes if c != kinds[cid]]), rng.uniform(0.35, 0.75)
            s.add(Suggestion(capture_id=cid, rain_type=rain, confidence=round(conf, 3), model="bench-at-accuracy",
                             features="preview", info={"modelled_accuracy": accuracy}))
    catalog.close()
    return len(right)


def annotate_all(client: httpx.Client, token: str, kinds: dict[str, str], model: dict, use: bool) -> dict:
    """One scripted annotator labels its whole queue; measured round trips, modelled decisions."""
    h = {"Authorization": f"Bearer {token}"}
    trips, decided, accepted, shown = [], [], 0, 0
    while True:
        t0 = time.perf_counter()
        item = client.post("/api/queue/next", headers=h).raise_for_status().json()["item"]
        if item is None:
            break
        client.get(f"/api/captures/{item['capture_id']}/preview.jpg", headers=h).raise_for_status()
        truth = kinds[item["capture_id"]]
        suggestion = item["suggestion"]["rain_type"] if use and item["suggestion"] else None
        if suggestion is None:
            seconds = model["no_suggestion_s"]
        elif suggestion == truth:
            seconds, accepted = model["correct_suggestion_s"], accepted + 1
        else:
            seconds = model["wrong_suggestion_s"]
        shown += suggestion is not None
        t1 = time.perf_counter()
        body = {"capture_id": item["capture_id"], "rain_type": truth, "duration_ms": round(seconds * 1000),
                "suggestion": suggestion}
        rec = client.post("/api/labels", headers=h, json=body).raise_for_status().json()
        if rec["suggestion"] != suggestion:
            raise RuntimeError(f"the app recorded suggestion {rec['suggestion']!r}, the screen showed {suggestion!r}")
        trips.append(time.perf_counter() - t1 + (t1 - t0))
        decided.append(seconds)
    measured_s = statistics.mean(trips)
    modelled_s = statistics.mean(decided)
    return {"labels": len(trips), "suggestions_shown": shown, "accepted": accepted,
            "measured_round_trip_ms": round(measured_s * 1000, 2),
            "measured_round_trip_p95_ms": round(sorted(trips)[int(0.95 * (len(trips) - 1))] * 1000, 2),
            "modelled_decision_s": round(modelled_s, 3),
            "labels_per_minute": round(60 / (measured_s + modelled_s), 2),
            "server_only_labels_per_minute": round(60 / measured_s, 1)}


def label_speed(root: Path, args: argparse.Namespace) -> dict:
    from rainset.catalog.db import open_catalog
    from rainset.labels.users import add_user

    accuracy, source = suggestion_accuracy(args)
    model = decision_model(args.look, args.bit, args.press)
    _say(args, f"(2) scripted annotator over HTTP, {args.captures} captures, suggestion accuracy {accuracy:.3f} "
               f"({source})")
    store, kinds = _labelled_store(root, args.captures)
    catalog = open_catalog(store.db_url)
    with catalog.session() as s:
        tokens = {name: add_user(s, name, role).token
                  for name, role in (("plain", "annotator"), ("assisted", "annotator"), ("rev", "reviewer"))}
    catalog.close()
    port = free_port()
    server = start_server(store, port)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            plain = annotate_all(client, tokens["plain"], kinds, model, use=False)
            right = write_suggestions(store, kinds, accuracy, args.seed)
            assisted = annotate_all(client, tokens["assisted"], kinds, model, use=True)
            report = client.get("/api/agreement", headers={"Authorization": f"Bearer {tokens['rev']}"}).json()
    finally:
        server.terminate()
        server.wait(20)
    stats = {a["name"]: a for a in report["per_annotator"]}
    expected = {"without": round(60 / model["no_suggestion_s"], 2),
                "with": round(60 / (accuracy * model["correct_suggestion_s"]
                                    + (1 - accuracy) * model["wrong_suggestion_s"]), 2)}
    out = {"captures": len(kinds), "accuracy": accuracy, "accuracy_source": source, "correct_suggestions": right,
           "decision_model": model, "without_suggestions": plain, "with_suggestions": assisted,
           "app_acceptance": {n: {k: stats[n][k] for k in ("suggestions_shown", "suggestions_accepted",
                                                          "suggestion_acceptance", "median_seconds")}
                              for n in ("plain", "assisted")},
           "modelled_only_labels_per_minute": expected,
           "speed_up": round(assisted["labels_per_minute"] / plain["labels_per_minute"], 3)}
    _say(args, f"    without {plain['labels_per_minute']} labels/min, with {assisted['labels_per_minute']} labels/min "
               f"(x{out['speed_up']}); the app recorded acceptance "
               f"{stats['assisted']['suggestion_acceptance']} of {stats['assisted']['suggestions_shown']} shown")
    return out


# --------------------------------------------------------------------------------------------
# (3) queue orders at scale
# --------------------------------------------------------------------------------------------


def queue_orders(root: Path, n: int, steps: int, args: argparse.Namespace) -> dict:
    from sqlalchemy import insert

    from rainset.catalog.db import open_catalog
    from rainset.catalog.rainstats_tables import Suggestion
    from rainset.labels.queue import QUEUE_ORDERS, next_capture
    from rainset.labels.record import record_label
    from rainset.labels.users import add_user, get_user
    from tests.labels_helpers import add_captures

    _say(args, f"(3) claim + label latency per queue order, SQLite, {n} captures with suggestions")
    catalog = open_catalog(f"sqlite:///{root / 'queue.db'}")
    rng = random.Random(args.seed)
    with catalog.session() as s:
        ids = add_captures(s, n)
        s.execute(insert(Suggestion), [{"capture_id": c, "rain_type": rng.choice(("heavy", "drizzle")),
                                        "confidence": rng.random(), "model": "bench", "features": "preview",
                                        "info": {}} for c in ids])
        users = {o: add_user(s, f"u-{o}", "annotator") for o in QUEUE_ORDERS}
        first = add_user(s, "first", "annotator")
    with catalog.session() as s:  # a first annotator labels a tenth, so that disagreement has labels to read
        u = get_user(s, first.id)
        for _ in range(n // 10):
            item = next_capture(s, u, k=2)
            record_label(s, u, item.capture_id, "heavy", taxonomy=["heavy"], taxonomy_version=1)
    out = {}
    for order, user in users.items():
        times = []
        for _ in range(steps):
            t0 = time.perf_counter()
            with catalog.session() as s:
                u = get_user(s, user.id)
                item = next_capture(s, u, k=2, order=order)
                record_label(s, u, item.capture_id, "heavy", taxonomy=["heavy"], taxonomy_version=1)
            times.append(time.perf_counter() - t0)
        out[order] = {"median_ms": _ms(times), "p95_ms": round(sorted(times)[int(0.95 * (steps - 1))] * 1000, 2)}
        _say(args, f"    {order}: median {out[order]['median_ms']} ms, p95 {out[order]['p95_ms']} ms")
    catalog.close()
    return {"captures": n, "steps": steps, "orders": out}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--large", type=int, default=6, help="12-megapixel JPEGs to ingest and measure (>= 3)")
    ap.add_argument("--captures", type=int, default=40, help="captures the scripted annotators label")
    ap.add_argument("--accuracy", type=float, default=None,
                    help="suggestion accuracy (default: the suggest evaluation)")
    ap.add_argument("--eval-train", type=int, default=20, help="evaluation: generated captures per class to fit on")
    ap.add_argument("--eval-test", type=int, default=12, help="evaluation: held-out generated captures per class")
    ap.add_argument("--look", type=float, default=1.0, help="modelled seconds to look at a capture")
    ap.add_argument("--bit", type=float, default=0.35, help="modelled seconds per bit of decision (Hick-Hyman)")
    ap.add_argument("--press", type=float, default=0.25, help="modelled seconds per key press")
    ap.add_argument("--queue-captures", type=int, default=5000, help="captures for the queue-order latency (0: skip)")
    ap.add_argument("--queue-steps", type=int, default=30, help="claims timed per order")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip", default="", help="comma-separated parts to skip: measure,labels,queue")
    ap.add_argument("--out", default=str(REPO / "bench" / "results" / "suggest.json"))
    ap.add_argument("--json", action="store_true", help="print the results as JSON on stdout")
    args = ap.parse_args()
    if args.large < 3:
        raise SystemExit("--large must be at least 3")
    skip = set(filter(None, args.skip.split(",")))
    load_before = os.getloadavg()[0]
    results: dict = {"date": date.today().isoformat(),
                     "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                                 "python": platform.python_version(), "load_before": round(load_before, 2)}}
    with tempfile.TemporaryDirectory(prefix="rainset-bench-suggest-") as tmp:
        root = Path(tmp)
        if "measure" not in skip:
            results["measurements"] = measurement_speed(root, args.large, args)
        if "labels" not in skip:
            results["labels"] = label_speed(root, args)
        if "queue" not in skip and args.queue_captures > 0:
            results["queue_orders"] = queue_orders(root, args.queue_captures, args.queue_steps, args)
    results["machine"]["load_after"] = round(os.getloadavg()[0], 2)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1) + "\n")
    if args.json:
        print(json.dumps(results, indent=1))
    else:
        print(f"results written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
