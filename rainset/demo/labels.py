"""The labels stage of ``rainset demo``: three annotators label the demo captures through the queue.

Each annotator takes captures with :func:`next_capture` and labels them with the generator's
truth (the rain type of each shot), except for one deliberate disagreement, which a reviewer
then settles from the review queue. The result reports counts, agreement and how many
consensus labels match the truth.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from rainset.catalog.db import open_catalog
from rainset.catalog.models import Capture, File
from rainset.labels.agreement import agreement_report, review_queue
from rainset.labels.consensus import current_labels
from rainset.labels.queue import next_capture
from rainset.labels.record import adjudicate, record_label
from rainset.labels.taxonomy import store_taxonomy
from rainset.labels.users import add_user, get_user

ANNOTATORS = ("ana", "bram", "chen")
REVIEWER = "rita"


@dataclass(frozen=True)
class DemoLabels:
    """What the labels stage of the demo did (part of the demo's ``--json`` output)."""

    annotators: tuple[str, ...]
    reviewer: str
    k: int
    captures_active: int  # the ones not labelled are near-duplicates held back from the queue
    captures_labelled: int
    labels: int
    disagreements: int
    adjudicated: int
    alpha: float | None
    consensus_matches_truth: int
    review_queue_left: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def lines(self) -> list[str]:
        alpha = "n/a" if self.alpha is None else f"{self.alpha:.3f}"
        return [f"labels: {len(self.annotators)} annotators (K = {self.k}) gave {self.labels} labels to "
                f"{self.captures_labelled} of {self.captures_active} captures (the rest: near-duplicates not "
                f"queued); alpha {alpha}; {self.disagreements} disagreement(s), "
                f"{self.adjudicated} adjudicated by {self.reviewer}; consensus = truth on "
                f"{self.consensus_matches_truth}/{self.captures_labelled}"]


def truth_by_capture(session: Any, truth: Any) -> dict[str, str]:
    """Rain type of each capture, from the generator's truth (matched through the files' paths)."""
    root = Path(truth.root)
    by_uri = {str((root / f.path).resolve()): f.rain_type for f in truth.files if f.rain_type}
    out: dict[str, str] = {}
    for uri, capture_id in session.execute(select(File.uri, File.capture_id)):
        if uri in by_uri:
            out.setdefault(capture_id, by_uri[uri])
    return out


def _other(rain_type: str, taxonomy: tuple[str, ...]) -> str:
    return next(t for t in taxonomy if t != rain_type)


def demo_stage(store: Any, truth: Any) -> DemoLabels:
    """Create three annotators and a reviewer, label every capture K times, adjudicate the disagreement."""
    tax = store_taxonomy(store)
    kw = {"taxonomy": list(tax.rain_types), "taxonomy_version": tax.version}
    k = int(store.settings["annotators_per_capture"])
    catalog = open_catalog(store.db_url)
    try:
        with catalog.session() as s:
            users = [get_user(s, add_user(s, name, "annotator").id) for name in ANNOTATORS]
            reviewer = get_user(s, add_user(s, REVIEWER, "reviewer").id)
            expected = truth_by_capture(s, truth)
        disagreed = False
        active = list(users)
        step = 0
        while active:
            for user in list(active):
                with catalog.session() as s:
                    item = next_capture(s, user, k=k)
                    if item is None:
                        active.remove(user)
                        continue
                    rain = expected.get(item.capture_id, "unsure")
                    if rain not in tax.rain_types:
                        rain = "unsure"
                    if not disagreed and user.name == ANNOTATORS[1]:
                        rain, disagreed = _other(rain, tax.rain_types), True
                    record_label(s, user, item.capture_id, rain, duration_ms=1500 + 137 * (step % 11), **kw)
                    step += 1
        with catalog.session() as s:
            queue = review_queue(s)
            for cap in queue:
                adjudicate(s, reviewer, cap.capture_id, expected.get(cap.capture_id, "unsure"), **kw)
            report = agreement_report(s)
            labels = current_labels(s)
            left = len(review_queue(s))
            active = s.scalar(select(func.count()).select_from(Capture).where(Capture.status == "active")) or 0
    finally:
        catalog.close()
    labelled = [c for c in labels.values() if c.labels]
    return DemoLabels(annotators=ANNOTATORS, reviewer=REVIEWER, k=k, captures_active=active,
                      captures_labelled=len(labelled),
                      labels=sum(len(c.labels) for c in labelled), disagreements=report.n_disagreements,
                      adjudicated=len(queue), alpha=report.overall_alpha,
                      consensus_matches_truth=sum(1 for c in labelled if c.rain_type == expected.get(c.capture_id)),
                      review_queue_left=left)
