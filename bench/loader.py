"""Loader throughput: samples/s of four ways to feed 256² random crops of the same JPEGs, in one run.

(a) a per-file map-style torch Dataset reading the images as JPEG files (OpenCV decode),
(b) the ``webdataset`` library over our shards,
(c) our loader, ``rainset.loader.ShardDataset`` over the same shards,
(d) the limit: the same JPEG bytes, already in memory, decoded and cropped in a plain loop over
    2 processes (no DataLoader, nothing sent back).

(a)-(c) use a DataLoader with 2 workers (spawn, persistent, one OpenCV thread each), batch 16 and
the same collate; every path decodes with the loader's decode function and crops with the same
crop → tensor step. After one warm-up epoch each, the cases take turns (the order rotates every
round) so all four see the same machine load; each round times one full epoch per case.

The data is built once in ``--data`` and reused: generated captures (``rainset.synth``, long sides
1024-1600 px) ingested into a real store, labelled, exported as a manifest version, written as
shards by the real writer; the JPEG files of (a) are the shard members themselves, so every case
decodes byte-identical files.

Besides samples/s (median and best round) it reports each case's CPU time per sample (main process
and workers, from /proc: far less disturbed by other load than the wall clock) and ends with a
per-stage profile of our loader's worker pipeline in one process. ``--malloc tuned`` starts the
workers with larger glibc mmap/trim thresholds (see docs/benchmarks.md: the plain loop of (d)
otherwise maps fresh pages for every decoded image).

    python bench/loader.py --n 320 --rounds 9 --nice -10 --out bench/results/loader.json
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import random
import statistics
import tarfile
import time
from pathlib import Path
from typing import Any


SIZES = ((1600, 1200), (1024, 768), (1280, 960), (1536, 1024), (1200, 1600), (1440, 1080))
BATCH, WORKERS, CROP = 16, 2, 256


# ---------------------------------------------------------------- the shared decode + crop step
def sample(key: str, data: bytes, ext: str, meta: bytes, rng: random.Random) -> dict[str, Any]:
    """What every path yields per sample: key, the image through the loader's own decode function
    (``rainset.loader.decode_image``: OpenCV decode, random 256² crop, random flip, float tensor), the JSON row."""
    from rainset.loader import decode_image

    value_range = os.environ.get("RAINSET_BENCH_OUTPUT", "0,1")  # set by main(); spawned workers inherit it
    return {"key": key, "image": decode_image(data, ext, crop=CROP, rng=rng, value_range=value_range),
            "meta": json.loads(meta)}


def worker_init(_: int = 0) -> None:
    import cv2
    import torch

    cv2.setNumThreads(1)
    torch.set_num_threads(1)


# ---------------------------------------------------------------- the data
def build_data(root: Path, n: int, shards_per_worker: int = 4) -> dict[str, Any]:
    """Generate, ingest, label, export, write shards (the real writer) and unpack the JPEG members."""
    info_path = root / "data.json"
    if info_path.exists():
        info = json.loads(info_path.read_text())
        if info["n"] == n:
            return info
        raise SystemExit(f"{root} holds data for --n {info['n']}; pick another --data folder")
    from rainset.demo.training_data import RAINY_TYPES, labelled_store

    t0 = time.perf_counter()
    types = (*RAINY_TYPES, "no-rain")
    counts = {t: n // len(types) + (i < n % len(types)) for i, t in enumerate(types)}
    built = labelled_store(root / "data", counts, sizes=SIZES, name="bench", seed=7, workers=2, train_only=True)
    shard_dir = write_shards(Path(built.store), "bench", WORKERS * shards_per_worker)
    files = root / "files"
    files.mkdir(exist_ok=True)
    index = json.loads((shard_dir / "index.json").read_text())
    total = 0
    for shard in index["splits"]["train"]["shardlist"]:
        with tarfile.open(shard_dir / shard["url"]) as tar:
            for member in tar:
                if not member.name.endswith(".json"):
                    (files / member.name).write_bytes(tar.extractfile(member).read())
                    total += member.size
    info = {"n": n, "shards": str(shard_dir), "files": str(files), "image_bytes": total,
            "nshards": len(index["splits"]["train"]["shardlist"]), "build_seconds": round(time.perf_counter() - t0, 1)}
    info_path.write_text(json.dumps(info, indent=2))
    return info


def write_shards(store_root: Path, name: str, nshards: int) -> Path:
    """Shards of version ``name`` in exactly ``nshards`` shards when a target size allows it (so the two
    DataLoader workers get equal shares): one probe build in a single shard gives every sample's size,
    the writer's cut rule (a new shard when the next sample would pass the target) picks the target."""
    from rainset.shards.tarwrite import closed_size, member_bytes
    from rainset.shards.writer import ShardOptions, build_shards
    from rainset.store import open_store

    store = open_store(store_root)
    probe = Path(build_shards(store, f"{name}-probe", ShardOptions(target_size=2**40, workers=2),
                              manifest=name).path)
    sizes: dict[str, int] = {}
    with tarfile.open(probe / "rain-train-000000.tar") as tar:
        for m in tar:
            key = m.name.split(".", 1)[0]
            sizes[key] = sizes.get(key, 0) + member_bytes(m.size)

    def count(target: int) -> int:
        shards, offset = 1, 0
        for size in sizes.values():
            if offset and closed_size(offset + size) > target:
                shards, offset = shards + 1, 0
            offset += size
        return shards

    lo, hi = 1, closed_size(sum(sizes.values()))  # count(lo) = len(sizes) >= nshards, count(hi) = 1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if count(mid) > nshards else (lo, mid)
    return Path(build_shards(store, name, ShardOptions(target_size=hi, workers=2)).path)


