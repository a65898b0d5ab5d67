#!/usr/bin/env python
"""Ingest benchmark at card scale: whole `rainset ingest` vs imagededup's PHash vs the decode limit.

One run, on the same generated folder of 12-megapixel JPEGs with EXIF (page cache warm), times
three things, interleaved round by round so that all three see the same (shared, loaded) machine:

(a) baseline: imagededup ``PHash().encode_images`` per-file work — Pillow open + full decode,
    LANCZOS resize of the RGB image to 32x32, grey, 2-D DCT, median of the 8x8 block.
    When ``imagededup`` is importable it is called itself (its pool start-up is then inside the
    timing); otherwise (it needs torch + torchvision) a line-for-line copy of what its code does
    (imagededup 0.3.3.post2, ``methods/hashing.py`` + ``utils/image_utils.py``) runs on
    ``--workers`` spawned processes, warmed up, timing only the map over the files.
(b) decode limit: the 1/4-scale JPEG decode alone (read the file, OpenCV
    ``IMREAD_REDUCED_COLOR_4``), on ``--workers`` spawned warmed processes: no ingest that decodes
    every file once at that scale can beat it on this machine.
(c) the whole ``rainset ingest --workers N`` into a fresh store: the console script as a
    subprocess (Python start-up and imports included), and ``ingest()`` called in this process (worker start-up
    included), each into its own fresh store.
Then the per-stage split: every stage of the per-file path timed alone in this process (one
OpenCV thread, as in a worker) on ``--profile-files`` files, and from the in-process ingest of
each round: worker start-up (a 2-file ingest), the driver's catalog writes, and the CPU seconds
of the driver and of its workers.

Usage: ``python bench/ingest.py [--n 200] [--workers 2] [--out DIR [--keep]] [--json]``.
Results and how to read them: docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

TARGET = 3.0  # whole ingest: at least 3x imagededup's PHash images/s, at >= 200 files

# --------------------------------------------------------------------------------------------
# (a) the baseline: what imagededup 0.3.3.post2 PHash.encode_image(image_file=...) does per file
# --------------------------------------------------------------------------------------------

_IMAGEDEDUP_FORMATS = ["JPEG", "PNG", "BMP", "MPO", "PPM", "TIFF", "GIF", "WEBP"]


def imagededup_phash_file(path: str) -> str | None:
    """imagededup's PHash of one file, as its code computes it (load_image + _hash_algo).

    ``utils/image_utils.load_image``: ``Image.open``; format check; RGBA->RGB when not RGB;
    ``preprocess_image``: ``resize((32, 32), Image.LANCZOS)`` on the RGB image (this forces the
    full-resolution decode: Pillow's ``resize`` does not use JPEG draft mode), then ``convert('L')``;
    ``PHash._hash_algo``: ``scipy.fftpack.dct`` on both axes, top-left 8x8, ``>=`` the median of
    its 63 AC terms; ``_array_to_hash``: packbits to 16 hex digits.
    """
    import numpy as np
    from PIL import Image
    from scipy.fftpack import dct

    img = Image.open(path)
    if img.format not in _IMAGEDEDUP_FORMATS:
        return None
    if img.mode != "RGB":
        img = img.convert("RGBA").convert("RGB")
    img = img.resize((32, 32), Image.LANCZOS)
    img = img.convert("L")
    arr = np.array(img).astype("uint8")
    coef = dct(dct(arr, axis=0), axis=1)[:8, :8]
    median = np.median(np.ndarray.flatten(coef)[1:])
    return "".join("%0.2x" % x for x in np.packbits(coef >= median))


def _real_imagededup() -> Any | None:
    """imagededup's PHash class when the package is importable (it needs torch + torchvision)."""
    try:
        from imagededup.methods import PHash
    except Exception:  # noqa: BLE001 - ImportError, or torchvision failing at import
        return None
    return PHash


# --------------------------------------------------------------------------------------------
# (b) the decode limit: 1/4-scale JPEG decode alone
# --------------------------------------------------------------------------------------------


def quarter_decode_file(path: str) -> tuple[int, int]:
    """Read one JPEG and decode it at 1/4 scale in libjpeg's DCT (what ingest's decode does)."""
    import cv2
    import numpy as np

    with open(path, "rb") as fh:
        data = fh.read()
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_REDUCED_COLOR_4 | cv2.IMREAD_IGNORE_ORIENTATION)
    return img.shape[:2]


