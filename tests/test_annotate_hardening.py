"""Hardening of the labelling web app (issue 18), over real HTTP: session revocation, the sign-in
limit, the body limit, non-finite numbers, trusted hosts, serve options, the 100 % view rules."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy import select

from rainset.annotate_ui import AppSettings, create_app
from rainset.annotate_ui.limits import LoginLimiter, host_name
from rainset.annotate_ui.security import COOKIE_NAME
from rainset.annotate_ui.strictjson import strict_loads
from rainset.catalog.db import MIGRATIONS, current_revision, head_revision, open_catalog
from rainset.catalog.models import Capture, Label, User
from rainset.errors import ConfigError
from rainset.store import open_store

from tests.annotate_fixtures import REPO, SERVE, ThreadServer, free_port, make_store, make_users, start_cli_server

USERS = {"ann1": "annotator", "ann2": "annotator", "rev": "reviewer", "adm": "admin"}
DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    store = make_store(tmp_path_factory.mktemp("annotate-hard"), n=4, hostile=False, size=(320, 240))
    return store, make_users(store, USERS)


@pytest.fixture()
def store_tokens(base, tmp_path):
    store, tokens = base
    shutil.copytree(store.root, tmp_path / "store")
    return open_store(tmp_path / "store"), dict(tokens)


def serve(store, **options) -> ThreadServer:
    options.setdefault("cookie_secure", False)
    return ThreadServer(create_app(AppSettings(store=store, **options)))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def capture_ids(store) -> list[str]:
    catalog = open_catalog(store.db_url)
    with catalog.session() as s:
        ids = list(s.scalars(select(Capture.id).order_by(Capture.id)))
    catalog.close()
    return ids


def cookie_of(response: httpx.Response) -> str:
    """The session cookie value a sign-in response sets (read by hand: Secure cookies and plain http)."""
    for header in response.headers.get_list("set-cookie"):
        name, _, rest = header.partition("=")
        if name == COOKIE_NAME:
            return rest.split(";")[0]
    raise AssertionError(f"no session cookie in {response.headers.get_list('set-cookie')}")


def sign_in(url: str, token: str) -> tuple[dict[str, str], str]:
    """Sign in over HTTP: the headers carrying the session cookie and its CSRF token."""
    res = httpx.post(url + "/api/session", json={"token": token})
    assert res.status_code == 200, res.text
    return {"Cookie": f"{COOKIE_NAME}={cookie_of(res)}"}, res.json()["csrf_token"]


# --- 4. non-finite numbers -------------------------------------------------------------------


NON_FINITE = ("NaN", "Infinity", "-Infinity", "1e999", "-1e999")


def test_non_finite_numbers_are_422_everywhere_and_the_error_serialises(store_tokens):
    store, tokens = store_tokens
    cid = capture_ids(store)[0]
    with serve(store) as srv:
        ann, adm = bearer(tokens["ann1"]), bearer(tokens["adm"])
        bodies = []
        for number in NON_FINITE:
            bodies += [("/api/labels", ann, f'{{"capture_id": "{cid}", "rain_type": "heavy", "duration_ms": {number}}}'),
                       ("/api/labels", ann, f'{{"capture_id": "{cid}", "rain_type": "heavy", "attributes": [{number}]}}'),
                       ("/api/queues/release", adm, f'{{"older_than_s": {number}}}'),
                       ("/api/session", {}, f'{{"token": {number}}}')]
        bodies += [("/api/queues/release", adm, '{"older_than_s": 1e308}'),  # finite, but past any date
                   ("/api/labels", ann, f'{{"capture_id": "{cid}", "rain_type": "heavy", "duration_ms": 1e300}}'),
                   ("/api/labels", ann, f'{{"capture_id": "{cid}", "rain_type": "heavy", "duration_ms": {"9" * 5000}}}')]
        for path, headers, text in bodies:
            res = httpx.post(srv.url + path, content=text, headers={**headers, "Content-Type": "application/json"})
            assert res.status_code == 422, (path, text[:80], res.status_code, res.text[:200])
            detail = res.json()["detail"]  # the error itself is JSON
            assert detail and json.dumps(detail, allow_nan=False)
        form = httpx.post(srv.url + "/admin/queues/release", data={"older_than_min": "inf"}, headers=adm,
                          follow_redirects=False)
        assert form.status_code == 422 and json.dumps(form.json(), allow_nan=False)
        ok = httpx.post(srv.url + "/api/queues/release", json={"older_than_s": 3600.5}, headers=adm)
        assert ok.status_code == 200 and ok.json() == {"released": 0}


def test_strict_loads_refuses_what_json_cannot_hold():
    assert strict_loads(b'{"a": [1, 2.5, -3e10]}') == {"a": [1, 2.5, -3e10]}
    for text in ("NaN", "[Infinity]", '{"x": -Infinity}', "1e400"):
        with pytest.raises(json.JSONDecodeError):
            strict_loads(text)


# --- 3. body limit ---------------------------------------------------------------------------


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_an_anonymous_5_mb_body_is_413_before_it_is_read(store_tokens):
    store, tokens = store_tokens
    server = start_cli_server(store, "--insecure-cookie")
    try:
        big = b'{"token": "' + b"x" * (5 << 20) + b'"}'
        for _ in range(3):  # warm up what a refused request allocates
            httpx.post(server.url + "/api/session", content=b"{}" + b" " * (2 << 20),
                       headers={"Content-Type": "application/json"})
        before = rss_kib(server.proc.pid)
        for path in ("/api/session", "/api/labels", "/login"):
            res = httpx.post(server.url + path, content=big, headers={"Content-Type": "application/json"})
            assert res.status_code == 413, (path, res.status_code)
            assert "limit is 1048576 bytes" in res.json()["detail"]

        def chunks():  # no Content-Length: counted as it streams in
            for _ in range(80):
                yield b" " * 65536

        statuses = []
        for _ in range(3):
            try:
                statuses.append(httpx.post(server.url + "/api/session", content=chunks(),
                                           headers={"Content-Type": "application/json"}).status_code)
            except httpx.TransportError:  # the server may close before the client finishes sending
                statuses.append("closed")
        assert 413 in statuses and set(statuses) <= {413, "closed"}, statuses
        grown = rss_kib(server.proc.pid) - before
        assert grown < 4096, f"server RSS grew by {grown} KiB"
        # a body within the limit still reaches the route (and a valid token signs in)
        assert httpx.post(server.url + "/api/session", json={"token": tokens["ann1"]}).status_code == 200
    finally:
        server.stop()


def test_the_body_limit_is_configurable(store_tokens):
    store, tokens = store_tokens
    with serve(store, max_body_bytes=2048) as srv:
        h = bearer(tokens["adm"])
        assert httpx.post(srv.url + "/api/queues/release", json={"user": None, "older_than_s": 1.0}, headers=h).status_code == 200
        padded = '{"older_than_s": 1.0' + " " * 4096 + "}"
        res = httpx.post(srv.url + "/api/queues/release", content=padded, headers={**h, "Content-Type": "application/json"})
        assert res.status_code == 413 and "2048" in res.json()["detail"]
    with pytest.raises(ConfigError, match="max body bytes"):
        AppSettings(store=store, max_body_bytes=10)


# --- 1. session revocation -------------------------------------------------------------------


def test_sign_out_ends_the_session_and_the_deletion_cookie_matches(store_tokens):
    store, tokens = store_tokens
    with serve(store, cookie_secure=True) as srv:
        cookie, csrf = sign_in(srv.url, tokens["ann1"])
        other_device, _ = sign_in(srv.url, tokens["ann1"])
        assert httpx.get(srv.url + "/api/me", headers=cookie).status_code == 200
        res = httpx.delete(srv.url + "/api/session", headers={**cookie, "X-CSRF-Token": csrf})
        assert res.status_code == 204
        deletion = next(h for h in res.headers.get_list("set-cookie") if h.startswith(COOKIE_NAME + "="))
        attrs = {a.strip().split("=")[0].lower(): a.strip() for a in deletion.split(";")}
        assert {"secure", "httponly", "samesite", "max-age"} <= attrs.keys(), deletion
        assert attrs["samesite"].lower() == "samesite=strict" and attrs["max-age"] == "Max-Age=0"
        for replayed in (cookie, other_device):  # sign-out ends every session of the user
            assert httpx.get(srv.url + "/api/me", headers=replayed).status_code == 401
            assert httpx.get(srv.url + "/label", headers=replayed, follow_redirects=False).status_code == 303
        # a new sign-in works again; POST /logout ends it the same way
        cookie, csrf = sign_in(srv.url, tokens["ann1"])
        out = httpx.post(srv.url + "/logout", data={"csrf_token": csrf}, headers=cookie, follow_redirects=False)
        assert out.status_code == 303 and "secure" in out.headers["set-cookie"].lower()
        assert httpx.get(srv.url + "/api/me", headers=cookie).status_code == 401
        assert httpx.get(srv.url + "/api/me", headers=bearer(tokens["ann1"])).status_code == 200  # the token stays


def test_token_rotation_and_disable_end_existing_sessions(store_tokens):
    store, tokens = store_tokens
    with serve(store, identity_ttl_s=0.0) as srv:
        cookie, _ = sign_in(srv.url, tokens["ann1"])
        cli = subprocess.run([sys.executable, "-c", SERVE, "users", "token", "ann1", "--store", str(store.root), "--json"],
                             cwd=REPO, capture_output=True, text=True, timeout=120)
        assert cli.returncode == 0, cli.stderr
        new_token = json.loads(cli.stdout)["token"]
        assert httpx.get(srv.url + "/api/me", headers=bearer(tokens["ann1"])).status_code == 401
        assert httpx.get(srv.url + "/api/me", headers=cookie).status_code == 401
        assert httpx.get(srv.url + "/api/me", headers=bearer(new_token)).json()["user"]["name"] == "ann1"

        cookie2, _ = sign_in(srv.url, tokens["ann2"])
        assert httpx.post(srv.url + "/api/users/ann2/disable", headers=bearer(tokens["adm"])).status_code == 200
        assert httpx.get(srv.url + "/api/me", headers=cookie2).status_code == 401

        # disabling from the command line ends the sessions too
        cookie3, _ = sign_in(srv.url, new_token)
        cli = subprocess.run([sys.executable, "-c", SERVE, "users", "disable", "ann1", "--store", str(store.root)],
                             cwd=REPO, capture_output=True, text=True, timeout=120)
        assert cli.returncode == 0, cli.stderr
        assert httpx.get(srv.url + "/api/me", headers=cookie3).status_code == 401
        assert httpx.get(srv.url + "/api/me", headers=bearer(new_token)).status_code == 401


def migrate_to(url: str, revision: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    engine.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_migration_0006_adds_the_session_epoch(backend, tmp_path, request):
    url = f"sqlite:///{tmp_path / 'c.db'}" if backend == "sqlite" else request.getfixturevalue("pg_url")
    migrate_to(url, "0005")
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO users (name, role, token_hash, disabled, created_at) "
                             "VALUES ('u', 'annotator', 'h', false, CURRENT_TIMESTAMP)"))
    engine.dispose()
    catalog = open_catalog(url)  # upgrades to head, as every command does on open
    try:
        assert current_revision(catalog.engine) == head_revision()
        with catalog.session() as s:
            assert s.scalars(select(User.session_epoch)).one() == 0
    finally:
        catalog.close()


def test_a_store_made_by_the_previous_release_upgrades_intact(tmp_path):
    shutil.copytree(DATA / "store-v0.1.0", tmp_path / "store")
    tokens = json.loads((DATA / "store-v0.1.0.tokens.json").read_text())
    raw = sa.create_engine(f"sqlite:///{tmp_path / 'store' / 'catalog.db'}")
    assert current_revision(raw) == "0005"
    with raw.connect() as conn:
        assert "session_epoch" not in {c["name"] for c in sa.inspect(conn).get_columns("users")}
    raw.dispose()
    store = open_store(tmp_path / "store")
    catalog = open_catalog(store.db_url)
    try:
        assert current_revision(catalog.engine) == head_revision()
        with catalog.session() as s:
            users = {u.name: (u.role, u.disabled, u.session_epoch) for u in s.scalars(select(User))}
            assert users == {"ann": ("annotator", False, 0), "rev": ("reviewer", False, 0), "old": ("annotator", True, 0)}
            assert len(list(s.scalars(select(Capture.id)))) == 3
            labels = sorted((lab.user_id, lab.rain_type) for lab in s.scalars(select(Label)))
            assert labels == [(1, "heavy")] * 3 + [(2, "drizzle")] * 3
    finally:
        catalog.close()
    with serve(store) as srv:  # the old tokens still sign in; the disabled user still cannot
        cookie, _ = sign_in(srv.url, tokens["ann"])
        assert httpx.get(srv.url + "/api/me", headers=cookie).json()["user"]["name"] == "ann"
        assert httpx.post(srv.url + "/api/session", json={"token": tokens["old"]}).status_code == 401


# --- 2. failed sign-in limit -----------------------------------------------------------------


def test_a_burst_of_wrong_tokens_is_throttled_while_valid_sessions_keep_working(store_tokens):
    store, tokens = store_tokens
    with serve(store, login_failures_per_address=5, login_failures_global=50) as srv:
        cookie, _ = sign_in(srv.url, tokens["ann1"])
        statuses: list[int] = []
        retry_after: set[str] = set()

        def attack() -> None:
            with httpx.Client() as c:
                for i in range(60):
                    res = (c.post(srv.url + "/api/session", json={"token": f"wrong{i}"}) if i % 2 else
                           c.get(srv.url + "/api/me", headers=bearer(f"wrong{i}")))
                    statuses.append(res.status_code)
                    if res.status_code == 429:
                        retry_after.add(res.headers["retry-after"])

        threads = [threading.Thread(target=attack) for _ in range(3)]
        for t in threads:
            t.start()
        served = []
        while any(t.is_alive() for t in threads):
            served.append(httpx.get(srv.url + "/api/me", headers=cookie).status_code)
            served.append(httpx.get(srv.url + "/api/progress", headers=bearer(tokens["ann2"])).status_code)
        for t in threads:
            t.join()
        assert served and set(served) == {200}
        assert statuses.count(401) == 5 and statuses.count(429) == len(statuses) - 5
        assert retry_after and all(0 < int(v) <= 60 for v in retry_after)
        # a valid token signs in even now, from the throttled address
        assert httpx.post(srv.url + "/api/session", json={"token": tokens["rev"]}).status_code == 200
        page = httpx.post(srv.url + "/login", data={"token": "wrong"}, follow_redirects=False)
        assert page.status_code == 429 and "retry-after" in page.headers


def test_the_global_ceiling_counts_every_address(store_tokens):
    store, tokens = store_tokens
    with serve(store, login_failures_per_address=5, login_failures_global=8) as srv:
        def client(address: str) -> httpx.Client:
            return httpx.Client(transport=httpx.HTTPTransport(local_address=address))

        with client("127.0.0.1") as a, client("127.0.0.2") as b, client("127.0.0.3") as c:
            assert [a.post(srv.url + "/api/session", json={"token": "x"}).status_code for _ in range(5)] == [401] * 5
            assert a.post(srv.url + "/api/session", json={"token": "x"}).status_code == 429  # per address
            assert [b.post(srv.url + "/api/session", json={"token": "x"}).status_code for _ in range(3)] == [401] * 3
            res = c.post(srv.url + "/api/session", json={"token": "x"})
            assert res.status_code == 429 and int(res.headers["retry-after"]) > 0  # global ceiling
            assert c.post(srv.url + "/api/session", json={"token": tokens["ann1"]}).status_code == 200


def test_the_limiter_window_slides():
    lim = LoginLimiter(per_address=2, overall=100, window_s=10)
    assert LoginLimiter(per_address=100, overall=1, window_s=10).failed("x", now=0) is None
    assert lim.failed("a", now=0) is None and lim.failed("a", now=1) is None
    assert lim.failed("a", now=2) == 8  # the failure at t=0 leaves the window at t=10
    assert lim.failed("b", now=2) is None
    assert lim.failed("a", now=12.5) is None  # the failures at t=0, 1 and 2 have all left the window
    assert lim.failed("a", now=12.6) is None and lim.failed("a", now=12.7) is not None


# --- 5. trusted hosts and serve options ------------------------------------------------------


def test_untrusted_host_headers_get_400(store_tokens):
    store, _ = store_tokens
    with serve(store, allowed_hosts=("127.0.0.1", "localhost", "::1")) as srv:
        for host in ("evil.example", "evil.example:80", "127.0.0.1.evil.example", ""):
            assert httpx.get(srv.url + "/login", headers={"Host": host}).status_code == 400, host
        for host in (f"127.0.0.1:{srv.port}", "localhost", f"LOCALHOST:{srv.port}", f"[::1]:{srv.port}"):
            assert httpx.get(srv.url + "/login", headers={"Host": host}).status_code == 200, host
    assert host_name("[::1]:8080") == "::1" and host_name("Example.org:443") == "example.org"


def test_serve_accepts_only_its_own_host_names_by_default(store_tokens):
    store, _ = store_tokens
    server = start_cli_server(store, "--insecure-cookie", "--origin", "https://label.example.org")
    try:
        assert httpx.get(server.url + "/login", headers={"Host": "evil.example"}).status_code == 400
        assert httpx.get(server.url + "/login", headers={"Host": "label.example.org"}).status_code == 200
        assert httpx.get(server.url + "/login").status_code == 200
    finally:
        server.stop()


@pytest.mark.parametrize(("args", "message"), [
    (["--session-hours", "inf"], "--session-hours inf is out of range"),
    (["--session-hours", "nan"], "--session-hours nan is out of range"),
    (["--session-hours", "0"], "--session-hours 0.0 is out of range"),
    (["--max-body", "10"], "--max-body 10 is out of range"),
    (["--tile-cache-mb", "-1"], "--tile-cache-mb -1 is out of range"),
])
def test_serve_refuses_bad_options_in_one_line(store_tokens, args, message):
    store, _ = store_tokens
    res = subprocess.run([sys.executable, "-c", SERVE, "annotate", "serve", "--store", str(store.root), *args],
                         cwd=REPO, capture_output=True, text=True, timeout=120)
    assert res.returncode != 0
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], res.stderr


def test_serve_warns_when_bound_beyond_loopback_without_tls(store_tokens):
    store, _ = store_tokens
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", SERVE, "annotate", "serve", "--store", str(store.root),
                             "--host", "127.0.0.2", "--port", str(port), "--log-level", "warning"],
                            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith("serving"):
                break
        assert any(line.startswith("warning: listening on 127.0.0.2") and "TLS" in line for line in lines), lines
    finally:
        proc.terminate()
        proc.wait(timeout=20)


# --- 6. the 100 % view -----------------------------------------------------------------------


def test_an_annotator_sees_at_100_percent_only_what_they_hold_or_labelled(store_tokens):
    store, tokens = store_tokens
    ids = capture_ids(store)
    with serve(store, tile_cache_bytes=0) as srv:
        ann = bearer(tokens["ann1"])
        held = httpx.post(srv.url + "/api/queue/next", headers=ann).json()["item"]["capture_id"]
        other = next(c for c in ids if c != held)
        assert httpx.get(f"{srv.url}/api/captures/{held}/zoom", headers=ann).status_code == 200
        assert httpx.get(f"{srv.url}/api/captures/{held}/tiles/0/0.jpg", headers=ann).status_code == 200
        for path in ("zoom", "tiles/0/0.jpg"):
            res = httpx.get(f"{srv.url}/api/captures/{other}/{path}", headers=ann)
            assert res.status_code == 403 and "not in your queue" in res.json()["detail"]
        # once labelled (and so no longer held), still visible
        assert httpx.post(srv.url + "/api/labels", json={"capture_id": held, "rain_type": "heavy"},
                          headers=ann).status_code == 201
        assert httpx.get(f"{srv.url}/api/captures/{held}/zoom", headers=ann).status_code == 200
        for role in ("rev", "adm"):
            assert httpx.get(f"{srv.url}/api/captures/{other}/zoom", headers=bearer(tokens[role])).status_code == 200
        # a cache bounded to 0 bytes keeps only the latest decode
        tiles = srv.server.config.app.state.tiles
        assert tiles.cached() == (other,) and tiles.cached_bytes() > 0
