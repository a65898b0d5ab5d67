"""The queue against a plain-Python model: random claims, labels, undos and releases by several annotators."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from rainset.catalog.db import Catalog, make_engine
from rainset.catalog.labels_tables import Assignment
from rainset.catalog.base import Base
from rainset.catalog.models import Label
from rainset.labels.queue import next_capture, release_claims
from rainset.labels.record import my_labels, record_label, undo_last
from rainset.labels.users import add_user, get_user
from tests.labels_helpers import add_captures

N_USERS, N_CAPS = 3, 5
KW = dict(taxonomy=["heavy", "drizzle"], taxonomy_version=1)
_counter = itertools.count()


def _fresh_catalog(tmp_path) -> Catalog:
    url = f"sqlite:///{tmp_path / f'model{next(_counter)}.db'}"
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    return Catalog(engine, sessionmaker(engine, expire_on_commit=False), url)


def _expected_next(s, user_id: int, k: int, ids: list[str]) -> str | None:
    """What the queue should hand out, computed from the rows in plain Python."""
    assignments = s.execute(select(Assignment.capture_id, Assignment.user_id, Assignment.id)).all()
    rows = s.execute(select(Label.capture_id, Label.user_id, Label.kind, Label.id).order_by(Label.id)).all()
    latest = {}
    for r in rows:
        latest[(r.capture_id, r.user_id)] = r.kind
    held = sorted((a.id, a.capture_id) for a in assignments
                  if a.user_id == user_id and latest.get((a.capture_id, user_id)) in (None, "undo"))
    if held:
        return held[0][1]
    touched = {a.capture_id for a in assignments if a.user_id == user_id} | \
        {r.capture_id for r in rows if r.user_id == user_id}
    taken = {c: sum(1 for a in assignments if a.capture_id == c) for c in ids}
    free = [c for c in sorted(ids) if c not in touched and taken[c] < k]
    return free[0] if free else None


@pytest.mark.timeout(240)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(k=st.integers(1, 3),
       ops=st.lists(st.tuples(st.integers(0, N_USERS - 1), st.sampled_from(["next", "label", "undo", "release"])),
                    max_size=30))
def test_queue_matches_model(tmp_path, k, ops) -> None:
    catalog = _fresh_catalog(tmp_path)
    try:
        with catalog.session() as s:
            ids = add_captures(s, N_CAPS)
            users = [get_user(s, add_user(s, f"u{i}", "annotator").id) for i in range(N_USERS)]
        current: dict[int, str | None] = {}
        for who, op in ops:
            user = users[who]
            with catalog.session() as s:
                if op == "next":
                    expected = _expected_next(s, user.id, k, ids)
                    item = next_capture(s, user, k=k)
                    assert (item.capture_id if item else None) == expected
                    current[who] = item.capture_id if item else None
                elif op == "label" and current.get(who):
                    record_label(s, user, current[who], "heavy", **KW)
                    assert my_labels(s, user)[current[who]].rain_type == "heavy"
                    current[who] = None
                elif op == "undo":
                    undone = undo_last(s, user)
                    assert undone is None or undone not in my_labels(s, user)
                elif op == "release":
                    release_claims(s, user=user.name)
                    current[who] = None
                slots = s.execute(select(Assignment.capture_id, Assignment.slot, Assignment.user_id)).all()
                per_capture = {}
                for row in slots:
                    per_capture.setdefault(row.capture_id, []).append(row)
                    assert 0 <= row.slot < k
                assert all(len(v) <= k for v in per_capture.values())
    finally:
        catalog.close()
