"""Users' optional e-mail (issue 17): validated, unique, shown by ``users list``; the default
identity ``NAME@rainset.invalid`` when unset."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rainset.catalog.db import open_catalog
from rainset.errors import AlreadyExistsError, InvalidInputError
from rainset.labels.users import add_user, default_identity_name, identity, set_email, user_by_email, user_rows
from rainset.store import init_store


def test_email_is_validated_unique_and_listed(tmp_path: Path) -> None:
    store = init_store(tmp_path / "s")
    cat = open_catalog(store.db_url)
    try:
        with cat.session() as s:
            ann = add_user(s, "ann", "annotator", email="Ann@Example.org")
            assert ann.email == "ann@example.org"
            add_user(s, "bob", "reviewer")
        for bad in ("ann", "ann@", "@example.org", "a b@example.org", "ann@localhost", "x@rainset.invalid",
                    "a" * 250 + "@example.org"):
            with pytest.raises(InvalidInputError, match="invalid e-mail address"), cat.session() as s:
                add_user(s, "carl", "annotator", email=bad)
        with pytest.raises(AlreadyExistsError, match="already used by user 'ann'"), cat.session() as s:
            add_user(s, "carl", "annotator", email="ANN@example.org")
        with pytest.raises(AlreadyExistsError, match="already used by user 'ann'"), cat.session() as s:
            set_email(s, "bob", "ann@example.org")
        with cat.session() as s:
            assert set_email(s, "ann", "ann@example.org").email == "ann@example.org"  # its own: fine
            changed = set_email(s, "bob", "bob@example.org")
            assert (changed.email, changed.identity) == ("bob@example.org", "bob@example.org")
            assert user_by_email(s, "BOB@example.org").name == "bob"
            cleared = set_email(s, "ann", None)
            assert (cleared.email, cleared.identity) == (None, "ann@rainset.invalid")
            rows = {r.name: r for r in user_rows(s)}
            assert (rows["ann"].email, rows["ann"].identity) == (None, "ann@rainset.invalid")
            assert rows["bob"].email == "bob@example.org"
    finally:
        cat.close()
    assert identity("ann", None) == "ann@rainset.invalid" and identity("ann", "a@b.org") == "a@b.org"
    assert default_identity_name("ann@RAINSET.invalid") == "ann"
    assert default_identity_name("ann@example.org") is None


def _rainset(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "RAINSET_STORE"}
    return subprocess.run([sys.executable, "-m", "rainset.cli", *args], capture_output=True, text=True, env=env,
                          timeout=240)


def test_users_commands_take_and_show_the_email(tmp_path: Path) -> None:
    st = ["--store", str(tmp_path / "s")]
    assert _rainset("init", str(tmp_path / "s")).returncode == 0
    r = _rainset("users", "add", "ann", "--email", "ann@example.org", "--json", *st)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["email"] == "ann@example.org"
    r = _rainset("users", "add", "bob", "--email", "ann@example.org", *st)
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "already used by user 'ann'" in r.stderr
    r = _rainset("users", "add", "bob", "--email", "not-an-address", *st)
    assert r.returncode == 1 and "invalid e-mail address 'not-an-address'" in r.stderr
    assert _rainset("users", "add", "bob", *st).returncode == 0
    r = _rainset("users", "set-email", "bob", "bob@example.org", "--json", *st)
    assert r.returncode == 0 and json.loads(r.stdout)["email"] == "bob@example.org"
    assert _rainset("users", "set-email", "bob", *st).returncode == 1  # neither an address nor --clear
    assert _rainset("users", "set-email", "ann", "--clear", *st).returncode == 0
    listed = json.loads(_rainset("users", "list", "--json", *st).stdout)
    assert {u["name"]: (u["email"], u["identity"]) for u in listed["users"]} == {
        "ann": (None, "ann@rainset.invalid"), "bob": ("bob@example.org", "bob@example.org")}
    text = _rainset("users", "list", *st).stdout
    assert "bob@example.org" in text and "(ann@rainset.invalid)" in text
