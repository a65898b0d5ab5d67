"""Suggestions validated by scene, never by capture (issue 16): folds, the learning curve on the second
renderer, the rules' calibration on unseen renderer-1 scenes, the real photos typed by eye, and the
native-resolution measurements of a store's originals."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
from sqlalchemy import select

from rainset.catalog.db import catalog_session
from rainset.catalog.models import Capture, Group, GroupMember
from rainset.ingest import IngestOptions, ingest
from rainset.rainstats import load_stats, measure, measure_store
from rainset.store import init_store
from rainset.suggest.folds import fold_count, scene_folds
from rainset.suggest.run import scene_groups
from rainset.suggest.validation import (
    RAIN_TYPES,
    LabelledSet,
    balanced_accuracy,
    expected_calibration_error,
    learning_curve,
    majority_baseline,
    read_real_types,
    real_layer_set,
    real_set,
    renderer1_set,
    renderer2_set,
    score_rules,
    transfer_curve,
)
from rainset.suggest.rules import RULES_V3, RULES_V4, RULES_V5
from rainset.suggest.shift import medians, transfer
from rainset.suggestions import UNSURE_BELOW
from rainset.synth import render_scene
from rainset.synth.depth_rain import render_depth_rain

TYPES_FILE = Path(__file__).resolve().parent / "data" / "real_rain_types.csv"
TAXONOMY = (*RAIN_TYPES, "not-usable")


def test_scene_folds_keep_every_scene_whole_and_spread_the_types() -> None:
    scenes = [f"s{i // 3}" for i in range(60)]  # 20 scenes of 3 captures
    labels = [RAIN_TYPES[(i // 3) % 5] for i in range(60)]
    k = fold_count(scenes, labels)
    assert k == 10  # leave-one-scene-out up to 10 folds
    folds = scene_folds(scenes, labels, k)
    assert sorted(np.concatenate(folds).tolist()) == list(range(60))  # every capture in exactly one fold
    for f in folds:
        inside = {scenes[i] for i in f}
        outside = {scenes[i] for i in range(60) if i not in set(f.tolist())}
        assert not inside & outside  # a scene never sits on both sides
    assert fold_count(["a"] * 4, ["heavy"] * 4) == 0


def test_balanced_accuracy_baseline_and_calibration_error() -> None:
    truth = ["heavy"] * 8 + ["drizzle"] * 2
    assert balanced_accuracy(truth, ["heavy"] * 10) == 0.5  # the majority class scores 1 / types, not 0.8
    assert majority_baseline(truth) == ("heavy", 0.8, 0.5)
    assert expected_calibration_error([0.9] * 10, [True] * 9 + [False]) == pytest.approx(0.0)
    assert expected_calibration_error([0.9] * 10, [True] * 5 + [False] * 5) == pytest.approx(0.4)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_fitted_model_learns_rain_not_scenes_on_the_second_renderer() -> None:
    data = renderer2_set(4, captures_per_scene=2, size=(1280, 960))
    assert len(set(data.scenes)) == 4 * len(RAIN_TYPES) and len(data.labels) == 2 * len(set(data.scenes))
    curve, confusion = learning_curve(data, [2], repeats=2)
    point = curve[0]
    # trained on the captures of 2 scenes per type, scored only on captures of the 2 other scenes
    assert point.train_captures == point.test_captures == 2 * 2 * len(RAIN_TYPES)
    assert sum(map(sum, confusion)) == 2 * point.test_captures
    assert point.balanced_accuracy >= 0.6, curve  # chance is 0.2
    assert point.ece <= 0.3, curve


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_rules_are_calibrated_probabilities_on_unseen_renderer1_scenes() -> None:
    data = renderer1_set(8, seed=2)  # seeds 0 and 1 set the thresholds and the calibration
    score = score_rules(data, TAXONOMY, UNSURE_BELOW)
    assert score.balanced_accuracy >= 0.7, score
    # rules-v6 (the default) pool both renderers' decisions: on unseen renderer-1 scenes they are
    # not overconfident either, and what the UI pre-selects is right 4 times in 5 (round 3's goal)
    assert score.overconfidence <= 0.05, score
    assert 0.3 < score.mean_confidence < 1.0
    assert score.sure_accuracy >= 0.8, score
    # rules-v5 claim the lower of two renderers' probabilities: underconfident on renderer 1, never
    # overconfident, and the suggestions they pre-select are right more often than the others
    v5 = score_rules(data, TAXONOMY, UNSURE_BELOW, RULES_V5)
    assert v5.balanced_accuracy == score.balanced_accuracy and v5.overconfidence <= 0.05, v5
    assert v5.sure_accuracy >= v5.balanced_accuracy + 0.05, v5


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_shown_suggestions_are_right_on_a_fresh_second_renderer_set() -> None:
    # seed 950001: drawn for this test only (not the bench's tuning 940001 or test 930001-930003)
    data = renderer2_set(6, captures_per_scene=1, seed=950_001)
    score = score_rules(data, TAXONOMY, UNSURE_BELOW)
    released = score_rules(data, TAXONOMY, UNSURE_BELOW, RULES_V3)  # one renderer-1 calibration
    v4 = score_rules(data, TAXONOMY, UNSURE_BELOW, RULES_V4)
    assert v4.balanced_accuracy == released.balanced_accuracy  # rules-v4: rules-v3's decisions, new confidences
    assert score.balanced_accuracy >= v4.balanced_accuracy, (score, v4)  # rules-v5: rule 4 split by splashes
    assert score.coverage >= 0.15, score  # some suggestions are shown at all
    assert score.sure_accuracy >= 0.8, score  # shown suggestions are right (goal of issue 16, round 2)
    assert score.shown_wrong <= released.shown_wrong, (score, released)
    assert score.overconfidence <= 0.1, score


def test_real_photo_types_were_typed_with_a_reason_and_a_scene() -> None:
    rows = read_real_types(TYPES_FILE)
    assert len(rows) >= 25
    allowed = {*TAXONOMY}
    for r in rows:
        assert r["rain_type"] in allowed and r["kind"] in ("real", "derained", "synthetic"), r
        assert len(r["reason"]) > 10 and r["scene"], r
    by_path = {r["path"]: r for r in rows}
    # the same photo in several files is one scene (what a dedupe scene group is for)
    assert by_path["nlcl-realrain/datasets/RealRain/trainA/Eg1.png"]["scene"] == \
        by_path["nlcl-realrain/datasets/RealRain/valA/Eg1.JPG"]["scene"]
    assert {r["rain_type"] for r in rows if "cleancrop" in r["path"]} == {"no-rain"}


@pytest.mark.timeout(240)
def test_rules_on_real_photos_report_balanced_accuracy_against_the_majority(fixtures_dir: Path) -> None:
    data = real_set(fixtures_dir, TYPES_FILE)
    assert len(data.labels) == sum(1 for r in read_real_types(TYPES_FILE) if r["kind"] in ("real", "derained"))
    score = score_rules(data, TAXONOMY, UNSURE_BELOW)
    top, _, top_balanced = majority_baseline(data.labels)
    assert top == "no-rain" and top_balanced == pytest.approx(1 / len(set(data.labels)))
    assert sum(map(sum, score.confusion)) == len(data.labels)
    # measured at native resolution: every real rainy photo of RealRain shows bright rain outliers
    realrain = [v for v, f, lab in zip(data.values, data.files, data.labels) if "RealRain/valA" in f]
    assert all(v["rain_sign"] > 0 for v in realrain)
    assert 0.0 <= score.balanced_accuracy <= 1.0 and score.ece >= 0.0


def test_store_measures_the_original_at_native_resolution(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    clean = render_scene(np.random.default_rng(5), 2400, 1800)
    rgb = render_depth_rain(clean, "streak", np.random.default_rng(6)).image
    cv2.imwrite(str(src / "streak.jpg"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92])
    store = init_store(tmp_path / "store")
    ingest(store, [str(src)], IngestOptions(workers=1))
    measure_store(store, workers=1)
    with catalog_session(store.db_url) as s:
        (stored,) = load_stats(s, _ids(s)).values()
    preview_path = next((tmp_path / "store" / "previews").rglob("*.jpg"))
    preview = cv2.cvtColor(cv2.imread(str(preview_path)), cv2.COLOR_BGR2RGB)
    assert max(preview.shape[:2]) < 2400  # the preview is smaller than the original
    original = cv2.cvtColor(cv2.imread(str(src / "streak.jpg")), cv2.COLOR_BGR2RGB)
    native = measure(preview, detail=original).to_dict()
    from_preview = measure(preview).to_dict()
    assert stored["rain_sign"] == pytest.approx(native["rain_sign"], abs=1e-6)
    assert stored["rain_sign"] != pytest.approx(from_preview["rain_sign"], abs=1e-6)


def _ids(session) -> list[str]:
    return list(session.scalars(select(Capture.id)))


def test_labelled_set_subset_keeps_scenes() -> None:
    data = LabelledSet("x")
    for i in range(6):
        data.add({"rain_sign": 0.1 * i}, RAIN_TYPES[i % 2], f"s{i // 2}", f"f{i}")
    sub = data.subset([0, 1])
    assert sub.scenes == ["s0", "s0"] and sub.labels == [RAIN_TYPES[0], RAIN_TYPES[1]]
    with open(TYPES_FILE, newline="", encoding="utf-8") as fh:
        assert next(csv.reader(fh)) == ["path", "rain_type", "kind", "scene", "reason"]


def test_a_stores_scenes_are_its_connected_dedupe_groups(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for i in range(4):
        rgb = render_scene(np.random.default_rng(40 + i), 160, 120)
        cv2.imwrite(str(src / f"{i}.jpg"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    store = init_store(tmp_path / "store")
    ingest(store, [str(src)], IngestOptions(workers=1))
    with catalog_session(store.db_url) as s:
        ids = sorted(_ids(s))
        assert len(ids) == 4
        burst, cluster = Group(kind="burst", info={}), Group(kind="cluster", info={})
        s.add_all([burst, cluster])
        s.flush()
        s.add_all([GroupMember(group_id=burst.id, capture_id=ids[0], relation="burst"),
                   GroupMember(group_id=burst.id, capture_id=ids[1], relation="burst"),
                   GroupMember(group_id=cluster.id, capture_id=ids[1], relation="near-duplicate"),
                   GroupMember(group_id=cluster.id, capture_id=ids[2], relation="near-duplicate")])
        s.flush()
        scenes = scene_groups(s, ids)
    # 0-1 share a burst and 1-2 a cluster: one scene; 3 is alone
    assert scenes[ids[0]] == scenes[ids[1]] == scenes[ids[2]] == ids[0] and scenes[ids[3]] == ids[3]


def _two_renderers() -> tuple[LabelledSet, LabelledSet]:
    """Renderer A and B: ``rain`` separates heavy from drizzle on the same scale in both; ``style``
    separates them only in A (in B it is the renderer's constant)."""
    a, b = LabelledSet("a"), LabelledSet("b")
    rng = np.random.default_rng(0)
    for i in range(40):
        t = ("heavy", "drizzle")[i % 2]
        level = 1.0 if t == "heavy" else 0.2
        a.add({"rain": level + rng.normal(0, 0.05), "style": level + rng.normal(0, 0.05)}, t, f"a{i // 2}")
        b.add({"rain": 1.1 * level + rng.normal(0, 0.05), "style": 5.0 + rng.normal(0, 0.05)}, t, f"b{i // 2}")
    return a, b


def test_shift_finds_the_measurement_that_moves_with_the_renderer() -> None:
    a, b = _two_renderers()
    by = {(t.feature, t.split): t for t in transfer(["rain", "style"], a.values, a.labels, b.values, b.labels)}
    rain, style = by[("rain", "heavy / drizzle")], by[("style", "heavy / drizzle")]
    assert rain.tuning == style.tuning == 1.0  # both separate the types on the tuning renderer
    assert rain.test == 1.0 and style.test == 0.5  # only one still does on the other renderer
    m = medians(["rain"], b.values, b.labels, ["heavy", "drizzle", "streak"])
    assert m["rain"]["heavy"] > m["rain"]["drizzle"] and math.isnan(m["rain"]["streak"])


def test_transfer_curve_scores_unseen_scenes_and_the_other_renderer() -> None:
    a, b = LabelledSet("a"), LabelledSet("b")
    rng = np.random.default_rng(1)
    for i in range(40):  # 20 scenes of 2 captures, one rain type each; the model reads rain_spots_half
        t = ("heavy", "drizzle")[(i // 2) % 2]
        level = 0.01 if t == "heavy" else 0.001
        a.add({"rain_spots_half": level * rng.uniform(0.8, 1.2)}, t, f"a{i // 2}")
        b.add({"rain_spots_half": level * rng.uniform(0.8, 1.2)}, t, f"b{i // 2}")
    (point,) = transfer_curve(a, b, [3], repeats=2, classes=("heavy", "drizzle"))
    assert point.train_captures == 2 * 3 * 2 and point.unseen_captures == 40 - point.train_captures
    assert point.other_captures == 40
    assert point.unseen_balanced_accuracy == 1.0  # the fitted model separates unseen scenes of its renderer
    assert point.other_balanced_accuracy == 1.0 and 0.0 <= point.other_ece <= 1.0


@pytest.mark.timeout(240)
def test_real_rain_layers_are_typed_from_the_typing_file(fixtures_dir: Path) -> None:
    data = real_layer_set(fixtures_dir, TYPES_FILE, captures_per_layer=1, size=(800, 600))
    typed = {r["path"]: r["rain_type"] for r in read_real_types(TYPES_FILE)}
    assert len(data.labels) == 7 and len(set(data.scenes)) == 7  # Rain100H 1-5, two Rain100L pairs
    assert set(data.labels) == {typed["mspfn-rain100h/model/test/test_data/R100H/inputcrop/1.png"]}
    assert all(v["rain_spots_half"] is not None for v in data.values)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_rules_recognise_heavy_rain_of_the_second_renderer() -> None:
    # issue 16: rules-v2 read every heavy capture of renderer 2 as drizzle (its bright-excess
    # threshold measured renderer 1's white drops); rules-v3 reads the rain that survives halving
    data = renderer2_set(6, captures_per_scene=1, seed=900_000)  # scenes the bench never drew
    score = score_rules(data, TAXONOMY, UNSURE_BELOW)
    assert score.recall["heavy"] >= 0.5, score  # chance among five types is 0.2
    assert score.recall["no-rain"] >= 0.8 and score.recall["fog-mixed"] >= 0.8, score