# ---------------------------------------------------------------- (a) per-file Dataset
class FileDataset:  # a map-style torch Dataset (torch.utils.data.Dataset needs no base methods)
    def __init__(self, files: list[str], metas: list[str]) -> None:
        self.files, self.metas = files, metas
        self.rng = random.Random()

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> dict[str, Any]:
        path = Path(self.files[i])
        return sample(path.stem, path.read_bytes(), path.suffix[1:], self.metas[i].encode(), self.rng)


# ---------------------------------------------------------------- (b) webdataset
_RNG = random.Random()


def _wds_sample(s: dict[str, Any]) -> dict[str, Any]:
    ext = next(k for k in ("jpg", "png", "tiff") if k in s)
    return sample(s["__key__"], s[ext], ext, s["json"], _RNG)


def wds_dataset(urls: list[str]) -> Any:
    import webdataset as wds

    return (wds.WebDataset(urls, shardshuffle=len(urls), nodesplitter=None, empty_check=False, seed=0)
            .shuffle(256).map(_wds_sample))


# ---------------------------------------------------------------- (d) the limit
_MEM: list[tuple[str, bytes, str, bytes]] = []


def _limit_init(items: list[tuple[str, bytes, str, bytes]]) -> None:
    worker_init()
    _MEM[:] = items
    _limit_chunk((0, 2))  # warm the imports


def _limit_chunk(span: tuple[int, int]) -> int:
    rng = random.Random()
    for key, data, ext, meta in _MEM[span[0]:span[1]]:
        sample(key, data, ext, meta, rng)
    return span[1] - span[0]


# ---------------------------------------------------------------- where the time goes
def stage_profile(shard_dir: str) -> dict[str, float]:
    """One process, one OpenCV thread: ms per sample and minor page faults per sample of each stage of our
    loader's worker pipeline over one epoch (median of 3 epochs)."""
    import resource

    import torch

    from rainset.loader import ShardDataset, collate
    from rainset.loader.decode import crop_flip, decode_bgr, to_tensor

    def crop_tensor(img: Any, draws: Any) -> Any:
        return to_tensor(crop_flip(img, CROP, True, draws), bgr=True)

    worker_init()
    ds = ShardDataset(shard_dir, "train", crop=CROP, seed=0)
    passes: list[dict[str, float]] = []
    n = len(ds)
    for _ in range(3):
        clock = dict.fromkeys(("read", "decode", "crop_tensor", "collate", "share_memory"), 0.0)
        faults = dict.fromkeys(clock, 0)
        items: list[dict[str, Any]] = []
        records = ds.records()

        def timed(stage: str, fn: Any, *a: Any) -> Any:
            f0, t0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt, time.perf_counter()
            out = fn(*a)
            clock[stage] += time.perf_counter() - t0
            faults[stage] += resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0
            return out

        for _ in range(n):
            record, draws = timed("read", next, records)
            img = timed("decode", decode_bgr, record.data, record.ext)
            image = timed("crop_tensor", crop_tensor, img, draws)
            items.append({"key": record.key, "image": image, "meta": record.meta})
            if len(items) == BATCH:
                batch = timed("collate", collate, items)
                timed("share_memory", batch["image"].share_memory_)  # what a worker does to send a batch
                items = []
                del batch
        records.close()
        passes.append({**{f"{k}_ms": 1000 * v / n for k, v in clock.items()},
                       **{f"{k}_faults": v / n for k, v in faults.items()}})
    torch.set_num_threads(1)
    return {k: statistics.median(p[k] for p in passes) for k in passes[0]}


