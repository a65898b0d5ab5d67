#!/usr/bin/env python
"""Ingest benchmark: rainset's decode+hash path and whole ingest vs imagededup's PHash, in one run.

Steps (all on the same generated folder of 12-megapixel JPEGs, page cache warm):

(a) baseline: imagededup ``PHash().encode_images`` per-file work — Pillow open + full decode,
    LANCZOS resize of the RGB image to 32x32, grey, 2-D DCT, median of the 8x8 block.
    When ``imagededup`` is importable it is called itself (it forks ``--workers`` processes and
    its pool start-up is inside the timing); otherwise a line-for-line copy of what its code does
    (imagededup 0.3.3.post2, ``methods/hashing.py`` + ``utils/image_utils.py``) runs on
    ``--workers`` spawned processes, warmed up, timing only the map over the files.
(b) rainset hashing path: per file read bytes, ``sniff_format``, ``decode_working`` (JPEG:
    OpenCV reduced-DCT decode), ``compute_hashes``; same pool, same warm-up, same timing.
(c) whole ``rainset ingest`` into a fresh store with ``--workers`` workers (sha256, EXIF, decode,
    hashes, quality, preview, copy into objects/, catalog writes): wall time of ``ingest()``
    including its process start-up, the start-up measured apart by ingesting 2 files into another
    fresh store, and the steady-state rate estimated as (n - 2) / (T_n - T_2).
Then a per-stage profile of both per-file paths, in this process, on a few files.

Usage: ``python bench/ingest.py [--n 24] [--workers 2] [--out DIR [--keep]] [--json]``.
Results and how to read them: docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import date
from pathlib import Path
from typing import Any, Callable

HASH_TARGET = 4.0  # the hashing path: at least 4x the baseline's images/s
INGEST_TARGET = 0.5  # whole ingest: at least 0.5x the hashing path's images/s ("within 2x")

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


def _baseline_init() -> None:
    import numpy  # noqa: F401
    import scipy.fftpack  # noqa: F401
    from PIL import Image  # noqa: F401

    path = os.environ.get("RAINSET_BENCH_WARMUP")
    if path:
        imagededup_phash_file(path)


def _real_imagededup() -> Any | None:
    """imagededup's PHash class when the package is importable (it needs torch + torchvision)."""
    try:
        from imagededup.methods import PHash
    except Exception:  # noqa: BLE001 - ImportError, or torchvision failing at import
        return None
    return PHash


# --------------------------------------------------------------------------------------------
# (b) rainset's hashing path
# --------------------------------------------------------------------------------------------


def rainset_hash_file(path: str) -> str:
    """Read, sniff, decode the working frame, hash: the decode+hash part of rainset ingest."""
    from rainset.capture import decode_working, sniff_format
    from rainset.hashing import compute_hashes
    from rainset.ingest.stage import StageOptions

    opts = StageOptions()
    with open(path, "rb") as fh:
        data = fh.read()
    name = os.path.basename(path)
    fmt = sniff_format(data[:64], name)
    frame = decode_working(data, name, fmt, orientation=None, max_pixels=opts.max_pixels,
                           min_side=opts.working_min_side)
    return compute_hashes(frame).phash


def _rainset_init() -> None:
    from rainset.workers import worker_init

    worker_init()  # exactly what ingest's workers get: one OpenCV thread
    path = os.environ.get("RAINSET_BENCH_WARMUP")
    if path:
        rainset_hash_file(path)


# --------------------------------------------------------------------------------------------
# timing helpers
# --------------------------------------------------------------------------------------------


def _pid_after(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()


def start_pool(init: Callable[[], None], workers: int) -> ProcessPoolExecutor:
    """``workers`` spawned processes that have all run ``init`` (imports + one file) and one task."""
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=init)
    seen: set[int] = set()
    while len(seen) < workers:
        seen.update(f.result() for f in [pool.submit(_pid_after, 0.2) for _ in range(workers)])
    return pool


def time_map(pool: ProcessPoolExecutor, fn: Callable[[str], Any], paths: list[str]) -> float:
    """Seconds for the ordered map of ``fn`` over ``paths`` on a warm pool (start-up not timed)."""
    t0 = time.perf_counter()
    results = list(pool.map(fn, paths, chunksize=1))
    seconds = time.perf_counter() - t0
    if any(r is None for r in results):
        raise RuntimeError("a file failed to hash")
    return seconds


