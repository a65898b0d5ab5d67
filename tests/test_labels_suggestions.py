"""Suggestions in the labelling library, on SQLite and PostgreSQL: queue orders, the suggestion
recorded with a label, acceptance statistics (library and ``rainset labels agreement``).

Suggestions are written straight into the ``suggestions`` table here (as ``rainset suggest``
would), so these tests do not depend on the classifier.
"""

from __future__ import annotations

import json
from collections import Counter

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from rainset.catalog.db import open_catalog
from rainset.catalog.labels_tables import Assignment, LabelTiming
from rainset.catalog.rainstats_tables import Suggestion
from rainset.errors import LabelError
from rainset.labels.agreement import agreement_report
from rainset.labels.queue import next_capture, peek_next
from rainset.labels.record import record_label, undo_last
from rainset.labels.users import get_user
from rainset.suggestions import SuggestionView
from tests.labels_helpers import add_captures
from tests.test_labels_queue import KW, _users, catalog  # noqa: F401 - the two-backend catalog fixture


def suggest(session, values: dict[str, tuple[str, float]]) -> None:
    """Write ``capture id -> (rain type, confidence)`` as current suggestions."""
    for cid, (rain_type, confidence) in values.items():
        session.merge(Suggestion(capture_id=cid, rain_type=rain_type, confidence=confidence, model="test-rules",
                                 features="preview", info={}))
    session.flush()


def drain(session, user, order: str, rain_type: str = "heavy", k: int = 2) -> list[str]:
    """Label everything the user's queue hands out in ``order``; the ids in the order handed out.

    Before each claim, the look-aheads (the page's ``after=None`` and the prefetch's ``after=`` the
    capture on screen) must name the capture that is then claimed.
    """
    seen: list[str] = []
    prefetched = None
    while True:
        ahead = peek_next(session, user, k=k, after=None, order=order)
        item = next_capture(session, user, k=k, order=order)
        if item is None:
            assert ahead is None and prefetched is None
            return seen
        assert ahead is not None and ahead.capture_id == item.capture_id
        assert prefetched is None or prefetched.capture_id == item.capture_id
        prefetched = peek_next(session, user, k=k, after=item.capture_id, order=order)
        record_label(session, user, item.capture_id, rain_type, **KW)
        seen.append(item.capture_id)


def test_confidence_order_hands_out_the_least_sure_suggestion_first(catalog) -> None:
    a, b = _users(catalog, ("a", "annotator"), ("b", "annotator"))
    with catalog.session() as s:
        ids = add_captures(s, 6)
        suggest(s, {ids[0]: ("heavy", 0.9), ids[1]: ("drizzle", 0.2), ids[2]: ("streak", 0.6),
                    ids[3]: ("heavy", 0.4)})  # ids[4], ids[5]: no suggestion
        ua, ub = get_user(s, a.id), get_user(s, b.id)
        first = next_capture(s, ua, k=2, order="confidence")
        assert first.suggestion == SuggestionView("drizzle", 0.2, "test-rules", sure=False)
        record_label(s, ua, first.capture_id, "heavy", **KW)
        rest = drain(s, ua, "confidence")
        assert [first.capture_id, *rest] == [ids[1], ids[3], ids[2], ids[0], ids[4], ids[5]]
        assert drain(s, ub, "default") == ids  # the default order is untouched by suggestions
        assert next_capture(s, ub, k=2) is None


def test_disagreement_order_puts_labels_that_differ_from_the_suggestion_first(catalog) -> None:
    rev, b = _users(catalog, ("rev", "reviewer"), ("b", "annotator"))
    with catalog.session() as s:
        ids = add_captures(s, 7)
        # confidence rises with the id, so the confidence order alone would be the id order
        suggest(s, {cid: ("heavy", 0.5 + 0.05 * i) for i, cid in enumerate(ids[:6])})
        ur, ub = get_user(s, rev.id), get_user(s, b.id)
        record_label(s, ur, ids[0], "heavy", **KW)  # agrees with the suggestion
        record_label(s, ur, ids[1], "drizzle", **KW)  # differs
        record_label(s, ur, ids[3], "drizzle", **KW)  # differed, then corrected to agree
        record_label(s, ur, ids[3], "heavy", **KW)
        record_label(s, ur, ids[4], "fog-mixed", **KW)  # differs
        record_label(s, ur, ids[6], "streak", **KW)  # no suggestion to differ from
        record_label(s, ur, ids[2], "streak", **KW)  # differed, then undone: no effective label
        assert undo_last(s, ur) == ids[2]
        assert drain(s, ub, "disagreement") == [ids[1], ids[4], ids[0], ids[2], ids[3], ids[5], ids[6]]


def test_an_unknown_order_is_refused(catalog) -> None:
    (a,) = _users(catalog, ("a", "annotator"))
    with catalog.session() as s:
        add_captures(s, 1)
        ua = get_user(s, a.id)
        for call in (lambda: next_capture(s, ua, k=2, order="random"),
                     lambda: peek_next(s, ua, k=2, after=None, order="random")):
            with pytest.raises(LabelError, match="unknown queue order 'random': choose one of default, confidence"):
                call()
        assert s.scalar(select(func.count()).select_from(Assignment)) == 0