def _pool_init() -> None:
    import cv2
    import numpy  # noqa: F401
    import scipy.fftpack  # noqa: F401
    from PIL import Image  # noqa: F401

    cv2.setNumThreads(1)  # as ingest's workers (rainset.workers.worker_init)
    path = os.environ.get("RAINSET_BENCH_WARMUP")
    if path:
        imagededup_phash_file(path)
        quarter_decode_file(path)


# --------------------------------------------------------------------------------------------
# timing helpers
# --------------------------------------------------------------------------------------------


def _pid_after(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()


def start_pool(workers: int) -> tuple[ProcessPoolExecutor, set[int]]:
    """``workers`` spawned processes that have all run ``_pool_init`` (imports + one file) and one
    task, and their pids."""
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_pool_init)
    seen: set[int] = set()
    while len(seen) < workers:
        seen.update(f.result() for f in [pool.submit(_pid_after, 0.2) for _ in range(workers)])
    return pool, seen


def cpu_seconds(pids: set[int]) -> float:
    """User + system CPU seconds used so far by these processes (Linux /proc)."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / os.sysconf("SC_CLK_TCK")


def time_map(pool: ProcessPoolExecutor, pids: set[int], fn: Callable[[str], Any], paths: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the pool) for the ordered map of ``fn`` over ``paths`` on a warm
    pool (start-up not timed)."""
    c0 = cpu_seconds(pids)
    t0 = time.perf_counter()
    results = list(pool.map(fn, paths, chunksize=1))
    seconds = time.perf_counter() - t0
    cpu = cpu_seconds(pids) - c0
    if any(r is None for r in results):
        raise RuntimeError("a file failed")
    return seconds, cpu


def time_real_imagededup(phash_cls: Any, folder: Path, n: int, workers: int) -> float:
    encoder = phash_cls(verbose=False)
    t0 = time.perf_counter()
    hashes = encoder.encode_images(image_dir=str(folder), num_enc_workers=workers)
    seconds = time.perf_counter() - t0
    if len(hashes) != n:
        raise RuntimeError(f"imagededup hashed {len(hashes)} of {n} files")
    return seconds