def _rates(n: int, seconds: list[float]) -> dict:
    rates = [n / s for s in seconds]
    return {"images_per_second": round(statistics.median(rates), 3),
            "seconds": round(statistics.median(seconds), 3),
            "rounds_images_per_second": [round(r, 2) for r in rates]}


def time_real_imagededup(phash_cls: Any, folder: Path, n: int, workers: int, repeat: int) -> dict:
    """Call imagededup itself: PHash().encode_images(folder, num_enc_workers=workers)."""
    encoder = phash_cls(verbose=False)
    encoder.encode_images(image_dir=str(folder), num_enc_workers=workers)  # warm-up (imports, cache)
    seconds = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        hashes = encoder.encode_images(image_dir=str(folder), num_enc_workers=workers)
        seconds.append(time.perf_counter() - t0)
        if len(hashes) != n:
            raise RuntimeError(f"imagededup hashed {len(hashes)} of {n} files")
    return {**_rates(n, seconds), "processes": workers,
            "start": "imagededup's own multiprocessing.Pool (fork), pool start-up timed"}


def time_ingest(images: Path, store_dir: Path, workers: int) -> float:
    """Wall seconds of one ingest() into a fresh store (removed afterwards)."""
    from rainset.ingest import IngestOptions, ingest
    from rainset.store import init_store

    store = init_store(store_dir)
    t0 = time.perf_counter()
    summary = ingest(store, [str(images)], IngestOptions(workers=workers))
    seconds = time.perf_counter() - t0
    if summary.rejected or summary.new_files != summary.processed:
        raise RuntimeError(f"ingest rejected files: {summary.rejects_by_reason}")
    shutil.rmtree(store_dir, ignore_errors=True)
    return seconds


# --------------------------------------------------------------------------------------------
# per-stage profile (in this process, one OpenCV thread, as in a worker)
# --------------------------------------------------------------------------------------------


def _clock(times: dict[str, list[float]], key: str, fn: Callable[[], Any]) -> Any:
    t0 = time.perf_counter()
    out = fn()
    times.setdefault(key, []).append(time.perf_counter() - t0)
    return out


def profile_stages(paths: list[str], scratch: Path) -> dict:
    """Median milliseconds per stage of the ingest per-file path and of the baseline."""
    import cv2
    import imagehash
    import numpy as np
    from PIL import Image
    from scipy.fftpack import dct

    from rainset.capture import decode_working, make_preview, read_exif, sniff_format
    from rainset.capture.raster import check_raster, decode_jpeg
    from rainset.capture.checks import reduce_factor
    from rainset.hashing import HASH_SIDE, _shrink, compute_hashes
    from rainset.ingest.stage import StageOptions
    from rainset.workers import worker_init
    from rainset.quality import measure_quality
    from rainset.store import init_store, put_object, write_atomic

    worker_init()
    opts = StageOptions()
    store = init_store(scratch)
    ours: dict[str, list[float]] = {}
    sub: dict[str, list[float]] = {}
    base: dict[str, list[float]] = {}
    for path in [paths[0], *paths]:  # the first file twice: the first pass is a warm-up, dropped
        name = os.path.basename(path)
        data = _clock(ours, "read bytes", lambda: Path(path).read_bytes())
        sha = _clock(ours, "sha256", lambda: hashlib.sha256(data).hexdigest())
        fmt = _clock(ours, "sniff_format", lambda: sniff_format(data[:64], name))
        exif = _clock(ours, "read_exif", lambda: read_exif(data, fmt, name))
        frame = _clock(ours, "decode_working", lambda: decode_working(
            data, name, fmt, orientation=exif.orientation, max_pixels=opts.max_pixels,
            min_side=opts.working_min_side))
        _clock(ours, "compute_hashes", lambda: compute_hashes(frame))
        _clock(ours, "measure_quality", lambda: measure_quality(frame))
        prev = _clock(ours, "make_preview", lambda: make_preview(frame, opts.preview_max_side, opts.preview_quality))
        dest = store.preview_path(sha)
        if dest.exists():
            dest.unlink()
        _clock(ours, "write preview (atomic)", lambda: write_atomic(store, dest, prev))
        obj = store.root / "objects" / sha[:2] / sha
        if obj.exists():
            obj.unlink()
        _clock(ours, "put_object (copy into objects/)", lambda: put_object(store, sha, data))
        # inside decode_working and compute_hashes
        w, h = _clock(sub, "decode: check_raster (header + completeness)", lambda: check_raster(data, fmt, opts.max_pixels))
        f = reduce_factor(w, h, opts.working_min_side)
        _clock(sub, f"decode: cv2.imdecode reduced 1/{f} + BGR->RGB", lambda: decode_jpeg(data, w, h, f))
        small_frame = _clock(sub, "hashes: shrink once (integer INTER_AREA)", lambda: _shrink(frame.image, HASH_SIDE))
        grey = _clock(sub, "hashes: RGB->grey", lambda: cv2.cvtColor(small_frame, cv2.COLOR_RGB2GRAY))
        pil = Image.fromarray(grey, mode="L")
        _clock(sub, "hashes: imagehash.phash (LANCZOS 32x32 + DCT)", lambda: imagehash.phash(pil))
        _clock(sub, "hashes: imagehash.dhash (LANCZOS 9x8)", lambda: imagehash.dhash(pil))
        # the baseline, split
        img = _clock(base, "Image.open + full decode (load)", lambda: Image.open(path))
        _clock(base, "Image.open + full decode (load)", img.load)
        small = _clock(base, "resize RGB 4000x3000 -> 32x32 LANCZOS", lambda: img.resize((32, 32), Image.LANCZOS))
        _clock(base, "grey + DCT + median", lambda: dct(dct(np.array(small.convert("L")), axis=0), axis=1))
    for d in (ours, sub, base):  # drop the warm-up pass
        for k, v in d.items():
            if k == "Image.open + full decode (load)":
                del v[:2]
            else:
                del v[:1]

    def summarise(d: dict[str, list[float]]) -> dict[str, float]:
        out: dict[str, float] = {}
        for k, v in d.items():
            if k == "Image.open + full decode (load)":  # two timings per file: open, load
                v = [a + b for a, b in zip(v[0::2], v[1::2])]
            out[k] = round(statistics.median(v) * 1000, 1)
        return out

    return {"files": len(paths), "ingest_per_file_ms": summarise(ours), "inside_ms": summarise(sub),
            "baseline_per_file_ms": summarise(base), "frame": f"{frame.image.shape[1]}x{frame.image.shape[0]}"}


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
        import imagehash

        ih = imagehash.__version__
    except Exception:  # noqa: BLE001
        ih = "missing"
    try:
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        mem = float("nan")
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(mem, 1), "python": platform.python_version(),
            "opencv": cv2.__version__, "pillow": PIL.__version__, "imagehash": ih, "platform": platform.platform()}