def _timing(session, label_id: int) -> tuple[int, str | None] | None:
    row = session.execute(select(LabelTiming.duration_ms, LabelTiming.suggestion)
                          .where(LabelTiming.label_id == label_id)).first()
    return None if row is None else tuple(row)


def test_the_shown_suggestion_is_recorded_when_it_is_current_and_counted_as_accepted(catalog) -> None:
    ann, other = _users(catalog, ("ann", "reviewer"), ("other", "reviewer"))
    with catalog.session() as s:
        ids = add_captures(s, 5)
        suggest(s, {ids[0]: ("heavy", 0.8), ids[2]: ("drizzle", 0.7), ids[3]: ("streak", 0.6), ids[4]: ("heavy", 0.9)})
        ua, uo = get_user(s, ann.id), get_user(s, other.id)
        accepted = record_label(s, ua, ids[0], "heavy", duration_ms=900, suggestion="heavy", **KW)
        no_current = record_label(s, ua, ids[1], "heavy", duration_ms=800, suggestion="heavy", **KW)
        replaced = record_label(s, ua, ids[2], "heavy", duration_ms=700, suggestion="heavy", **KW)
        overridden = record_label(s, ua, ids[3], "drizzle", duration_ms=600, suggestion="streak", **KW)
        untimed = record_label(s, ua, ids[4], "heavy", suggestion="heavy", **KW)
        record_label(s, uo, ids[0], "heavy", duration_ms=500, **KW)  # nothing shown
        assert _timing(s, accepted.label_id) == (900, "heavy")
        assert _timing(s, no_current.label_id) == (800, None)  # no suggestion exists for this capture
        assert _timing(s, replaced.label_id) == (700, None)  # not the current suggestion
        assert _timing(s, overridden.label_id) == (600, "streak")
        assert _timing(s, untimed.label_id) is None  # the suggestion is kept with the timing only
        stats = {a.name: a for a in agreement_report(s).per_annotator}
        assert (stats["ann"].suggestions_shown, stats["ann"].suggestions_accepted) == (2, 1)
        assert stats["ann"].suggestion_acceptance == 0.5
        assert (stats["other"].suggestions_shown, stats["other"].suggestion_acceptance) == (0, None)
        # only effective labels count: relabelling ids[0] against the suggestion replaces the acceptance
        record_label(s, ua, ids[0], "streak", duration_ms=400, suggestion="heavy", **KW)
        stats = {a.name: a for a in agreement_report(s).per_annotator}
        assert (stats["ann"].suggestions_shown, stats["ann"].suggestions_accepted) == (2, 0)
        assert stats["ann"].suggestion_acceptance == 0.0


def test_agreement_command_reports_acceptance(tmp_path) -> None:
    from rainset.cli import app
    from rainset.store import init_store

    store = init_store(tmp_path / "store")
    cat = open_catalog(store.db_url)
    (ann,) = _users(cat, ("ann", "reviewer"))
    with cat.session() as s:
        ids = add_captures(s, 4)
        suggest(s, {cid: ("heavy", 0.7) for cid in ids})
        ua = get_user(s, ann.id)
        for cid, rain in zip(ids, ("heavy", "heavy", "heavy", "drizzle")):
            record_label(s, ua, cid, rain, duration_ms=1000, suggestion="heavy", **KW)
    cat.close()
    runner = CliRunner()
    result = runner.invoke(app, ["labels", "agreement", "--store", str(store.root), "--json"])
    assert result.exit_code == 0, result.output
    row = json.loads(result.output)["per_annotator"][0]
    assert {k: row[k] for k in ("name", "labels", "suggestions_shown", "suggestions_accepted",
                                "suggestion_acceptance")} == {
        "name": "ann", "labels": 4, "suggestions_shown": 4, "suggestions_accepted": 3, "suggestion_acceptance": 0.75}
    assert "median_seconds" in row and "agreement_with_consensus" in row
    text = runner.invoke(app, ["labels", "agreement", "--store", str(store.root)]).output
    line = next(x for x in text.splitlines() if x.strip().startswith("ann "))
    assert line.rstrip().endswith("0.750 (3/4)")


@pytest.mark.timeout(180)
def test_concurrent_claims_in_confidence_order(catalog) -> None:
    """Four spawned processes drain a queue in confidence order: each capture gets exactly K labellers."""
    from tests.labels_helpers import claim_in_processes

    n_procs, n_caps, k = 4, 10, 2
    users = _users(catalog, *[(f"p{i}", "annotator") for i in range(n_procs)])
    with catalog.session() as s:
        ids = add_captures(s, n_caps)
        suggest(s, {cid: ("heavy", (7 * i % n_caps) / n_caps) for i, cid in enumerate(ids[:8])})
    outcomes = claim_in_processes(catalog.url, [u.id for u in users], k, "confidence")
    assert Counter(c for _, caps in outcomes for c in caps) == {cid: k for cid in ids}
    assert all(len(caps) == len(set(caps)) for _, caps in outcomes)
    # what a user may claim only shrinks, so each process's claims follow the order (least sure first)
    key = {cid: (0, (7 * i % n_caps) / n_caps, cid) if i < 8 else (1, 0.0, cid) for i, cid in enumerate(ids)}
    for _, caps in outcomes:
        assert [key[c] for c in caps] == sorted(key[c] for c in caps)
