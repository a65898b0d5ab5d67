"""The suggest stage of ``rainset demo``: measure, suggest, and compare with the generator's truth.

Run it after the labels stage and before the manifest stage, so that the exported version carries
the ``rain_*`` measurement columns and the report shows the suggestions.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from rainset.catalog.db import catalog_session
from rainset.demo.labels import truth_by_capture
from rainset.labels.taxonomy import store_taxonomy
from rainset.store import Store
from rainset.suggest.run import SuggestResult, load_measurements, suggest_store
from rainset.suggest.rules import classify
from rainset.suggestions import current_suggestions


@dataclass(frozen=True)
class SuggestDemo:
    """What the suggest stage of the demo did, and how its suggestions compare with the truth."""

    suggest: SuggestResult
    with_truth: int  # suggested captures whose true rain type the generator knows
    correct: int  # suggestions equal to the truth (the fitted model has seen the demo's labels)
    rules_correct: int  # what the label-free rules would have got right on the same captures
    confusion: dict[str, dict[str, int]]  # truth -> suggestion -> count

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "suggest": self.suggest.to_dict()}

    def lines(self) -> list[str]:
        out = list(self.suggest.lines())
        if self.with_truth:
            out.append(f"  suggestions = truth on {self.correct}/{self.with_truth} captures "
                       f"(rules alone: {self.rules_correct}/{self.with_truth}); try: rainset suggest show CAPTURE")
        return out


def demo_stage(store: Store, truth: Any = None) -> SuggestDemo:
    """Run ``suggest_store`` on the demo store; with the generator's ``truth``, score the suggestions."""
    result = suggest_store(store)
    if truth is None:
        return SuggestDemo(result, 0, 0, 0, {})
    taxonomy = store_taxonomy(store).rain_types
    with catalog_session(store.db_url) as s:
        expected = truth_by_capture(s, truth)
        suggested = current_suggestions(s, list(expected))
        values = load_measurements(s, list(suggested), rain_layer=False)
    confusion: dict[str, dict[str, int]] = {}
    correct = rules_correct = 0
    for cid, view in suggested.items():
        t = expected[cid]
        row = confusion.setdefault(t, {})
        row[view.rain_type] = row.get(view.rain_type, 0) + 1
        correct += view.rain_type == t
        decision = classify(values.get(cid, {}), taxonomy)
        rules_correct += decision is not None and decision.rain_type == t
    return SuggestDemo(result, len(suggested), correct, rules_correct, confusion)
