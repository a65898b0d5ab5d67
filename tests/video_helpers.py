"""Small real videos for tests: a real fixture photo as the background, moving synthetic rain on top,
encoded with PyAV (H.264 when the wheel has libx264, else MPEG-4 Part 2)."""

from __future__ import annotations

import struct
from pathlib import Path

import av
import cv2
import numpy as np

from rainset.synth.rain import rain_layer
from tests.conftest import FIXTURES, skip_or_fail

BACKGROUND = "mspfn-rain100h/model/test/test_data/R100H/cleancrop/1.png"
SIZE = (320, 240)
META = {"creation_time": "2024-05-01T10:00:00.000000Z", "make": "Acme", "model": "RainCam 1",
        "location": "+48.8584+002.2945+035.000/"}
H264 = "libx264" in av.codecs_available


def background() -> np.ndarray:
    """The fixture photo (RGB uint8) cropped and resized to 320x240; skips when fixtures are absent."""
    path = FIXTURES / BACKGROUND
    if not path.is_file():
        skip_or_fail(f"fixture photo not found at {path}")
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    return cv2.resize(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), SIZE, interpolation=cv2.INTER_AREA)


def rainy_frames(n: int, *, seed: int = 0, static_from: int | None = None) -> list[np.ndarray]:
    """``n`` frames: the background with fresh rain each frame; from ``static_from`` on, the frame repeats."""
    bg = background().astype(np.float32)
    frames: list[np.ndarray] = []
    for i in range(n):
        if static_from is not None and i >= static_from:
            frames.append(frames[-1])
            continue
        layer = rain_layer(bg.shape[:2], "streak", np.random.default_rng(seed * 1000 + i))
        frames.append(np.clip(bg + 255.0 * 0.8 * layer[..., None], 0, 255).astype(np.uint8))
    return frames


def write_video(path: Path, frames: list[np.ndarray], *, fps: int = 24, meta: dict[str, str] | None = None,
                codec: str | None = None, options: dict[str, str] | None = None, gop: int | None = None) -> Path:
    """Encode ``frames`` (RGB uint8) into ``path``; the container follows the extension; ``gop``: a key
    frame every that many frames (default: the encoder's, one for these short clips)."""
    codec = codec or ("libx264" if H264 and path.suffix != ".avi" else "mpeg4")
    container = av.open(str(path), "w", options=options or {})
    container.metadata.update(META if meta is None else meta)
    stream = container.add_stream(codec, rate=fps)
    stream.width, stream.height, stream.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
    stream.options = {"crf": "16", "preset": "veryfast"} if codec == "libx264" else {"qscale": "3"}
    if gop:
        stream.codec_context.gop_size = gop
    for img in frames:
        for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    return path


def write_audio(path: Path, seconds: float = 0.25) -> Path:
    """An MP4 container (``ftyp isom``, like a video) holding only an AAC audio stream of silence."""
    container = av.open(str(path), "w", format="mp4")
    stream = container.add_stream("aac", rate=44100)
    stream.layout = "mono"
    for i in range(int(seconds * 44100 / 1024)):
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate, frame.pts = 44100, i * 1024
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    return path


def portrait_mov(src: Path, dest: Path) -> Path:
    """A copy of the MOV ``src`` whose video track header carries a phone's portrait display matrix
    (turn the frames 90° clockwise to show them), patched into ``tkhd`` in place."""
    data = bytearray(src.read_bytes())
    at = data.find(b"tkhd")
    assert at > 0 and data[at + 4] == 0, "a version-0 tkhd"
    # after the type: version+flags, creation, modification, track id, reserved, duration (4 each),
    # reserved (8), layer, alternate group, volume, reserved (2 each); then the 3x3 matrix
    matrix = at + 4 + 4 * 6 + 8 + 2 * 4
    assert struct.unpack(">9i", data[matrix:matrix + 36]) == (1 << 16, 0, 0, 0, 1 << 16, 0, 0, 0, 1 << 30)
    data[matrix:matrix + 36] = struct.pack(">9i", 0, 1 << 16, 0, -(1 << 16), 0, 0, 0, 0, 1 << 30)
    dest.write_bytes(bytes(data))
    return dest
