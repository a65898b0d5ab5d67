"""Video ingest memory does not grow with a video's length: frames are decoded one at a time and the
kept frames' records are spilled to a frame log (worker) and written back in flushed chunks (driver)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from rainset.store import init_store
from rainset.synth.rain import rain_layer
from tests.video_helpers import background, write_video

# The whole ingest (decode, previews, frame log, catalog rows) in one fresh process, inline (--workers 0).
# VmHWM, not ru_maxrss: Linux carries the spawning process's high-water mark across exec into ru_maxrss.
RSS_SCRIPT = """
import sys
from rainset.ingest import IngestOptions, ingest
from rainset.ingest.video import FrameSampling
from rainset.store import open_store
s = ingest(open_store(sys.argv[1]), [sys.argv[2]], IngestOptions(workers=0, video=FrameSampling(min_change=0)))
hwm = int(next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM:")))
print(s.new_captures, hwm)
"""


class RainyClip(Sequence):
    """``n`` 320x240 frames made on demand (never all in memory): the fixture photo plus one of a few
    rain layers, moved down by a different amount each frame, so that every frame differs."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.bg = background().astype(np.float32)
        self.bank = [rain_layer(self.bg.shape[:2], "streak", np.random.default_rng(i)) for i in range(8)]

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> np.ndarray:  # type: ignore[override]
        if not 0 <= i < self.n:
            raise IndexError(i)
        layer = np.roll(self.bank[i % len(self.bank)], (i * 37) % self.bg.shape[0], axis=0)
        return np.clip(self.bg + 200.0 * layer[..., None], 0, 255).astype(np.uint8)


def _peak_kib(video: Path, store_root: Path) -> tuple[int, int]:
    init_store(store_root)
    out = subprocess.run([sys.executable, "-c", RSS_SCRIPT, str(store_root), str(video)],
                         capture_output=True, text=True, check=True, timeout=600)
    captures, hwm = out.stdout.split()
    return int(captures), int(hwm)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_peak_rss_of_video_ingest_does_not_grow_with_the_number_of_frames(tmp_path: Path) -> None:
    short = write_video(tmp_path / "short.mp4", RainyClip(60))  # type: ignore[arg-type]
    long = write_video(tmp_path / "long.mp4", RainyClip(600))  # type: ignore[arg-type]
    n_short, hwm_short = _peak_kib(short, tmp_path / "s-short")
    n_long, hwm_long = _peak_kib(long, tmp_path / "s-long")
    assert (n_short, n_long) == (60, 600)  # every frame kept: the long video has 10x the records and rows
    # Before the frame log, the 540 extra kept frames (hashes, 3 KB thumbnail, ORM rows each) added
    # 3.3 MiB; now ~0.9 MiB (SQLite's page cache filling up to its 2 MiB bound).
    assert hwm_long - hwm_short < 2048, f"peak RSS grew by {(hwm_long - hwm_short) / 1024:.1f} MiB with 10x the frames"


def test_the_frame_log_gives_back_every_kept_frame_exactly_and_in_chunks(tmp_path: Path) -> None:
    from rainset.capture.video import frame_key
    from rainset.ingest.video_log import FrameLog, KeptFrame, read_frames
    from rainset.records import Hashes, Quality

    store = init_store(tmp_path / "s")
    rng = np.random.default_rng(0)
    sha = "ab" * 32
    frames = [KeptFrame(index=i, pts=None if i == 3 else i / 24, key=frame_key(sha, i),
                        capture_time=None if i % 2 else f"2024-05-01T10:00:{i:02d}.041667+00:00", width=1920,
                        height=1080, hashes=Hashes(phash=f"{i:016x}", dhash=f"{2 * i:016x}", pixel_hash=f"{i:032x}",
                                                   thumb=rng.integers(0, 256, 64 * 48, dtype=np.uint8).tobytes()),
                        quality=Quality(sharpness=float(rng.random()), clip_low=0.01 * i, clip_high=0.5,
                                        megapixels=2.0736))
              for i in range(7)]
    with FrameLog(store, sha) as log:
        for f in frames:
            log.append(f)
    assert log.count == 7 and log.path.parent == store.tmp_dir
    chunks = list(read_frames(log.path, lambda i: frame_key(sha, i), chunk=3))
    assert [len(c) for c in chunks] == [3, 3, 1]
    assert [f for c in chunks for f in c] == frames
    broken = FrameLog(store, sha)
    broken.append(frames[0])
    broken.discard()
    assert not broken.path.exists()
