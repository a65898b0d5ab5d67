"""Agreement between annotators: Krippendorff's alpha, a confusion matrix, per-annotator statistics.

Alpha is computed here from its definition (Krippendorff, *Computing Krippendorff's
Alpha-Reliability*, 2011), for nominal data:

    alpha = 1 - (n - 1) * sum_{c != k} o_ck / sum_{c != k} n_c * n_k

where a unit (capture) with m_u >= 2 values adds 1 / (m_u - 1) to the coincidence o_ck for every
ordered pair of its values (c, k) taken from two different coders, n_c = sum_k o_ck is how often
value c was used in pairable units, and n = sum_c n_c. Units with fewer than two values cannot be
paired and are left out. Alpha is 1 for perfect agreement, 0 when coders agree as often as chance
would have them, negative below chance; it is undefined (``None``) when nothing is pairable or
when every pairable value is the same (no variation, so no expected disagreement).
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from itertools import permutations
from typing import Hashable, Mapping, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from rainset.capture_paths import representative_paths
from rainset.catalog.labels_tables import LabelTiming
from rainset.catalog.models import Capture, Label, User
from rainset.labels.consensus import CaptureLabels, current_labels


def krippendorff_alpha(units: Mapping[Hashable, Sequence[Hashable]]) -> float | None:
    """Nominal Krippendorff's alpha of ``units`` (unit → the values its coders gave; missing left out).

    Returns:
        Alpha, or ``None`` when it is undefined (no unit with two values, or no variation).
    """
    coincidence: Counter[tuple[Hashable, Hashable]] = Counter()
    for values in units.values():
        m = len(values)
        if m < 2:
            continue
        for c, k in permutations(values, 2):
            coincidence[(c, k)] += 1 / (m - 1)
    totals: Counter[Hashable] = Counter()
    for (c, _), weight in coincidence.items():
        totals[c] += weight
    n = sum(totals.values())
    expected = n * n - sum(v * v for v in totals.values())  # sum over c != k of n_c * n_k
    if n == 0 or expected <= 1e-12:
        return None
    observed = sum(w for (c, k), w in coincidence.items() if c != k)
    return 1.0 - (n - 1) * observed / expected


def binary_alpha(units: Mapping[Hashable, Sequence[Hashable]], label: Hashable) -> float | None:
    """Alpha of the yes/no question "is it ``label``?" over the same units."""
    return krippendorff_alpha({u: [v == label for v in values] for u, values in units.items()})


def pair_confusion(units: Mapping[Hashable, Sequence[str]]) -> dict[str, dict[str, int]]:
    """Counts of ordered pairs (label of one annotator, label of another) on the same capture.

    Every pair is counted in both orders, so the matrix is symmetric and an agreeing pair adds 2
    to the diagonal.
    """
    confusion: dict[str, dict[str, int]] = {}
    values = sorted({v for vs in units.values() for v in vs})
    for a in values:
        confusion[a] = {b: 0 for b in values}
    for vs in units.values():
        for a, b in permutations(vs, 2):
            confusion[a][b] += 1
    return confusion


@dataclass(frozen=True)
class AnnotatorStats:
    """One labeller: effective labels, median seconds per label, share agreeing with the consensus.

    ``suggestions_shown`` counts the effective labels made with a rain-type suggestion on screen
    (``label_timings.suggestion``), ``suggestions_accepted`` those whose rain type is the
    suggestion, and ``suggestion_acceptance`` is accepted / shown (None when none was shown).
    """

    name: str
    labels: int
    median_seconds: float | None
    agreement_with_consensus: float | None
    suggestions_shown: int = 0
    suggestions_accepted: int = 0
    suggestion_acceptance: float | None = None


@dataclass(frozen=True)
class AgreementReport:
    """Agreement over every capture that holds labels (``rainset labels agreement``)."""

    overall_alpha: float | None
    per_label: dict[str, float | None]
    confusion: dict[str, dict[str, int]]
    per_annotator: list[AnnotatorStats]
    n_captures: int  # captures with at least one effective label
    n_pairable: int  # ... with two or more (those alpha and the confusion matrix count)
    n_disagreements: int  # ... whose labels are not all the same rain type
    n_adjudicated: int

    def to_dict(self) -> dict:
        return asdict(self)

    def lines(self) -> list[str]:
        """The human-readable agreement report (``rainset labels agreement``)."""
        def fmt(value: float | None) -> str:
            return "n/a" if value is None else f"{value:.3f}"

        lines = [f"captures labelled {self.n_captures}, with 2+ labels {self.n_pairable}, "
                 f"disagreements {self.n_disagreements}, adjudicated {self.n_adjudicated}",
                 f"Krippendorff's alpha (nominal): {fmt(self.overall_alpha)}"]
        lines += [f"  {label:<12} {fmt(alpha)}" for label, alpha in self.per_label.items()]
        if self.confusion:
            names = list(self.confusion)
            lines.append("confusion (pairs of labels on the same capture):")
            lines.append(" " * 14 + "".join(f"{n[:9]:>10}" for n in names))
            lines += [f"  {a:<12}" + "".join(f"{self.confusion[a][b]:>10}" for b in names) for a in names]
        lines.append("annotator            labels  median s  agreement  suggestions accepted")
        lines += [f"  {a.name:<18} {a.labels:>6} {fmt(a.median_seconds):>9} {fmt(a.agreement_with_consensus):>10}"
                  f"  {fmt(a.suggestion_acceptance):>9} ({a.suggestions_accepted}/{a.suggestions_shown})"
                  for a in self.per_annotator]
        return lines


def _median_seconds(session: Session) -> dict[str, float]:
    rows = session.execute(select(User.name, LabelTiming.duration_ms).join(Label, Label.id == LabelTiming.label_id)
                           .join(User, User.id == Label.user_id))
    by_user: dict[str, list[int]] = defaultdict(list)
    for name, ms in rows:
        by_user[name].append(ms)
    return {name: round(statistics.median(v) / 1000, 3) for name, v in by_user.items()}


def _shown_suggestions(session: Session) -> dict[int, str]:
    """Label id -> the suggestion shown when it was made, for labels made with one."""
    rows = session.execute(select(LabelTiming.label_id, LabelTiming.suggestion)
                           .where(LabelTiming.suggestion.is_not(None)))
    return {label_id: suggestion for label_id, suggestion in rows}


def _annotator_stats(labels: dict[str, CaptureLabels], medians: dict[str, float],
                     shown: dict[int, str]) -> list[AnnotatorStats]:
    count: Counter[str] = Counter()
    agree: Counter[str] = Counter()
    compared: Counter[str] = Counter()
    suggested: Counter[str] = Counter()
    accepted: Counter[str] = Counter()
    for cap in labels.values():
        for rec in cap.labels:
            count[rec.user] += 1
            if cap.rain_type is not None and (len(cap.labels) >= 2 or cap.source == "adjudication"):
                compared[rec.user] += 1
                agree[rec.user] += rec.rain_type == cap.rain_type
            if rec.label_id in shown:
                suggested[rec.user] += 1
                accepted[rec.user] += rec.rain_type == shown[rec.label_id]
    names = sorted(set(count) | set(medians))
    return [AnnotatorStats(name, count[name], medians.get(name),
                           round(agree[name] / compared[name], 4) if compared[name] else None,
                           suggested[name], accepted[name],
                           round(accepted[name] / suggested[name], 4) if suggested[name] else None)
            for name in names]


def _active(session: Session, labels: dict[str, CaptureLabels]) -> dict[str, CaptureLabels]:
    active = set(session.scalars(select(Capture.id).where(Capture.status == "active")))
    return {cid: cap for cid, cap in labels.items() if cid in active}


def agreement_report(session: Session) -> AgreementReport:
    """Alpha overall and per label, the confusion matrix and per-annotator statistics of the active captures."""
    labels = _active(session, current_labels(session))
    units = {cid: [r.rain_type for r in cap.labels] for cid, cap in labels.items() if cap.labels}
    pairable = {u: v for u, v in units.items() if len(v) >= 2}
    overall = krippendorff_alpha(pairable)
    per_label = {lab: _round(binary_alpha(pairable, lab)) for lab in sorted({v for vs in pairable.values() for v in vs})}
    return AgreementReport(
        overall_alpha=_round(overall), per_label=per_label, confusion=pair_confusion(pairable),
        per_annotator=_annotator_stats(labels, _median_seconds(session), _shown_suggestions(session)),
        n_captures=len(units), n_pairable=len(pairable),
        n_disagreements=sum(1 for v in pairable.values() if len(set(v)) > 1),
        n_adjudicated=sum(1 for cap in labels.values() if cap.source == "adjudication"))


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def review_queue(session: Session) -> list[CaptureLabels]:
    """Active captures whose labels disagree and that no reviewer has adjudicated yet.

    Captures without a majority come first, then by rising agreement, then by id.
    """
    labels = _active(session, current_labels(session))
    todo = [cap for cap in labels.values()
            if cap.source != "adjudication" and len({r.rain_type for r in cap.labels}) > 1]
    return sorted(todo, key=lambda c: (not c.needs_review, c.agreement if c.agreement is not None else 0, c.capture_id))


@dataclass(frozen=True)
class ReviewList:
    """The ``--json`` output of ``rainset labels review``: the queue's size and its first captures.

    Each capture is a :class:`CaptureLabels` as a dict plus ``path``, its representative file.
    """

    total: int
    captures: tuple[dict, ...]

    def to_dict(self) -> dict:
        return {"total": self.total, "captures": list(self.captures)}

    def lines(self) -> list[str]:
        out = [f"{self.total} captures to review"]
        for c in self.captures:
            votes = ", ".join(f"{r['user']}: {r['rain_type']}" for r in c["labels"])
            verdict = "no majority" if c["needs_review"] else f"majority {c['rain_type']}"
            out.append(f"  {c['capture_id']}  {c['path'] or '-'}  {verdict}  ({votes})")
        return out


def review_list(session: Session, limit: int = 50) -> ReviewList:
    """The first ``limit`` captures of :func:`review_queue` (0: all), each with its representative file's path."""
    queue = review_queue(session)
    shown = queue[:limit] if limit > 0 else queue
    paths = representative_paths(session, [c.capture_id for c in shown])
    return ReviewList(len(queue), tuple({**asdict(c), "path": paths.get(c.capture_id)} for c in shown))
