"""pairs.json round trip and its refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rainset.pairs.pairset import INDEX_NAME, Pair, PairSet, pair_id, pairset_dir, read_index, write_index


def _pair(i: int, accepted: bool) -> Pair:
    pid = pair_id("ab" * 32, i)
    return Pair(pair_id=pid, capture_id=f"c{i}", video_sha256="ab" * 32, frame_index=i, frame_pts=i / 24, segment=0,
                rainy=f"rainy/{pid}.png", clean=f"clean/{pid}_clean.png", mask=f"mask/{pid}_mask.png",
                quality=0.9 if accepted else 0.1, accepted=accepted, residual_motion=0.1, light_change=0.02,
                masked_fraction=0.05, rain_fraction=0.1)


def test_round_trip(tmp_path: Path) -> None:
    ps = PairSet(name="a", method="median", threshold=0.5, created="2026-12-06T00:00:00Z",
                 settings={"window": 48}, pairs=(_pair(0, True), _pair(5, False)))
    write_index(tmp_path, ps)
    back = read_index(tmp_path)
    assert back == ps
    assert [p.frame_index for p in back.accepted()] == [0]
    assert pair_id("ab" * 32, 5) == "abababababababab-5"
    assert pairset_dir("/s", "x") == Path("/s/pairs/x")
    assert not [p for p in tmp_path.iterdir() if p.name != INDEX_NAME]


def test_missing_and_foreign_formats_are_refused(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_index(tmp_path)
    (tmp_path / INDEX_NAME).write_text(json.dumps({"format": 99, "pairs": []}))
    with pytest.raises(ValueError, match="format 99"):
        read_index(tmp_path)
    (tmp_path / INDEX_NAME).write_text(json.dumps({"format": 1, "pairs": [], "name": "x"}))
    with pytest.raises(ValueError, match="pairs.json"):
        read_index(tmp_path)
