"""Peak memory of ingest on the bomb files of issue 19, with the default settings.

Cases (made in a temporary folder, nothing downloaded):
- ``sparse``: a real 64x64 PNG extended with ``truncate`` to 2 GiB (zeros: 178 M empty chunks);
- ``bomb``: a 1.9 KB PNG whose IHDR declares 15800x15800 RGBA at 16 bits (2.0 GB decoded).

Each case is ingested into a fresh store by a spawned ``python -c`` child (``--workers 1`` runs
in the child itself; ``--workers 2`` in a pool of two spawned processes); the child reports
``ru_maxrss`` of itself and of its own children (the largest single process). Also timed:
``read_exif`` of the 2 GiB sparse PNG through an mmap (the bounded chunk walk).

    .venv/bin/python bench/ingest_memory.py [--json]
"""

from __future__ import annotations

import argparse
import json
import mmap
import os
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import cv2
import numpy as np

from rainset.capture import read_exif
from rainset.store import init_store

CHILD = """
import resource, sys, time
from rainset.ingest import IngestOptions, ingest
from rainset.store import open_store
t = time.perf_counter()
s = ingest(open_store(sys.argv[1]), [sys.argv[2]], IngestOptions(workers=int(sys.argv[3])))
own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(own, kids, round(time.perf_counter() - t, 2), ",".join(s.rejects_by_reason) or "stored")
"""


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def make_cases(folder: Path) -> dict[str, Path]:
    ok, enc = cv2.imencode(".png", np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8))
    assert ok
    sparse = folder / "sparse" / "sparse.png"
    sparse.parent.mkdir()
    sparse.write_bytes(enc.tobytes())
    os.truncate(sparse, 2 << 30)
    bomb = folder / "bomb" / "bomb.png"
    bomb.parent.mkdir()
    ihdr = struct.pack(">IIBBBBB", 15800, 15800, 16, 6, 0, 0, 0)
    bomb.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(b"\x00" * 4096))
                     + _chunk(b"IEND", b""))
    return {"sparse": sparse, "bomb": bomb}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        cases = make_cases(Path(tmp))
        with open(cases["sparse"], "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            t = time.perf_counter()
            read_exif(mm, "png", "sparse.png")  # type: ignore[arg-type]  # an mmap slices like bytes
            exif_s = time.perf_counter() - t
        for name, path in cases.items():
            for workers in (1, 2):
                store = init_store(Path(tmp) / f"store-{name}-{workers}")
                out = subprocess.run([sys.executable, "-c", CHILD, str(store.root), str(path.parent), str(workers)],
                                     capture_output=True, text=True, check=True)
                own, kids, seconds, result = out.stdout.split()
                rows.append({"case": name, "workers": workers, "file_bytes": path.stat().st_size,
                             "peak_rss_mb": round(max(int(own), int(kids)) / 1024, 1),
                             "driver_rss_mb": round(int(own) / 1024, 1), "seconds": float(seconds), "result": result})
    load = os.getloadavg()
    report = {"read_exif_sparse_2gib_s": round(exif_s, 4), "runs": rows, "cpus": os.cpu_count(),
              "loadavg": [round(x, 2) for x in load]}
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"read_exif on the 2 GiB sparse PNG: {exif_s * 1000:.1f} ms")
    for r in rows:
        print(f"{r['case']:7s} workers={r['workers']}  {r['file_bytes']:>11d} B  peak RSS {r['peak_rss_mb']:7.1f} MB "
              f"(driver {r['driver_rss_mb']:.1f})  {r['seconds']:.2f} s  {r['result']}")
    print(f"cpus {os.cpu_count()}, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
