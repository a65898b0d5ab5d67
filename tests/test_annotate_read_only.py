"""The labelling web app on a read-only store (issue 18), over real HTTP: the pages, previews and
tiles work, every state-changing route answers 503 "read-only store", signing in needs no write,
signing out only deletes the cookie, and nothing in the store changes.

Tests run as root, where chmod stops nothing: the library's write-access check
(``rainset.store.os.access``) is what makes the store read-only here, as in
tests/test_settings_identity.py.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from rainset.annotate_ui import AppSettings, create_app
from rainset.annotate_ui.config import SECRET_FILE
from rainset.annotate_ui.security import COOKIE_NAME
from rainset.store import open_store

from tests.annotate_fixtures import REPO, ThreadServer, free_port, make_store, make_users, wait_for

USERS = {"ann1": "annotator", "rev": "reviewer", "adm": "admin"}


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    store = make_store(tmp_path_factory.mktemp("annotate-ro"), n=3, hostile=False, size=(320, 240))
    tokens = make_users(store, USERS)
    with ThreadServer(create_app(AppSettings(store=store, cookie_secure=False))) as srv:  # one label, while writable
        ann = {"Authorization": f"Bearer {tokens['ann1']}"}
        held = httpx.post(srv.url + "/api/queue/next", headers=ann).json()["item"]["capture_id"]
        assert httpx.post(srv.url + "/api/labels", json={"capture_id": held, "rain_type": "heavy"},
                          headers=ann).status_code == 201
    (store.root / SECRET_FILE).unlink()  # a read-only store that never had a server: no secret to read
    return store, tokens, held


def make_read_only(monkeypatch: pytest.MonkeyPatch, root: Path) -> None:
    """The store at ``root`` (and only it) cannot be written, as far as rainset can tell."""
    real_access = os.access

    def access(path, mode, *args, **kwargs):  # noqa: ANN001, ANN202 - os.access's signature
        inside = Path(path).resolve().is_relative_to(root)
        return False if mode == os.W_OK and inside else real_access(path, mode, *args, **kwargs)

    monkeypatch.setattr("rainset.store.os.access", access)


def snapshot(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in root.rglob("*")}


def cookie_of(response: httpx.Response) -> str:
    for header in response.headers.get_list("set-cookie"):
        name, _, rest = header.partition("=")
        if name == COOKIE_NAME:
            return rest.split(";")[0]
    raise AssertionError(f"no session cookie in {response.headers.get_list('set-cookie')}")


def test_read_only_store_serves_pages_and_refuses_changes(base, tmp_path, monkeypatch):
    src, tokens, held = base
    root = tmp_path / "store"
    shutil.copytree(src.root, root)
    make_read_only(monkeypatch, root)
    store = open_store(root, read_only_ok=True)
    assert store.read_only
    before = snapshot(root)
    bearer = {name: {"Authorization": f"Bearer {token}"} for name, token in tokens.items()}

    with ThreadServer(create_app(AppSettings(store=store, cookie_secure=False))) as srv:
        get = lambda path, who: httpx.get(srv.url + path, headers=bearer[who])  # noqa: E731
        # signing in reads the session epoch and writes nothing
        res = httpx.post(srv.url + "/api/session", json={"token": tokens["rev"]})
        assert res.status_code == 200, res.text
        cookie, csrf = {"Cookie": f"{COOKIE_NAME}={cookie_of(res)}"}, res.json()["csrf_token"]
        form = httpx.post(srv.url + "/login", data={"token": tokens["ann1"], "next": "/label"}, follow_redirects=False)
        assert form.status_code == 303 and cookie_of(form)

        # the read-only pages, their JSON twins, previews and tiles
        for path in ("/label", "/browse", "/review", "/agreement", f"/captures/{held}"):
            page = httpx.get(srv.url + path, headers=cookie)
            assert page.status_code == 200 and "text/html" in page.headers["content-type"], (path, page.status_code)
        for path, who in (("/admin/users", "adm"), ("/admin/queues", "adm")):
            assert httpx.get(srv.url + path, headers=bearer[who]).status_code == 200, path
        assert get("/api/captures", "rev").json()["total"] == 3
        assert get(f"/api/captures/{held}/labels", "rev").json()["labels"][0]["rain_type"] == "heavy"
        assert get(f"/api/captures/{held}", "ann1").json()["my_label"]["rain_type"] == "heavy"
        assert get("/api/label", "ann1").status_code == 200
        assert get("/api/progress", "ann1").json()["done"] == 1
        assert get("/api/agreement", "rev").status_code == 200
        assert get("/api/users", "adm").status_code == 200
        assert get(f"/api/captures/{held}/preview.jpg", "ann1").content[:2] == b"\xff\xd8"
        assert get(f"/api/captures/{held}/zoom", "ann1").status_code == 200  # they labelled it
        assert get(f"/api/captures/{held}/tiles/0/0.jpg", "ann1").content[:2] == b"\xff\xd8"

        # every state-changing route: 503, one line saying why
        writes = [("/api/queue/next", None, "ann1"),
                  ("/api/labels", {"capture_id": held, "rain_type": "light"}, "ann1"),
                  ("/api/labels/undo", None, "ann1"),
                  (f"/api/review/{held}", {"rain_type": "light"}, "rev"),
                  ("/api/users", {"name": "new", "role": "annotator"}, "adm"),
                  ("/api/users/ann1/disable", None, "adm"),
                  ("/api/queues/release", {"older_than_s": 0}, "adm")]
        for path, body, who in writes:
            res = httpx.post(srv.url + path, json=body, headers=bearer[who])
            assert res.status_code == 503, (path, res.status_code, res.text)
            assert res.json()["detail"].startswith(f"read-only store: {root}"), res.text
        # the web forms too, as an HTML page
        adm = httpx.post(srv.url + "/api/session", json={"token": tokens["adm"]})
        adm_cookie = {"Cookie": f"{COOKIE_NAME}={cookie_of(adm)}"}
        page = httpx.post(srv.url + "/admin/queues/release", data={"csrf_token": adm.json()["csrf_token"], "older_than_min": "5"},
                          headers={**adm_cookie, "Accept": "text/html"})
        assert page.status_code == 503 and "read-only store" in page.text
        # credentials still come first: anonymous writes are 401, not 503
        assert httpx.post(srv.url + "/api/labels", json={"capture_id": held, "rain_type": "light"}).status_code == 401

        # sign-out deletes the cookie but cannot move the epoch: the session ends by expiry
        out = httpx.delete(srv.url + "/api/session", headers={**cookie, "X-CSRF-Token": csrf})
        assert out.status_code == 204 and "Max-Age=0" in out.headers["set-cookie"]
        assert httpx.get(srv.url + "/api/me", headers=cookie).status_code == 200
        out = httpx.post(srv.url + "/logout", data={"csrf_token": csrf}, headers=cookie, follow_redirects=False)
        assert out.status_code == 303 and out.headers["location"] == "/login"

    assert snapshot(root) == before  # nothing written: no secret, no WAL, no label
    assert not (root / SECRET_FILE).exists()


SERVE_READ_ONLY = """
import os, sys
from pathlib import Path
root = Path(sys.argv[1]).resolve()
real = os.access
os.access = lambda p, m, *a, **k: False if m == os.W_OK and Path(p).resolve().is_relative_to(root) else real(p, m, *a, **k)
from rainset.cli import app
app(prog_name="rainset", args=sys.argv[2:])
"""


def test_annotate_serve_opens_a_read_only_store(base, tmp_path):
    src, tokens, held = base
    root = tmp_path / "store"
    shutil.copytree(src.root, root)
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", SERVE_READ_ONLY, str(root), "annotate", "serve", "--store", str(root),
                             "--port", str(port), "--log-level", "warning"],
                            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(url + "/login", proc=proc)
        rev = {"Authorization": f"Bearer {tokens['rev']}"}
        assert httpx.get(url + "/api/review", headers=rev).status_code == 200
        res = httpx.post(f"{url}/api/review/{held}", json={"rain_type": "light"}, headers=rev)
        assert res.status_code == 503 and "read-only store" in res.json()["detail"]
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=20)
    assert f"read-only store: {root}: serving the pages only" in " ".join(stderr.split())  # rich wraps lines