def generate(folder: Path, n: int) -> tuple[list[str], float | None]:
    """n 12-MP JPEGs in ``folder``; reused when the same files are already there."""
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


def run(args: argparse.Namespace) -> dict:
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="rainset-bench-"))
    out.mkdir(parents=True, exist_ok=True)
    try:
        return _run(args, out)
    finally:
        if args.keep:
            pass
        elif args.out:  # a named folder keeps its generated images (the cache), not the stores
            for d in ("images-2", "store-2", "store-n", "profile-store"):
                shutil.rmtree(out / d, ignore_errors=True)
        else:
            shutil.rmtree(out, ignore_errors=True)


def _say(args: argparse.Namespace, msg: str) -> None:
    print(msg, file=sys.stderr if args.json else sys.stdout, flush=True)


def _run(args: argparse.Namespace, out: Path) -> dict:
    n, workers = args.n, args.workers
    if n < 3:
        raise SystemExit("--n must be at least 3")
    images = out / "images"
    _say(args, f"rainset ingest benchmark: {n} JPEGs of 4000x3000 in {images}, {workers} workers")
    paths, gen_s = generate(images, n)
    _say(args, "  generated in %.1f s" % gen_s if gen_s is not None else "  reusing the generated files")
    megabytes = sum(os.path.getsize(p) for p in paths) / 1e6
    os.environ["RAINSET_BENCH_WARMUP"] = paths[0]  # read by the pool initializers (spawned children)

    load_before = os.getloadavg()[0]
    phash_cls = _real_imagededup()
    hash_pool = start_pool(_rainset_init, workers)
    try:
        if phash_cls is not None:
            _say(args, "(a) baseline: imagededup PHash().encode_images (the real package), %d rounds" % args.repeat)
            baseline = time_real_imagededup(phash_cls, images, n, workers, args.repeat)
            baseline["implementation"] = "imagededup PHash().encode_images (installed package)"
            _say(args, "(b) rainset hashing path: read, sniff, decode_working, compute_hashes")
            hashing = {**_rates(n, [time_map(hash_pool, rainset_hash_file, paths) for _ in range(args.repeat)]),
                       "processes": workers}
        else:
            _say(args, "(a) baseline: imagededup is not importable (it needs torch + torchvision); "
                       "running a copy of its PHash per-file code")
            _say(args, "(b) rainset hashing path: read, sniff, decode_working, compute_hashes")
            _say(args, "    (a) and (b) alternate, %d rounds each" % args.repeat)
            base_pool = start_pool(_baseline_init, workers)
            try:
                a_s, b_s = [], []
                for _ in range(args.repeat):
                    a_s.append(time_map(base_pool, imagededup_phash_file, paths))
                    b_s.append(time_map(hash_pool, rainset_hash_file, paths))
            finally:
                base_pool.shutdown()
            baseline = {**_rates(n, a_s), "processes": workers,
                        "start": "spawned, warmed up, start-up not timed",
                        "implementation": ("copy of imagededup 0.3.3.post2 PHash.encode_image: Pillow open + full "
                                           "decode, RGB LANCZOS resize to 32x32, grey, scipy DCT, median")}
            hashing = {**_rates(n, b_s), "processes": workers}
    finally:
        hash_pool.shutdown()
    hashing["start"] = "spawned, warmed up, start-up not timed"
    _say(args, "    baseline %.2f images/s, hashing path %.2f images/s (medians)"
         % (baseline["images_per_second"], hashing["images_per_second"]))

    _say(args, "(c) rainset ingest into fresh stores, %d rounds of: 2 files (start-up), all %d" % (args.repeat, n))
    two = out / "images-2"
    shutil.rmtree(two, ignore_errors=True)
    two.mkdir()
    for p in paths[:2]:
        shutil.copyfile(p, two / os.path.basename(p))
    t2s, tns = [], []
    for r in range(args.repeat):
        t2s.append(time_ingest(two, out / "store-2", workers))
        tns.append(time_ingest(images, out / "store-n", workers))
    steadies = [(n - 2) / (tn - t2) for t2, tn in zip(t2s, tns) if tn > t2]
    steady = statistics.median(steadies) if steadies else float("nan")
    full = {**_rates(n, tns), "processes": workers, "startup_2_files_seconds": round(statistics.median(t2s), 3),
            "rounds_2_files_seconds": [round(t, 2) for t in t2s],
            "steady_images_per_second": round(steady, 3)}
    _say(args, "    %.2f images/s wall (2-file ingest: %.2f s), steady-state estimate %.2f images/s (medians)"
         % (full["images_per_second"], full["startup_2_files_seconds"], steady))
    load_after = os.getloadavg()[0]

    _say(args, "per-stage profile (in-process, %d files)" % min(args.profile_files, n))
    profile = profile_stages(paths[1:1 + args.profile_files], out / "profile-store")
    shutil.rmtree(out / "profile-store", ignore_errors=True)

    hash_ratio = hashing["images_per_second"] / baseline["images_per_second"]
    ingest_ratio = full["images_per_second"] / hashing["images_per_second"]
    steady_ratio = steady / hashing["images_per_second"]
    return {
        "date": date.today().isoformat(),
        "machine": machine(),
        "images": {"n": n, "size": "4000x3000", "quality": 90, "megabytes": round(megabytes, 1),
                   "folder": str(images), "page_cache": "warm (just generated or reused)"},
        "workers": workers,
        "repeat": args.repeat,
        "load_average_1min": {"before": round(load_before, 2), "after": round(load_after, 2)},
        "baseline": baseline,
        "hashing": hashing,
        "ingest": full,
        "ratios": {
            "hashing_over_baseline": round(hash_ratio, 2),
            "ingest_over_hashing": round(ingest_ratio, 3),
            "ingest_steady_over_hashing": round(steady_ratio, 3),
        },
        "targets": {
            "hashing_over_baseline >= 4": "PASS" if hash_ratio >= HASH_TARGET else "FAIL",
            "ingest_over_hashing >= 0.5": "PASS" if ingest_ratio >= INGEST_TARGET else "FAIL",
            "ingest_steady_over_hashing >= 0.5 (information)": "PASS" if steady_ratio >= INGEST_TARGET else "FAIL",
        },
        "profile": profile,
    }


