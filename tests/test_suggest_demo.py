"""The suggest stage of ``rainset demo``: suggestions scored against the generator's truth."""

from __future__ import annotations

import json
from pathlib import Path

from rainset.demo.suggest import demo_stage
from tests.suggest_helpers import ingested, label_with_truth


def test_demo_stage_scores_rules_then_fitted_against_truth(tmp_path: Path) -> None:
    store, truth = ingested(tmp_path)
    plain = demo_stage(store)  # no truth given: only the suggest result
    assert plain.with_truth == 0 and plain.suggest.suggested == 30 and plain.confusion == {}

    rules = demo_stage(store, truth)
    assert rules.suggest.kind == "rules" and rules.with_truth == 30
    assert sum(sum(r.values()) for r in rules.confusion.values()) == 30
    assert rules.correct == sum(r.get(t, 0) for t, r in rules.confusion.items())
    assert rules.correct == rules.rules_correct  # the rules made these suggestions
    assert rules.correct > 30 / 5  # far above chance among five rain types

    label_with_truth(store, truth)
    fitted = demo_stage(store, truth)
    assert fitted.suggest.kind == "fitted" and fitted.rules_correct == rules.rules_correct
    assert fitted.correct == fitted.suggest.agree_with_labels  # the labels are the truth here
    assert fitted.correct >= rules.correct - 3
    data = json.loads(json.dumps(fitted.to_dict()))
    assert data["suggest"]["model"] == fitted.suggest.model and data["correct"] == fitted.correct
    text = "\n".join(fitted.lines())
    assert f"suggestions = truth on {fitted.correct}/30" in text and fitted.suggest.model in text