# ---------------------------------------------------------------- the run
_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of this process and of ``pids`` so far (Linux /proc)."""
    mine = os.times()
    total = mine.user + mine.system
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=320, help="images (long side 1024-1600 px)")
    ap.add_argument("--rounds", type=int, default=5, help="timed epochs per case (median reported)")
    ap.add_argument("--data", default="/tmp/rainset-loader-bench", help="data folder (built once, reused)")
    ap.add_argument("--cases", default="a,b,c,d")
    ap.add_argument("--output", choices=("0,1", "raw"), default="0,1",
                    help="what every case yields: float32 crops in [0, 1], or the uint8 crops (value_range 'raw', "
                         "scaled on the device by the trainer) - a quarter of the bytes to pass between processes")
    ap.add_argument("--out", default="bench/results/loader.json")
    ap.add_argument("--malloc", choices=("default", "tuned"), default="default",
                    help="tuned: workers start with MALLOC_MMAP_THRESHOLD_=32 MiB and MALLOC_TRIM_THRESHOLD_=256 MiB, "
                    "so glibc reuses the decode buffers instead of mapping fresh pages for every image")
    ap.add_argument("--nice", type=int, default=0, help="scheduling priority change for this run and its workers "
                    "(negative needs root: favours the benchmark over other load on a shared machine)")
    args = ap.parse_args()
    if args.nice:
        os.nice(args.nice)
    os.environ["RAINSET_BENCH_OUTPUT"] = args.output  # before any worker starts: spawned workers inherit it
    if args.malloc == "tuned":  # read by glibc when a process starts: applies to the spawned workers
        os.environ.update(MALLOC_MMAP_THRESHOLD_=str(32 << 20), MALLOC_TRIM_THRESHOLD_=str(256 << 20))
    import cv2
    import torch

    load_before = os.getloadavg()
    info = build_data(Path(args.data), args.n)
    shard_dir = Path(info["shards"])
    index = json.loads((shard_dir / "index.json").read_text())
    urls = [str(shard_dir / s["url"]) for s in index["splits"]["train"]["shardlist"]]
    files = sorted(str(p) for p in Path(info["files"]).iterdir())
    metas = {}
    for url in urls:
        with tarfile.open(url) as tar:
            for m in tar:
                if m.name.endswith(".json"):
                    metas[m.name[:-5]] = tar.extractfile(m).read().decode()
    cases = args.cases.split(",")
    from rainset.loader import collate

    dl = dict(batch_size=BATCH, num_workers=WORKERS, worker_init_fn=worker_init, collate_fn=collate,
              multiprocessing_context="spawn", persistent_workers=True)
    loaders: dict[str, Any] = {}
    if "a" in cases:
        loaders["a"] = torch.utils.data.DataLoader(FileDataset(files, [metas[Path(f).stem] for f in files]),
                                                   shuffle=True, **dl)
    if "b" in cases:
        loaders["b"] = torch.utils.data.DataLoader(wds_dataset(urls), **dl)
    if "c" in cases:
        from rainset.loader import ShardDataset

        loaders["c"] = torch.utils.data.DataLoader(ShardDataset(str(shard_dir), "train", crop=CROP, seed=0,
                                                                value_range=args.output), **dl)
    pool = None
    if "d" in cases:
        items = []
        for f in files:
            p = Path(f)
            items.append((p.stem, p.read_bytes(), p.suffix[1:], metas[p.stem].encode()))
        half = (len(items) + 1) // 2
        spans = [(0, half), (half, len(items))]
        pool = mp.get_context("spawn").Pool(WORKERS, initializer=_limit_init, initargs=(items,))

    def pids(case: str) -> list[int]:
        if case == "d":
            return [p.pid for p in pool._pool]
        it = loaders[case]._iterator  # persistent workers: the same processes every epoch
        return [w.pid for w in it._workers] if it is not None else []

    def run(case: str) -> tuple[float, int, float]:
        """One epoch: wall seconds, samples, CPU seconds of the main process and the workers."""
        procs = pids(case)
        c0, t0 = cpu_seconds(procs), time.perf_counter()
        if case == "d":
            seen = sum(pool.map(_limit_chunk, spans, chunksize=1))
        else:
            seen = sum(len(b["key"]) for b in loaders[case])
        wall = time.perf_counter() - t0
        return wall, seen, cpu_seconds(procs) - c0

    warm = {c: run(c) for c in cases}  # worker start-up, imports, page cache
    print("warm-up epoch:", {c: f"{s:.2f} s / {k}" for c, (s, k, _) in warm.items()}, flush=True)
    times: dict[str, list[float]] = {c: [] for c in cases}
    counts: dict[str, list[int]] = {c: [] for c in cases}
    cpu: dict[str, list[float]] = {c: [] for c in cases}
    for r in range(args.rounds):
        order = cases[r % len(cases):] + cases[:r % len(cases)]
        for c in order:
            sec, seen, used = run(c)
            times[c].append(sec)
            counts[c].append(seen)
            cpu[c].append(used)
        print(f"round {r + 1}: " + ", ".join(f"{c} {counts[c][-1] / times[c][-1]:.1f}/s "
                                              f"({1000 * cpu[c][-1] / counts[c][-1]:.1f} cpu-ms)" for c in cases),
              flush=True)
    if pool is not None:
        pool.close()
    rate = {c: statistics.median(k / s for k, s in zip(counts[c], times[c])) for c in cases}
    # CPU time per sample (all processes of the case): what the path costs, much less sensitive to the
    # other load on a shared machine than the wall-clock rate.
    cpu_ms = {c: statistics.median(1000 * u / k for k, u in zip(counts[c], cpu[c])) for c in cases}
    best = {c: max(k / s for k, s in zip(counts[c], times[c])) for c in cases}  # the least disturbed epoch
    result = {"machine": {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine(),
                          "python": platform.python_version(), "torch": torch.__version__, "opencv": cv2.__version__,
                          "load_before": load_before, "load_after": os.getloadavg()},
              "data": {**info, "samples": len(files), "crop": CROP, "batch": BATCH, "workers": WORKERS},
              "rounds": args.rounds, "seconds": times, "samples": counts, "cpu_seconds": cpu,
              "nice": args.nice, "malloc": args.malloc, "output": args.output, "samples_per_s": rate, "best_samples_per_s": best, "cpu_ms_per_sample": cpu_ms}
    for x, y in (("c", "b"), ("c", "d")):
        if x in rate and y in rate:
            result[f"{x}_over_{y}"] = rate[x] / rate[y]
            result[f"{x}_over_{y}_best"] = best[x] / best[y]
            # within a round the two cases ran seconds apart: the median of per-round ratios
            # follows slow changes of the other load better than the ratio of the medians
            result[f"{x}_over_{y}_rounds"] = statistics.median(
                (kx / sx) / (ky / sy) for kx, sx, ky, sy in zip(counts[x], times[x], counts[y], times[y]))
            result[f"{x}_over_{y}_cpu"] = cpu_ms[y] / cpu_ms[x]  # >1: x costs less CPU per sample
    names = {"a": "per-file Dataset", "b": "webdataset", "c": "rainset ShardDataset", "d": "limit (2 processes)"}
    for c in cases:
        print(f"({c}) {names[c]:<22} {rate[c]:8.1f} samples/s (best {best[c]:6.1f})  {cpu_ms[c]:6.2f} cpu-ms/sample  "
              f"(epochs {[round(t, 2) for t in times[c]]} s)")
    for k in ("c_over_b", "c_over_d", "c_over_b_rounds", "c_over_d_rounds", "c_over_b_best", "c_over_d_best",
              "c_over_b_cpu", "c_over_d_cpu"):
        if k in result:
            print(f"{k}: {result[k]:.3f}")
    print(f"load average before {load_before}, after {result['machine']['load_after']}")
    result["stages"] = stage_profile(str(shard_dir))
    print("our loader's worker pipeline in one process, per sample: " + ", ".join(
        f"{k} {result['stages'][k + '_ms']:.2f} ms ({result['stages'][k + '_faults']:.0f} page faults)"
        for k in ("read", "decode", "crop_tensor", "collate", "share_memory")))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
