"""Krippendorff's alpha against hand-worked examples; the agreement report and review queue on a catalog."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from rainset.catalog.db import open_catalog
from rainset.labels.agreement import (agreement_report, binary_alpha, krippendorff_alpha, pair_confusion,
                                      review_queue)
from rainset.labels.queue import next_capture
from rainset.labels.record import adjudicate, record_label
from rainset.labels.users import add_user, get_user
from tests.labels_helpers import add_captures

TAX = ["drizzle", "heavy", "streak", "fog-mixed", "no-rain", "not-usable", "unsure"]
KW = dict(taxonomy=TAX, taxonomy_version=1)


def test_alpha_of_krippendorffs_four_coder_example() -> None:
    """Krippendorff (2011), nominal data, 4 coders A-D, 12 units ('.' = missing)::

        unit  1 2 3 4 5 6 7 8 9 10 11 12
        A     1 2 3 3 2 1 4 1 2 .  .  .
        B     1 2 3 3 2 2 4 1 2 5  .  3
        C     . 3 3 3 2 3 4 2 2 5  1  .
        D     1 2 3 3 2 4 4 1 2 5  1  .

    Unit 12 has one value: not pairable. The 40 pairable values: n_1 = 9, n_2 = 13, n_3 = 10,
    n_4 = 5, n_5 = 3. Off-diagonal coincidences (each ordered pair of different values in a unit
    of m values weighs 1/(m-1)): unit 2 (2,2,3,2): 3*1*2 pairs / 3 = 2; unit 6 (1,2,3,4): 12 / 3 = 4;
    unit 8 (1,1,2,1): 6 / 3 = 2; total 8. Expected: sum_{c!=k} n_c n_k = 40^2 - (81+169+100+25+9)
    = 1216. alpha = 1 - 39 * 8 / 1216 = 1 - 312/1216 = 0.74342 (Krippendorff reports 0.743).
    """
    units = {1: [1, 1, 1], 2: [2, 2, 3, 2], 3: [3, 3, 3, 3], 4: [3, 3, 3, 3], 5: [2, 2, 2, 2], 6: [1, 2, 3, 4],
             7: [4, 4, 4, 4], 8: [1, 1, 2, 1], 9: [2, 2, 2, 2], 10: [5, 5, 5], 11: [1, 1], 12: [3]}
    assert krippendorff_alpha(units) == pytest.approx(1 - 312 / 1216, abs=1e-12)
    assert round(krippendorff_alpha(units), 3) == 0.743


@pytest.mark.parametrize("units, expected", [
    # Perfect agreement with variation: no off-diagonal coincidence -> 1.
    ({"u": ["a", "a"], "v": ["b", "b"]}, 1.0),
    # Always disagreeing: off = 2 + 2 = 4, n_a = n_b = 2, expected = 16 - 8 = 8 -> 1 - 3*4/8 = -0.5.
    ({"u": ["a", "b"], "v": ["b", "a"]}, -0.5),
    # n_a = 3, n_b = 1, off = 2 (unit v), expected = 16 - 10 = 6 -> 1 - 3*2/6 = 0.
    ({"u": ["a", "a"], "v": ["a", "b"]}, 0.0),
    # Three coders, one dissent: unit u (a,a,b): off = 2*2/2 = 2; unit v (b,b,b): 0; n_a = 2, n_b = 4;
    # expected = 36 - 20 = 16 -> 1 - 5*2/16 = 0.375.
    ({"u": ["a", "a", "b"], "v": ["b", "b", "b"]}, 0.375),
])
def test_alpha_small_hand_worked_cases(units, expected) -> None:
    assert krippendorff_alpha(units) == pytest.approx(expected, abs=1e-12)


def test_alpha_is_undefined_without_pairs_or_variation() -> None:
    assert krippendorff_alpha({}) is None
    assert krippendorff_alpha({"u": ["a"], "v": ["b"]}) is None  # nothing pairable
    assert krippendorff_alpha({"u": ["a", "a"], "v": ["a", "a", "a"]}) is None  # no variation


def test_binary_alpha_and_confusion() -> None:
    """Binary alpha for 'b' in {u: a,b ; v: b,b ; w: c,c}: values become (F,T), (T,T), (F,F);
    off = 2 (unit u); n_T = 3, n_F = 3; expected = 36 - 18 = 18 -> 1 - 5*2/18 = 4/9."""
    units = {"u": ["a", "b"], "v": ["b", "b"], "w": ["c", "c"]}
    assert binary_alpha(units, "b") == pytest.approx(4 / 9)
    conf = pair_confusion(units)
    assert conf["a"]["b"] == conf["b"]["a"] == 1 and conf["b"]["b"] == 2 and conf["c"]["c"] == 2
    assert conf["a"]["a"] == 0 and conf["a"]["c"] == 0


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.integers(0, 30), st.lists(st.sampled_from("abcd"), min_size=0, max_size=5), max_size=12),
       st.permutations(list("abcd")))
def test_alpha_is_invariant_to_renaming_values_and_bounded(units, perm) -> None:
    rename = dict(zip("abcd", perm))
    a = krippendorff_alpha(units)
    b = krippendorff_alpha({u: [rename[v] for v in vs] for u, vs in units.items()})
    assert (a is None) == (b is None)
    if a is not None:
        assert a == pytest.approx(b) and a <= 1.0 + 1e-9


def test_report_and_review_queue_on_a_catalog(tmp_path) -> None:
    cat = open_catalog(f"sqlite:///{tmp_path / 'c.db'}")
    try:
        with cat.session() as s:
            ids = add_captures(s, 4)
            a, b = (get_user(s, add_user(s, n, "annotator").id) for n in ("a", "b"))
            rev = get_user(s, add_user(s, "rev", "reviewer").id)
            plan = {"a": ["heavy", "heavy", "drizzle", "streak"], "b": ["heavy", "drizzle", "drizzle", "heavy"]}
            for user in (a, b):
                for i, rt in enumerate(plan[user.name]):
                    item = next_capture(s, user, k=2)
                    assert item.capture_id == ids[i]
                    record_label(s, user, item.capture_id, rt, duration_ms=1000 * (i + 1), **KW)
            queue = review_queue(s)
            assert [c.capture_id for c in queue] == [ids[1], ids[3]]
            report = agreement_report(s)
            # units: (h,h) (h,d) (d,d) (s,h): n_h = 4, n_d = 3, n_s = 1; off = 2 + 2 = 4;
            # expected = 64 - (16 + 9 + 1) = 38 -> alpha = 1 - 7*4/38 = 0.26316.
            assert report.overall_alpha == pytest.approx(round(1 - 28 / 38, 4))
            assert (report.n_captures, report.n_pairable, report.n_disagreements) == (4, 4, 2)
            assert report.confusion["heavy"]["drizzle"] == 1 and report.confusion["heavy"]["heavy"] == 2
            assert set(report.per_label) == {"heavy", "drizzle", "streak"}
            stats = {x.name: x for x in report.per_annotator}
            assert stats["a"].labels == 4 and stats["a"].median_seconds == 2.5
            # No consensus on the two disagreements: each annotator is compared on 2 captures, agrees on 2.
            assert stats["a"].agreement_with_consensus == 1.0
            adjudicate(s, rev, ids[1], "drizzle", **KW)
            assert [c.capture_id for c in review_queue(s)] == [ids[3]]
            stats = {x.name: x for x in agreement_report(s).per_annotator}
            assert stats["a"].agreement_with_consensus == pytest.approx(2 / 3, abs=1e-4)
            assert stats["b"].agreement_with_consensus == 1.0
            assert agreement_report(s).n_adjudicated == 1
    finally:
        cat.close()