def time_cli(images: Path, store_dir: Path, workers: int, n: int) -> tuple[float, float]:
    """Wall seconds and CPU seconds (the process and its workers, which it waits for) of
    ``rainset ingest`` as a fresh subprocess (init not timed), into a fresh store."""
    shutil.rmtree(store_dir, ignore_errors=True)
    script = Path(sys.executable).parent / "rainset"  # the console script users run
    base = [str(script)] if script.is_file() else [sys.executable, "-m", "rainset.cli"]
    subprocess.run([*base, "init", str(store_dir)], check=True, capture_output=True)
    k0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    out = subprocess.run([*base, "ingest", str(images), "--store", str(store_dir), "--workers", str(workers),
                          "--json"], check=True, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    k1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (k1.ru_utime + k1.ru_stime) - (k0.ru_utime + k0.ru_stime)
    summary = json.loads(out.stdout)
    if summary["new_files"] != n or summary["rejected"]:
        raise RuntimeError(f"CLI ingest: {summary}")
    shutil.rmtree(store_dir, ignore_errors=True)
    return seconds, cpu


def time_ingest(images: Path, store_dir: Path, workers: int, n: int, others: set[int]) -> dict:
    """One in-process ``ingest()`` into a fresh store: wall, catalog-write seconds, CPU seconds
    (``others``: pids of this process's other children, not waited for)."""
    from rainset.ingest import IngestOptions, ingest, pipeline
    from rainset.store import init_store

    shutil.rmtree(store_dir, ignore_errors=True)
    store = init_store(store_dir)
    writes: list[float] = []
    real = pipeline._write_batch

    def timed_write_batch(*args: Any, **kwargs: Any) -> Any:
        t = time.perf_counter()
        out = real(*args, **kwargs)
        writes.append(time.perf_counter() - t)
        return out

    pipeline._write_batch = timed_write_batch  # the bench only: the driver's catalog transactions
    self0, kids0 = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        t0 = time.perf_counter()
        summary = ingest(store, [str(images)], IngestOptions(workers=workers))
        seconds = time.perf_counter() - t0
    finally:
        pipeline._write_batch = real
    deadline = time.monotonic() + 60  # ingest's workers exit on their own after the last result:
    while time.monotonic() < deadline and any(c.pid not in others for c in multiprocessing.active_children()):
        time.sleep(0.02)  # reap them, so that RUSAGE_CHILDREN counts their CPU
    self1, kids1 = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    if summary.rejected or summary.new_files != n:
        raise RuntimeError(f"ingest: {summary.new_files} new files, rejects {summary.rejects_by_reason}")
    shutil.rmtree(store_dir, ignore_errors=True)
    return {"seconds": seconds, "catalog_seconds": sum(writes), "batches": len(writes),
            "driver_cpu": (self1.ru_utime + self1.ru_stime) - (self0.ru_utime + self0.ru_stime),
            "workers_cpu": (kids1.ru_utime + kids1.ru_stime) - (kids0.ru_utime + kids0.ru_stime)}


# --------------------------------------------------------------------------------------------
# per-stage profile (in this process, one OpenCV thread, as in a worker)
# --------------------------------------------------------------------------------------------


def profile_stages(paths: list[str], scratch: Path) -> dict:
    """Median milliseconds per file of each stage of the per-file path, timed alone."""
    import numpy as np

    from rainset.capture import check_header_budget, make_preview, read_exif, sniff_format
    from rainset.capture.checks import check_grey_fill, check_not_blank, reduce_factor
    from rainset.capture.orient import apply_orientation
    from rainset.capture.raster import check_raster, decode_jpeg
    from rainset.hashing import compute_hashes
    from rainset.ingest.stage import HEAD_BYTES, StageOptions, open_local, write_object_copy
    from rainset.quality import measure_quality
    from rainset.records import Frame
    from rainset.store import commit_object, init_store, tmp_file, write_atomic
    from rainset.ingest.heap import keep_freed_memory
    from rainset.workers import worker_init

    worker_init(quiet_stderr=False)
    keep_freed_memory()  # as ingest's workers (rainset.ingest.stage.init_worker)
    opts = StageOptions()
    store = init_store(scratch)
    times: dict[str, list[float]] = {}

    def clock(key: str, fn: Callable[[], Any]) -> Any:
        t0 = time.perf_counter()
        out = fn()
        times.setdefault(key, []).append(time.perf_counter() - t0)
        return out

    for path in [paths[0], *paths]:  # the first file twice: the first pass is a warm-up, dropped
        name = os.path.basename(path)
        fh = clock("open (O_NONBLOCK) + fstat", lambda: open_local(path))
        with fh:
            head = clock("read whole file", lambda: fh.read(HEAD_BYTES))
            data = head + clock("read whole file", lambda: fh.read())
        fmt = clock("sniff + header budget check", lambda: sniff_format(head[:64], name))
        clock("sniff + header budget check", lambda: check_header_budget(
            head, name, fmt, max_pixels=opts.max_pixels, min_side=opts.working_min_side,
            max_decode_bytes=opts.max_decode_bytes))
        sha = clock("sha256", lambda: hashlib.sha256(data).hexdigest())
        exif = clock("EXIF (read_exif)", lambda: read_exif(data, fmt, name))
        w, h = clock("decode checks (header, EOI)", lambda: check_raster(data, fmt, opts.max_pixels))
        f = reduce_factor(w, h, opts.working_min_side)
        img = clock(f"decode 1/{f} (cv2) + BGR->RGB", lambda: decode_jpeg(data, w, h, f))
        clock("decode checks (grey fill, blank)", lambda: (check_grey_fill(img), check_not_blank(img)))
        img = apply_orientation(img, exif.orientation)
        frame = Frame(image=np.ascontiguousarray(img), width=w, height=h, bit_depth=8, format=fmt,
                      decoder=f"jpeg-reduced-{f}")
        clock("hashes (compute_hashes)", lambda: compute_hashes(frame))
        clock("quality (measure_quality)", lambda: measure_quality(frame))
        prev = clock("preview encode", lambda: make_preview(frame, opts.preview_max_side, opts.preview_quality))
        dest = store.preview_path(sha)
        dest.unlink(missing_ok=True)
        clock("preview write + fsync", lambda: write_atomic(store, dest, prev))
        store.object_path(sha).unlink(missing_ok=True)
        with tmp_file(store) as (tmp, out):
            clock("copy into tmp/ (write + fsync)", lambda: write_object_copy(out, data))
            clock("commit object (rename)", lambda: commit_object(store, sha, tmp))
    for v in times.values():
        del v[:len(v) // (len(paths) + 1)]  # drop the warm-up pass
    per_file = {}
    for k, v in times.items():
        calls = len(v) // len(paths)  # stages timed in two parts add up per file
        per_file[k] = round(statistics.median([sum(v[i * calls:(i + 1) * calls]) for i in range(len(paths))]) * 1000, 2)
    return {"files": len(paths), "per_file_ms": per_file}


# --------------------------------------------------------------------------------------------
# machine, report
# --------------------------------------------------------------------------------------------


def machine() -> dict:
    import cv2
    import PIL

    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        mem = float("nan")
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(mem, 1), "python": platform.python_version(),
            "opencv": cv2.__version__, "pillow": PIL.__version__, "platform": platform.platform()}


def generate(folder: Path, n: int) -> tuple[list[str], float | None]:
    """n 12-MP JPEGs with EXIF in ``folder``; reused when the same files are already there."""
    from rainset.synth import generate_large_jpegs

    want = [folder / f"large_{i:04d}.jpg" for i in range(n)]
    present = sorted(folder.glob("*.jpg")) if folder.is_dir() else []
    if present == want:
        return [str(p) for p in want], None
    if folder.exists():
        shutil.rmtree(folder)
    t0 = time.perf_counter()
    paths = generate_large_jpegs(folder, n)
    return [str(p) for p in paths], time.perf_counter() - t0


def _say(args: argparse.Namespace, msg: str) -> None:
    print(msg, file=sys.stderr if args.json else sys.stdout, flush=True)


def _med(values: list[float]) -> float:
    return statistics.median(values)


def run(args: argparse.Namespace) -> dict:
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="rainset-bench-"))
    out.mkdir(parents=True, exist_ok=True)
    try:
        return _run(args, out)
    finally:
        if args.keep:
            pass
        elif args.out:  # a named folder keeps its generated images (the cache), not the stores
            for d in ("images-2", "store-2", "store-n", "store-cli", "profile-store"):
                shutil.rmtree(out / d, ignore_errors=True)
        else:
            shutil.rmtree(out, ignore_errors=True)