def render(r: dict) -> str:
    m, b, h, i, ratios, t = r["machine"], r["baseline"], r["hashing"], r["ingest"], r["ratios"], r["targets"]
    lines = [
        "",
        f"machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB; Python {m['python']}, "
        f"OpenCV {m['opencv']}, Pillow {m['pillow']}, imagehash {m['imagehash']}",
        f"images:  {r['images']['n']} JPEGs 4000x3000 q90, {r['images']['megabytes']} MB, page cache warm; "
        f"{r['workers']} processes on every path; median of {r['repeat']} rounds; load average before "
        f"{r['load_average_1min']['before']}, after {r['load_average_1min']['after']}",
        "",
        f"{'path':<58}{'images/s':>10}{'seconds':>10}",
        f"{'(a) baseline: ' + ('imagededup PHash' if 'installed' in b['implementation'] else 'imagededup PHash code (copy)'):<58}"
        f"{b['images_per_second']:>10.2f}{b['seconds']:>10.2f}",
        f"{'(b) rainset hashing path (read+sniff+decode_working+hashes)':<58}{h['images_per_second']:>10.2f}{h['seconds']:>10.2f}",
        f"{'(c) rainset ingest() wall, incl. worker start-up':<58}{i['images_per_second']:>10.2f}{i['seconds']:>10.2f}",
        f"{'    ingest() of 2 files (start-up + 1 file per worker)':<58}{'':>10}{i['startup_2_files_seconds']:>10.2f}",
        f"{'    ingest steady state, (n-2)/(T_n - T_2)':<58}{i['steady_images_per_second']:>10.2f}",
        "",
        "rounds, images/s: baseline %s, hashing %s, ingest %s; 2-file ingest seconds %s"
        % (b["rounds_images_per_second"], h["rounds_images_per_second"], i["rounds_images_per_second"],
           i["rounds_2_files_seconds"]),
        "",
        f"hashing / baseline       = {ratios['hashing_over_baseline']:.2f}x   (target >= 4)    "
        f"{t['hashing_over_baseline >= 4']}",
        f"ingest / hashing         = {ratios['ingest_over_hashing']:.2f}x   (target >= 0.5)  "
        f"{t['ingest_over_hashing >= 0.5']}",
        f"ingest steady / hashing  = {ratios['ingest_steady_over_hashing']:.2f}x   (information)    "
        f"{t['ingest_steady_over_hashing >= 0.5 (information)']}",
        "",
        f"per-stage profile, median ms per file, one process, one OpenCV thread "
        f"({r['profile']['files']} files, working frame {r['profile']['frame']}):",
    ]
    p = r["profile"]
    total = sum(p["ingest_per_file_ms"].values())
    for k, v in p["ingest_per_file_ms"].items():
        lines.append(f"  ingest   {k:<52}{v:>8.1f}")
    lines.append(f"  ingest   {'sum':<52}{total:>8.1f}")
    for k, v in p["inside_ms"].items():
        lines.append(f"    inside {k:<52}{v:>8.1f}")
    btotal = sum(p["baseline_per_file_ms"].values())
    for k, v in p["baseline_per_file_ms"].items():
        lines.append(f"  baseline {k:<52}{v:>8.1f}")
    lines.append(f"  baseline {'sum':<52}{btotal:>8.1f}")
    ing = p["ingest_per_file_ms"]
    hashing = sum(ing[k] for k in ("read bytes", "sniff_format", "decode_working", "compute_hashes"))
    lines.append(f"  single process: hashing path {hashing:.1f} ms vs baseline {btotal:.1f} ms = "
                 f"{btotal / hashing:.2f}x (target >= 4); ingest {total:.1f} ms = {hashing / total:.2f}x of the "
                 f"hashing path's rate (target >= 0.5)")
    lines.append(f"baseline: {b['implementation']}; {b['start']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=24, help="number of 12-MP JPEGs (default 24)")
    ap.add_argument("--workers", type=int, default=2, help="processes for every path (default 2)")
    ap.add_argument("--out", help="working folder; its generated images (OUT/images) are kept and reused by "
                                  "the next run (default: a temporary folder, removed unless --keep)")
    ap.add_argument("--keep", action="store_true", help="keep everything: images, stores")
    ap.add_argument("--repeat", type=int, default=3, help="timed rounds of each path; medians are reported "
                                                           "(default 3)")
    ap.add_argument("--profile-files", type=int, default=4, help="files in the per-stage profile (default 4)")
    ap.add_argument("--json", action="store_true", help="print the results as JSON on stdout")
    args = ap.parse_args(argv)
    if args.repeat < 1:
        raise SystemExit("--repeat must be at least 1")
    if args.workers < 2:
        raise SystemExit("--workers must be at least 2 (the pools are process pools)")
    result = run(args)
    print(json.dumps(result, indent=1) if args.json else render(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
