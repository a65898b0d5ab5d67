"""Small shard folders that follow the shard contract (docs/loader.md), written from synthetic arrays.

The tests of the loader use these for speed; tests/test_loader_real.py also reads shards built by
the real ``rainset shards`` writer.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TypeVar

import cv2
import numpy as np

from rainset.shards.index import index_document, write_indexes
from rainset.shards.tarwrite import ShardWriter

T = TypeVar("T")
RAIN_CYCLE = ("drizzle", "heavy", "no-rain", "streak", None, "no-rain")


def sample_image(i: int, height: int, width: int, *, depth: int = 8) -> np.ndarray:
    """A BGR test image: noise whose mean encodes nothing in particular, but differs per sample."""
    rng = np.random.default_rng(i)
    peak = 255 if depth == 8 else 65535
    return rng.integers(0, peak + 1, (height, width, 3), dtype=np.uint8 if depth == 8 else np.uint16)


def write_shards(root: Path, shard_sizes: dict[str, Sequence[int]] | Sequence[int] = (5, 7, 3, 8), *,
                 size: tuple[int, int] = (40, 56), fmt: str = "jpg", raw: bool = False) -> Path:
    """Write ``rain-{split}-{i:06d}.tar`` shards and ``index.json`` into ``root`` with the real shard
    writer's tar and index code (rainset.shards); returns ``root``.

    ``shard_sizes`` lists the samples of each shard (a plain list: the train split only). Sample
    ``n`` of a split has key ``{split}{n:05d}``, rain type ``RAIN_CYCLE[n % 6]`` and meta ``{"n": n}``.
    """
    root.mkdir(parents=True, exist_ok=True)
    splits = shard_sizes if isinstance(shard_sizes, dict) else {"train": shard_sizes}
    infos = {}
    for split, sizes in splits.items():
        infos[split], n = [], 0
        for s, count in enumerate(sizes):
            writer = ShardWriter(root / f"rain-{split}-{s:06d}.tar")
            for _ in range(count):
                key, rain = f"{split}{n:05d}", RAIN_CYCLE[n % len(RAIN_CYCLE)]
                meta = {"sample_id": key, "split": split, "rain_type": rain, "n": n}
                ok, enc = cv2.imencode(f".{fmt}", sample_image(n, *size, depth=16 if fmt == "tiff" else 8))
                assert ok
                members = [("json", json.dumps(meta, sort_keys=True).encode()), (fmt, enc.tobytes())]
                writer.add_sample(key, members + ([("dng", b"RAW" * 100)] if raw else []), rain or "unlabelled", fmt)
                n += 1
            infos[split].append(writer.close())
    settings = {"format": fmt, "max_side": None, "target_size": 1 << 20, "with_raw": raw, "quality": 95}
    write_indexes(root, index_document(root.name, root.name, settings, infos, []))
    return root


def all_keys(split: str, n: int) -> list[str]:
    """The keys ``write_shards`` gives a split of ``n`` samples."""
    return [f"{split}{i:05d}" for i in range(n)]


def dataloader_order(per_worker: Sequence[Sequence[T]], batch_size: int) -> list[T]:
    """The order a torch DataLoader delivers workers' streams in: whole batches, workers in turn."""
    batches = [[list(s[i:i + batch_size]) for i in range(0, len(s), batch_size)] for s in per_worker]
    out: list[T] = []
    for r in range(max((len(b) for b in batches), default=0)):
        for worker_batches in batches:
            if r < len(worker_batches):
                out.extend(worker_batches[r])
    return out


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the stdlib's name
        pass


@contextmanager
def http_folder(folder: Path) -> Iterator[str]:
    """Serve ``folder`` over HTTP on 127.0.0.1 (ephemeral port) in a thread; yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