def _run(args: argparse.Namespace, out: Path) -> dict:
    n, workers = args.n, args.workers
    images = out / "images"
    _say(args, f"rainset ingest benchmark: {n} JPEGs of 4000x3000 with EXIF in {images}, {workers} processes")
    paths, gen_s = generate(images, n)
    _say(args, "  generated in %.1f s" % gen_s if gen_s is not None else "  reusing the generated files")
    megabytes = sum(os.path.getsize(p) for p in paths) / 1e6
    os.environ["RAINSET_BENCH_WARMUP"] = paths[0]  # read by the pool initializer (spawned children)
    images_two = out / "images-2"
    shutil.rmtree(images_two, ignore_errors=True)
    images_two.mkdir()
    for p in paths[:2]:
        shutil.copyfile(p, images_two / os.path.basename(p))

    phash_cls = _real_imagededup()
    _say(args, "(a) baseline: " + ("imagededup PHash().encode_images (the installed package)" if phash_cls else
                                   "imagededup is not importable (it needs torch + torchvision): a copy of its "
                                   "PHash per-file code"))
    _say(args, "(b) decode limit: read + 1/4-scale cv2 decode alone; (c) rainset ingest: CLI and ingest()")
    load = [os.getloadavg()[0]]
    a_s, b_s, a_cpu, b_cpu, cli_s, cli_cpu, ing, two_s, two_cpu = [], [], [], [], [], [], [], [], []
    pool, pids = start_pool(workers)
    try:
        for r in range(args.repeat):
            if phash_cls:
                a_s.append(time_real_imagededup(phash_cls, images, n, workers))
            else:
                wall, cpu = time_map(pool, pids, imagededup_phash_file, paths)
                a_s.append(wall)
                a_cpu.append(cpu)
            wall, cpu = time_map(pool, pids, quarter_decode_file, paths)
            b_s.append(wall)
            b_cpu.append(cpu)
            wall, cpu = time_cli(images, out / "store-cli", workers, n)
            cli_s.append(wall)
            cli_cpu.append(cpu)
            ing.append(time_ingest(images, out / "store-n", workers, n, pids))
            two = time_ingest(images_two, out / "store-2", workers, 2, pids)
            two_s.append(two["seconds"])
            two_cpu.append(two["driver_cpu"] + two["workers_cpu"])
            load.append(os.getloadavg()[0])
            _say(args, f"  round {r + 1}: baseline {a_s[-1]:.2f} s, decode limit {b_s[-1]:.2f} s, "
                       f"CLI ingest {cli_s[-1]:.2f} s, ingest() {ing[-1]['seconds']:.2f} s "
                       f"(2 files {two_s[-1]:.2f} s); load {load[-1]:.2f}")
    finally:
        pool.shutdown()

    _say(args, "per-stage profile (in-process, %d files)" % min(args.profile_files, n))
    profile = profile_stages(paths[1:1 + args.profile_files], out / "profile-store")
    shutil.rmtree(out / "profile-store", ignore_errors=True)

    def rate(seconds: list[float]) -> dict:
        return {"seconds": round(_med(seconds), 3), "images_per_second": round(n / _med(seconds), 2),
                "rounds_seconds": [round(s, 2) for s in seconds]}

    in_proc = [i["seconds"] for i in ing]
    ing_cpu = [i["driver_cpu"] + i["workers_cpu"] for i in ing]
    cpu = {"baseline_ms_per_file": round(_med(a_cpu) / n * 1000, 1) if a_cpu else None,
           "decode_limit_ms_per_file": round(_med(b_cpu) / n * 1000, 1),
           "ingest_ms_per_file": round(_med(ing_cpu) / n * 1000, 1),
           "cli_ms_per_file": round(_med(cli_cpu) / n * 1000, 1),
           "baseline_over_cli": round(_med(a_cpu) / _med(cli_cpu), 2) if a_cpu else None,
           "baseline_over_ingest": round(_med(a_cpu) / _med(ing_cpu), 2) if a_cpu else None,
           "decode_limit_over_ingest": round(_med(b_cpu) / _med(ing_cpu), 3)}
    ratios = {
        "ingest_over_baseline": round(_med(a_s) / _med(in_proc), 2),
        "cli_over_baseline": round(_med(a_s) / _med(cli_s), 2),
        "ingest_over_decode_limit": round(_med(b_s) / _med(in_proc), 3),
        "cli_over_decode_limit": round(_med(b_s) / _med(cli_s), 3),
        "rounds_ingest_over_baseline": [round(a / i, 2) for a, i in zip(a_s, in_proc)],
        "rounds_cli_over_baseline": [round(a / c, 2) for a, c in zip(a_s, cli_s)],
    }
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "images": {"n": n, "size": "4000x3000", "quality": 90, "exif": True, "megabytes": round(megabytes, 1),
                   "page_cache": "warm"},
        "workers": workers,
        "repeat": args.repeat,
        "load_average_1min": [round(x, 2) for x in load],
        "baseline": {**rate(a_s), "implementation": (
            "imagededup PHash().encode_images (installed package), pool start-up timed" if phash_cls else
            "copy of imagededup 0.3.3.post2 PHash.encode_image on spawned warmed processes, start-up not timed")},
        "decode_limit": rate(b_s),
        "ingest_cli": rate(cli_s),
        "ingest": {**rate(in_proc),
                   "two_files_seconds": round(_med(two_s), 3),
                   "two_files_cpu_seconds": round(_med(two_cpu), 3),
                   "catalog_ms_per_file": round(_med([i["catalog_seconds"] for i in ing]) / n * 1000, 2),
                   "batches": ing[0]["batches"],
                   "driver_cpu_ms_per_file": round(_med([i["driver_cpu"] for i in ing]) / n * 1000, 2),
                   "workers_cpu_ms_per_file": round(_med([i["workers_cpu"] for i in ing]) / n * 1000, 2)},
        "ratios": ratios,
        "cpu": cpu,
        "target": f"ingest >= {TARGET}x baseline: " + ("PASS" if ratios["ingest_over_baseline"] >= TARGET else "FAIL"),
        "profile": profile,
    }


