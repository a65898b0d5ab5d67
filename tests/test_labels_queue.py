"""Users, queues and label records on SQLite and PostgreSQL: roles, tokens, claims under concurrency, undo."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from sqlalchemy import func, select

from rainset.catalog.db import open_catalog
from rainset.catalog.labels_tables import Assignment, LabelTiming
from rainset.catalog.models import Group, GroupMember, Label
from rainset.errors import AlreadyExistsError, AuthError, InvalidInputError, NotFoundError, NotInQueueError
from rainset.labels.consensus import current_labels
from rainset.labels.queue import next_capture, peek_next, progress
from rainset.labels.record import adjudicate, my_labels, record_label, undo_last
from rainset.labels.users import (add_user, authenticate, disable_user, get_user, list_users, require_role,
                                  reset_token)
from tests.labels_helpers import add_captures

TAX = ["drizzle", "heavy", "streak", "fog-mixed", "no-rain", "not-usable", "unsure"]
KW = dict(taxonomy=TAX, taxonomy_version=1)


@pytest.fixture(params=["sqlite", "postgresql"])
def catalog(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'catalog.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    cat = open_catalog(url)
    yield cat
    cat.close()


@pytest.fixture()
def sqlite_catalog(tmp_path):
    cat = open_catalog(f"sqlite:///{tmp_path / 'catalog.db'}")
    yield cat
    cat.close()


def _users(cat, *specs):
    with cat.session() as s:
        return [add_user(s, name, role) for name, role in specs]


# --- users -------------------------------------------------------------------------------------


def test_token_is_shown_once_stored_hashed_and_authenticates(sqlite_catalog) -> None:
    (ann,) = _users(sqlite_catalog, ("ann", "annotator"))
    assert len(ann.token) >= 40
    with sqlite_catalog.session() as s:
        from rainset.catalog.models import User
        stored = s.scalars(select(User.token_hash)).one()
        assert ann.token not in stored and len(stored) == 64
        assert authenticate(s, ann.token).name == "ann"
        assert get_user(s, ann.id).role == "annotator"
        with pytest.raises(AuthError, match="invalid token"):
            authenticate(s, ann.token + "x")
        with pytest.raises(AuthError, match="missing"):
            authenticate(s, "")


def test_disabled_user_and_reset_token(sqlite_catalog) -> None:
    ann, bob = _users(sqlite_catalog, ("ann", "annotator"), ("bob", "admin"))
    with sqlite_catalog.session() as s:
        disable_user(s, "ann")
    with sqlite_catalog.session() as s:
        with pytest.raises(AuthError, match="disabled"):
            authenticate(s, ann.token)
        with pytest.raises(AuthError, match="disabled"):
            get_user(s, ann.id)
        assert [u.name for u in list_users(s)] == ["bob"]
        fresh = reset_token(s, "bob")
    with sqlite_catalog.session() as s:
        with pytest.raises(AuthError):
            authenticate(s, bob.token)
        assert authenticate(s, fresh.token).name == "bob"


@pytest.mark.parametrize("name", ["", "a" * 65, "al ice", "bob/..", "é", "x;drop"])
def test_bad_user_names_are_refused(sqlite_catalog, name) -> None:
    with sqlite_catalog.session() as s, pytest.raises(InvalidInputError, match="invalid user name"):
        add_user(s, name, "annotator")


def test_bad_role_duplicate_name_and_require_role(sqlite_catalog) -> None:
    (ann,) = _users(sqlite_catalog, ("ann", "annotator"))
    with sqlite_catalog.session() as s:
        with pytest.raises(InvalidInputError, match="invalid role"):
            add_user(s, "zed", "superuser")
        with pytest.raises(AlreadyExistsError, match="already exists"):
            add_user(s, "ann", "reviewer")
        user = get_user(s, ann.id)
    assert require_role(user, "annotator", "admin") == user
    with pytest.raises(AuthError, match="needs reviewer or admin"):
        require_role(user, "reviewer", "admin")


# --- queues ------------------------------------------------------------------------------------


def test_each_capture_goes_to_k_distinct_annotators(catalog) -> None:
    specs = [(f"a{i}", "annotator") for i in range(3)]
    users = _users(catalog, *specs)
    with catalog.session() as s:
        ids = add_captures(s, 5)
    got: dict[str, list[str]] = {}
    for u in users:
        with catalog.session() as s:
            info = get_user(s, u.id)
            while (item := next_capture(s, info, k=2)) is not None:
                # The same capture comes back until it is labelled.
                assert next_capture(s, info, k=2).capture_id == item.capture_id
                record_label(s, info, item.capture_id, "heavy", **KW)
                got.setdefault(u.name, []).append(item.capture_id)
    counts = Counter(c for caps in got.values() for c in caps)
    assert counts == {cid: 2 for cid in ids}
    for caps in got.values():
        assert len(caps) == len(set(caps))
    # The first two annotators fill captures in queue order; the third gets nothing left.
    assert got["a0"] == ids and got["a1"] == ids and "a2" not in got


def test_queue_item_position_total_and_progress(catalog) -> None:
    (u,) = _users(catalog, ("ann", "annotator"))
    with catalog.session() as s:
        add_captures(s, 3)
        info = get_user(s, u.id)
        first = next_capture(s, info, k=2)
        assert (first.position, first.total) == (1, 3)
        assert first.exif["make"] == "Nimbus" and first.width == 640 and len(first.preview_sha256) == 64
        ahead = peek_next(s, info, k=2, after=first.capture_id)
        assert ahead.capture_id != first.capture_id and ahead.position == 2
        p = progress(s, info, k=2)
        assert (p.done, p.assigned, p.remaining_in_store) == (0, 1, 2)
        # Peeking claims nothing.
        assert s.scalar(select(Assignment.id).where(Assignment.capture_id == ahead.capture_id)) is None
        record_label(s, info, first.capture_id, "drizzle", ["night"], duration_ms=1200, **KW)
        second = next_capture(s, info, k=2)
        assert second.capture_id == ahead.capture_id and (second.position, second.total) == (2, 3)
        p = progress(s, info, k=2)
        assert (p.done, p.assigned, p.remaining_in_store) == (1, 1, 1)


def test_inactive_adjudicated_and_non_representative_captures_are_not_queued(catalog) -> None:
    ann, rev = _users(catalog, ("ann", "annotator"), ("rev", "reviewer"))
    with catalog.session() as s:
        ids = add_captures(s, 6)
        from rainset.catalog.models import Capture
        s.get(Capture, ids[0]).status = "removed"
        group = Group(kind="cluster", info={})
        burst = Group(kind="burst", info={})
        s.add_all([group, burst])
        s.flush()
        s.add_all([GroupMember(group_id=group.id, capture_id=ids[1], relation="near-duplicate", is_representative=True),
                   GroupMember(group_id=group.id, capture_id=ids[2], relation="near-duplicate", is_representative=False),
                   GroupMember(group_id=burst.id, capture_id=ids[3], relation="burst", is_representative=False)])
        adjudicate(s, get_user(s, rev.id), ids[4], "heavy", **KW)
        info = get_user(s, ann.id)
        seen = []
        while (item := next_capture(s, info, k=2)) is not None:
            seen.append(item.capture_id)
            record_label(s, info, item.capture_id, "heavy", **KW)
    assert seen == [ids[1], ids[3], ids[5]]


def test_bulk_labellers_without_assignment_take_a_slot(catalog) -> None:
    from rainset.labels.record import append_label

    a, b, admin = _users(catalog, ("a", "annotator"), ("b", "annotator"), ("boss", "admin"))
    with catalog.session() as s:
        (cid,) = add_captures(s, 1)
        append_label(s, get_user(s, admin.id), cid, "no-rain", **KW)
        assert next_capture(s, get_user(s, a.id), k=2).capture_id == cid
        assert next_capture(s, get_user(s, b.id), k=2) is None


def test_k_must_be_positive(sqlite_catalog) -> None:
    (u,) = _users(sqlite_catalog, ("ann", "annotator"))
    with sqlite_catalog.session() as s, pytest.raises(InvalidInputError, match="positive"):
        next_capture(s, get_user(s, u.id), k=0)


@pytest.mark.timeout(120)
def test_concurrent_claims_never_overfill_a_capture(catalog) -> None:
    """Eight annotators claim at once, behind a barrier, until the queue is empty."""
    n_users, n_caps, k = 8, 12, 3
    users = _users(catalog, *[(f"u{i}", "annotator") for i in range(n_users)])
    with catalog.session() as s:
        ids = add_captures(s, n_caps)
    barrier = threading.Barrier(n_users)
    claimed: dict[str, list[str]] = {}
    errors: list[BaseException] = []

    def work(user_id: int) -> None:
        try:
            barrier.wait()
            while True:
                with catalog.session() as s:
                    info = get_user(s, user_id)
                    item = next_capture(s, info, k=k)
                    if item is None:
                        return
                    claimed.setdefault(info.name, []).append(item.capture_id)
                with catalog.session() as s:
                    record_label(s, get_user(s, user_id), item.capture_id, "streak", **KW)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(u.id,)) for u in users]
    for t in threads:
        t.start()
    for t in threads:
        t.join(100)
    assert not errors, errors
    with catalog.session() as s:
        rows = s.execute(select(Assignment.capture_id, Assignment.user_id, Assignment.slot)).all()
    per_capture = Counter(r.capture_id for r in rows)
    assert per_capture == {cid: k for cid in ids}
    assert len({(r.capture_id, r.user_id) for r in rows}) == len(rows)
    assert {r.slot for r in rows} == set(range(k))
    assert sum(len(v) for v in claimed.values()) == n_caps * k


@pytest.mark.timeout(120)
def test_last_slot_race_has_one_winner(catalog) -> None:
    n = 6
    users = _users(catalog, ("first", "annotator"), *[(f"r{i}", "annotator") for i in range(n)])
    with catalog.session() as s:
        (cid,) = add_captures(s, 1)
        assert next_capture(s, get_user(s, users[0].id), k=2).capture_id == cid
    barrier = threading.Barrier(n)
    results: list[str | None] = []
    errors: list[BaseException] = []

    def work(user_id: int) -> None:
        try:
            with catalog.session() as s:
                info = get_user(s, user_id)
                barrier.wait()
                item = next_capture(s, info, k=2)
                results.append(item.capture_id if item else None)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(u.id,)) for u in users[1:]]
    for t in threads:
        t.start()
    for t in threads:
        t.join(100)
    assert not errors, errors
    assert Counter(results) == {cid: 1, None: n - 1}


# --- records -----------------------------------------------------------------------------------


def test_record_validates_and_keeps_history(catalog) -> None:
    ann, other = _users(catalog, ("ann", "annotator"), ("other", "annotator"))
    with catalog.session() as s:
        ids = add_captures(s, 3)
        info = get_user(s, ann.id)
        item = next_capture(s, info, k=2)
        with pytest.raises(InvalidInputError, match="unknown rain type 'hail'"):
            record_label(s, info, item.capture_id, "hail", **KW)
        with pytest.raises(InvalidInputError, match="unknown attribute 'sunny'"):
            record_label(s, info, item.capture_id, "heavy", ["sunny"], **KW)
        with pytest.raises(NotFoundError, match="no capture with id 'nope'"):
            record_label(s, info, "nope", "heavy", **KW)
        with pytest.raises(NotInQueueError, match="not in 'ann'"):
            record_label(s, info, ids[2], "heavy", **KW)
        with pytest.raises(InvalidInputError, match="duration_ms"):
            record_label(s, info, item.capture_id, "heavy", duration_ms=-5, **KW)
        first = record_label(s, info, item.capture_id, "heavy", ["splash", "night", "splash"], duration_ms=900, **KW)
        assert first.attributes == ("night", "splash") and first.user == "ann" and first.taxonomy_version == 1
        second = record_label(s, info, item.capture_id, "drizzle", **{**KW, "taxonomy_version": 2})
        assert my_labels(s, info) == {item.capture_id: second}
        rows = s.scalars(select(Label).where(Label.capture_id == item.capture_id).order_by(Label.id)).all()
        assert [(r.rain_type, r.kind, r.taxonomy_version) for r in rows] == [("heavy", "label", 1), ("drizzle", "label", 2)]
        assert s.get(LabelTiming, first.label_id).duration_ms == 900
        assert my_labels(s, get_user(s, other.id)) == {}


def test_undo_walks_back_and_returns_capture_to_queue(catalog) -> None:
    (ann,) = _users(catalog, ("ann", "annotator"))
    with catalog.session() as s:
        add_captures(s, 3)
        info = get_user(s, ann.id)
        assert undo_last(s, info) is None
        done = []
        for rt in ("heavy", "drizzle"):
            item = next_capture(s, info, k=2)
            record_label(s, info, item.capture_id, rt, **KW)
            done.append(item.capture_id)
        current = next_capture(s, info, k=2)  # the third, claimed but not labelled
        assert undo_last(s, info) == done[1]
        assert set(my_labels(s, info)) == {done[0]}
        assert next_capture(s, info, k=2).capture_id == done[1]  # back first, before the newer claim
        assert undo_last(s, info) == done[0]
        assert my_labels(s, info) == {}
        assert all(c.labels == () and c.rain_type is None for c in current_labels(s).values())
        kinds = [r.kind for r in s.scalars(select(Label).order_by(Label.id))]
        assert kinds == ["label", "label", "undo", "undo"]
        record_label(s, info, done[0], "streak", **KW)
        assert my_labels(s, info)[done[0]].rain_type == "streak"
        assert current.capture_id not in my_labels(s, info)


def test_adjudication_is_reviewers_only_and_becomes_consensus(catalog) -> None:
    a, b, rev = _users(catalog, ("a", "annotator"), ("b", "annotator"), ("rev", "reviewer"))
    with catalog.session() as s:
        (cid,) = add_captures(s, 1)
        for u, rt in ((a, "heavy"), (b, "drizzle")):
            info = get_user(s, u.id)
            assert next_capture(s, info, k=2).capture_id == cid
            record_label(s, info, cid, rt, **KW)
        before = current_labels(s)[cid]
        assert before.needs_review and before.rain_type is None
        with pytest.raises(AuthError):
            adjudicate(s, get_user(s, a.id), cid, "heavy", **KW)
        after = adjudicate(s, get_user(s, rev.id), cid, "heavy", ["splash"], **KW)
        assert (after.rain_type, after.attributes, after.source, after.adjudicated_by) == \
            ("heavy", ("splash",), "adjudication", "rev")
        assert not after.needs_review and after.agreement == 0.5


@pytest.mark.timeout(180)
def test_concurrent_claims_from_separate_processes(catalog) -> None:
    """Four processes (spawned, each with its own engine) drain the queue at once."""
    from tests.labels_helpers import claim_in_processes

    n_procs, n_caps, k = 4, 10, 2
    users = _users(catalog, *[(f"p{i}", "annotator") for i in range(n_procs)])
    with catalog.session() as s:
        ids = add_captures(s, n_caps)
    outcomes = claim_in_processes(catalog.url, [u.id for u in users], k)
    claims = Counter(c for _, caps in outcomes for c in caps)
    assert claims == {cid: k for cid in ids}
    assert all(len(caps) == len(set(caps)) for _, caps in outcomes)
    with catalog.session() as s:
        assert s.scalar(select(func.count()).select_from(Assignment)) == n_caps * k


def test_release_frees_unlabelled_claims_only(catalog) -> None:
    from rainset.labels.queue import release_claims

    a, b, c = _users(catalog, ("a", "annotator"), ("b", "annotator"), ("c", "annotator"))
    with catalog.session() as s:
        (first, second) = add_captures(s, 2)
        ua, ub, uc = (get_user(s, u.id) for u in (a, b, c))
        record_label(s, ua, next_capture(s, ua, k=2).capture_id, "heavy", **KW)  # a labels first
        assert next_capture(s, ua, k=2).capture_id == second  # a holds second, unlabelled
        assert next_capture(s, ub, k=2).capture_id == first  # b holds first, unlabelled
        assert next_capture(s, uc, k=2).capture_id == second  # c takes the other slot of second
        assert release_claims(s, older_than_s=3600) == 0  # all claims are fresh
        with pytest.raises(NotFoundError, match="no user named 'zed'"):
            release_claims(s, user="zed")
        assert release_claims(s, user="b", older_than_s=0) == 1
        assert release_claims(s) == 2  # a's and c's open claims on second; a's label on first stays
        rows = s.execute(select(Assignment.capture_id, Assignment.user_id)).all()
        assert [(r.capture_id, r.user_id) for r in rows] == [(first, ua.id)]
        assert my_labels(s, ua)[first].rain_type == "heavy"
