"""Blind eye-typing sets (issue 16, round 5; bench/suggest_eye.py): neutral names, key, score."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from rainset.errors import TypingError
from rainset.suggest.blind import (
    blind_names,
    centre_crop,
    read_key,
    read_typing,
    score_typing,
    write_blind_set,
    write_key,
)


def tiny_captures(labels: list[str]):
    """One small flat-coloured frame per label, its grey level telling which capture it is."""
    for i, label in enumerate(labels):
        img = np.full((60, 80, 3), 10 + 20 * i, np.uint8)
        yield img, label, f"scene-{i}", f"cap/{i}", {}


def test_blind_names_name_every_capture_once_in_a_shuffled_order():
    names = blind_names(30, "r2", 990001)
    assert sorted(b.index for b in names) == list(range(30))
    assert [b.name for b in names] == [f"r2-{j:02d}" for j in range(1, 31)]
    assert [b.index for b in names] != list(range(30))  # shuffled
    assert [b.index for b in blind_names(30, "r2", 990001)] == [b.index for b in names]  # reproducible
    assert [b.index for b in blind_names(30, "r2", 990002)] != [b.index for b in names]


def test_write_blind_set_writes_every_image_once_and_the_key_matches_the_names(tmp_path: Path):
    labels = ["drizzle", "heavy", "streak", "fog-mixed", "no-rain"]
    seen = []
    key = write_blind_set(tiny_captures(labels), 5, "r1", 7, tmp_path,
                          describe=lambda img, exif: seen.append(int(img[0, 0, 0])) or {"grey": int(img[0, 0, 0])})
    files = sorted(p.name for p in tmp_path.iterdir())
    names = sorted(key)
    assert names == [f"r1-0{j}" for j in range(1, 6)]
    assert files == sorted([f"{n}.jpg" for n in names] + [f"{n}-preview.png" for n in names] +
                           [f"{n}-crop.png" for n in names])
    assert sorted(seen) == [10, 30, 50, 70, 90]  # each capture described once
    by_grey = {10 + 20 * i: lab for i, lab in enumerate(labels)}
    for name in names:  # the image under a name is the capture the key names
        img = cv2.imread(str(tmp_path / f"{name}-crop.png"))
        assert img.shape == (60, 80, 3)  # a frame smaller than 512 px is kept whole
        assert by_grey[int(img[0, 0, 0])] == key[name]["rain_type"] == by_grey[key[name]["grey"]]
        assert key[name]["scene"] == f"scene-{(key[name]['grey'] - 10) // 20}"
    write_key(tmp_path / "key.json", key)
    assert read_key(tmp_path / "key.json") == key


def test_write_blind_set_refuses_a_wrong_count(tmp_path: Path):
    with pytest.raises(ValueError, match="expected"):
        write_blind_set(tiny_captures(["drizzle", "heavy"]), 3, "r1", 0, tmp_path)


def test_centre_crop_is_the_centre_at_full_resolution():
    img = np.arange(1200 * 1600, dtype=np.int64).reshape(1200, 1600)
    crop = centre_crop(img)
    assert crop.shape == (512, 512)
    assert crop[0, 0] == img[344, 544]


def test_score_on_a_hand_made_example(tmp_path: Path):
    truth = {"a": "drizzle", "b": "drizzle", "c": "heavy", "d": "streak", "e": "no-rain"}
    (tmp_path / "t.csv").write_text("name,rain_type,reason\na,drizzle,x\nb,heavy,x\nc,heavy,x\nd,drizzle,x\n"
                                    "e,no-rain,x\n")
    typed = read_typing(tmp_path / "t.csv")
    s = score_typing("hand", truth, typed)
    # recalls: drizzle 1/2, heavy 1, streak 0, no-rain 1
    assert s.recall == {"drizzle": 0.5, "heavy": 1.0, "streak": 0.0, "no-rain": 1.0}
    assert math.isclose(s.balanced_accuracy, (0.5 + 1 + 0 + 1) / 4)
    assert math.isclose(s.four_types, (0.5 + 1 + 0) / 3)
    assert s.right == 3
    i = {c: k for k, c in enumerate(s.classes)}
    assert s.confusion[i["drizzle"]][i["heavy"]] == 1 and s.confusion[i["streak"]][i["drizzle"]] == 1


def test_score_refuses_a_typing_that_does_not_match_the_key(tmp_path: Path):
    with pytest.raises(TypingError, match="missing"):
        score_typing("hand", {"a": "heavy", "b": "heavy"}, {"a": "heavy"})
    (tmp_path / "t.csv").write_text("name,rain_type,reason\na,heavy,x\na,drizzle,y\n")
    with pytest.raises(TypingError, match="typed twice"):
        read_typing(tmp_path / "t.csv")