def render(r: dict) -> str:
    m, b, d, c, i, ra = r["machine"], r["baseline"], r["decode_limit"], r["ingest_cli"], r["ingest"], r["ratios"]
    lines = [
        "",
        f"machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB; Python {m['python']}, "
        f"OpenCV {m['opencv']}, Pillow {m['pillow']}; {r['date']}",
        f"images:  {r['images']['n']} JPEGs 4000x3000 q90 with EXIF, {r['images']['megabytes']} MB, page cache warm; "
        f"{r['workers']} processes on every path; median of {r['repeat']} interleaved rounds; "
        f"1-min load average {r['load_average_1min']}",
        "",
        f"{'path':<62}{'images/s':>10}{'seconds':>10}   rounds (s)",
    ]
    for label, x in (("(a) baseline: imagededup PHash" + ("" if "installed" in b["implementation"] else " (code copy)"), b),
                     ("(b) decode limit: read + 1/4 cv2 decode", d),
                     ("(c) rainset ingest --workers N (CLI, whole process)", c),
                     ("(c) rainset ingest(): in-process, worker start-up included", i)):
        lines.append(f"{label:<62}{x['images_per_second']:>10.2f}{x['seconds']:>10.2f}   {x['rounds_seconds']}")
    lines += [
        f"{'    ingest() of 2 files (worker start-up + 1 file each)':<62}{'':>10}{i['two_files_seconds']:>10.2f}"
        f"   CPU {i['two_files_cpu_seconds']:.2f} s (driver + workers)",
        "",
        f"ingest() / baseline = {ra['ingest_over_baseline']:.2f}x (rounds {ra['rounds_ingest_over_baseline']}); "
        f"CLI / baseline = {ra['cli_over_baseline']:.2f}x (rounds {ra['rounds_cli_over_baseline']}); "
        f"target >= {TARGET}x: {r['target'].split(': ')[1]}",
        f"ingest() / decode limit = {ra['ingest_over_decode_limit']:.2f}; CLI / decode limit = "
        f"{ra['cli_over_decode_limit']:.2f}",
        *([f"CPU ms per file (all processes of each path; the load-independent comparison): baseline "
           f"{r['cpu']['baseline_ms_per_file']}, decode limit {r['cpu']['decode_limit_ms_per_file']}, ingest() "
           f"{r['cpu']['ingest_ms_per_file']} (start-up included): baseline / ingest = "
           f"{r['cpu']['baseline_over_ingest']}x, decode limit / ingest = {r['cpu']['decode_limit_over_ingest']}; "
           f"CLI (whole process, its start-up included) {r['cpu'].get('cli_ms_per_file')}: baseline / CLI = "
           f"{r['cpu'].get('baseline_over_cli')}x"]
          if "cpu" in r else []),
        f"ingest(): driver CPU {i['driver_cpu_ms_per_file']} ms/file (catalog writes {i['catalog_ms_per_file']} ms/file "
        f"wall, {i['batches']} batches), workers CPU {i['workers_cpu_ms_per_file']} ms/file",
        "",
        f"per-stage profile, median ms per file, one process, one OpenCV thread ({r['profile']['files']} files):",
    ]
    total = 0.0
    for k, v in r["profile"]["per_file_ms"].items():
        lines.append(f"  {k:<44}{v:>8.2f}")
        total += v
    lines.append(f"  {'sum':<44}{total:>8.2f}")
    lines.append(f"baseline: {b['implementation']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=24, help="number of 12-MP JPEGs (default 24; card scale: --n 200)")
    ap.add_argument("--workers", type=int, default=2, help="processes for every path (default 2)")
    ap.add_argument("--out", help="working folder; its generated images (OUT/images) are kept and reused by "
                                  "the next run (default: a temporary folder, removed unless --keep)")
    ap.add_argument("--keep", action="store_true", help="keep everything: images, stores")
    ap.add_argument("--repeat", type=int, default=3, help="interleaved timed rounds; medians are reported "
                                                           "(default 3)")
    ap.add_argument("--profile-files", type=int, default=6, help="files in the per-stage profile (default 6)")
    ap.add_argument("--json", action="store_true", help="print the results as JSON on stdout")
    args = ap.parse_args(argv)
    if args.n < 3:
        raise SystemExit("--n must be at least 3")
    if args.repeat < 1:
        raise SystemExit("--repeat must be at least 1")
    if args.workers < 2:
        raise SystemExit("--workers must be at least 2 (the pools are process pools)")
    result = run(args)
    print(json.dumps(result, indent=1) if args.json else render(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
