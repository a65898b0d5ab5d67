"""A JPEG's header is parsed once per file: the size read from the first bytes (the budget check)
is handed to the decode when those bytes held the whole header, and the decode is unchanged."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from rainset.capture import check_header_budget, decode_working
from rainset.capture import checks
from rainset.ingest import stage
from rainset.ingest.sources import walk_local
from rainset.store import init_store

W, H = 1600, 1200


def _jpeg(comment_bytes: int = 0) -> bytes:
    """A W×H photo-like JPEG; ``comment_bytes`` of COM segments just before its first scan."""
    rng = np.random.default_rng(3)
    y, x = np.mgrid[0:H, 0:W]
    rgb = np.stack([x * 255 // (W - 1), y * 255 // (H - 1), rng.integers(0, 256, (H, W))], axis=2).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(rgb, "RGB").save(buf, "JPEG", quality=85)
    data = buf.getvalue()
    sos = data.find(b"\xff\xda")
    pad = b""
    while len(pad) < comment_bytes:
        n = min(60000, comment_bytes - len(pad))
        pad += b"\xff\xfe" + (n + 2).to_bytes(2, "big") + b"c" * n
    return data[:sos] + pad + data[sos:]


def _budget(head: bytes) -> tuple[int, int] | None:
    return check_header_budget(head, "x.jpg", "jpeg", max_pixels=250_000_000, min_side=400,
                               max_decode_bytes=1 << 30)


def test_size_is_handed_on_only_when_the_head_holds_the_whole_header() -> None:
    data = _jpeg(comment_bytes=200_000)
    sos = data.find(b"\xff\xda")
    assert _budget(data) == (W, H)
    assert _budget(data[:sos + 20]) == (W, H)  # the first scan's header is inside: whole
    assert _budget(data[:sos]) is None  # cut just before the scan: size known, header not whole
    assert _budget(data[:sos - 100_000]) is None  # cut inside the comments: decided on the whole file


@pytest.mark.parametrize("orientation", [None, 6])
def test_decode_with_the_handed_size_is_the_same_frame(orientation: int | None) -> None:
    data = _jpeg()
    size = _budget(data)
    assert size == (W, H)
    kwargs = {"orientation": orientation, "max_pixels": 250_000_000, "min_side": 400}
    plain = decode_working(data, "x.jpg", "jpeg", **kwargs)
    handed = decode_working(data, "x.jpg", "jpeg", header_size=size, **kwargs)
    assert np.array_equal(plain.image, handed.image)
    assert (plain.width, plain.height, plain.decoder, plain.warnings) == (
        handed.width, handed.height, handed.decoder, handed.warnings)


def test_ingest_stage_opens_each_jpeg_header_once(tmp_path: Path, monkeypatch) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(_jpeg())
    opened: list[int] = []
    real_open = checks.Image.open

    def counting_open(fp, *args, **kwargs):
        opened.append(1)
        return real_open(fp, *args, **kwargs)

    monkeypatch.setattr(checks.Image, "open", counting_open)
    store = init_store(tmp_path / "store")
    (src,) = walk_local(str(folder))
    result = stage.process_file(src, store, stage.StageOptions(working_min_side=400))
    assert result.reject_reason is None
    assert (result.width, result.height) == (W, H)
    assert len(opened) == 1
