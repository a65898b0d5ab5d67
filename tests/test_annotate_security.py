"""Security of the labelling web app: authentication, CSRF, roles, path traversal, escaping."""

from __future__ import annotations

import http.client
import re
import shutil

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from rainset.annotate_ui import AppSettings, api, create_app, pages
from rainset.annotate_ui.security import COOKIE_NAME
from rainset.catalog.db import open_catalog
from rainset.catalog.models import File
from rainset.labels.consensus import current_labels
from rainset.store import open_store

from tests.annotate_fixtures import HOSTILE_FILE, HOSTILE_MAKE, ThreadServer, make_store, make_users

USERS = {"ann1": "annotator", "ann2": "annotator", "rev": "reviewer", "adm": "admin"}
BASE_URL = "http://127.0.0.1:8080"
SIGN_IN_ROUTES = {"/login", "/api/session"}  # state-changing only in that they sign in; they take a token
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    store = make_store(tmp_path_factory.mktemp("annotate-sec"), n=6)
    tokens = make_users(store, USERS)
    catalog = open_catalog(store.db_url)
    with catalog.session() as s:
        hostile = s.scalar(select(File.capture_id).where(File.uri.like("%onerror%")))
    catalog.close()
    return store, tokens, hostile


@pytest.fixture()
def env(base, tmp_path):
    store, tokens, hostile = base
    shutil.copytree(store.root, tmp_path / "store")
    st = open_store(tmp_path / "store")
    # these tests send many wrong tokens on purpose: the sign-in limit has its own tests
    app = create_app(AppSettings(store=st, cookie_secure=False, login_failures_per_address=10_000,
                                 login_failures_global=10_000))
    with TestClient(app, base_url=BASE_URL) as client:
        yield client, st, tokens, hostile, app


def bearer(tokens, name):
    return {"Authorization": f"Bearer {tokens[name]}"}


def sign_in(client, tokens, name) -> str:
    return client.post("/api/session", json={"token": tokens[name]}).json()["csrf_token"]


def unsafe_routes():
    for router in (api.router, pages.router):
        for route in router.routes:
            for method in route.methods & UNSAFE:
                yield method, route.path


def fill(path: str, capture_id: str) -> str:
    return (path.replace("{capture_id}", capture_id).replace("{name}", "ann2").replace("{key}", "cluster-" + capture_id)
            .replace("{action}", "split"))


def test_every_state_changing_route_refuses_anonymous_and_bad_tokens(env):
    client, _, _, cid, _ = env
    routes = sorted(unsafe_routes())
    forged_cookie = TestClient(client.app, base_url=BASE_URL)
    forged_cookie.cookies.set(COOKIE_NAME, "1.9999999999.x.forged")
    assert len(routes) >= 12
    for method, path in routes:
        if path in SIGN_IN_ROUTES:
            continue
        url = fill(path, cid)
        anonymous = client.request(method, url, json={}, follow_redirects=False)
        assert anonymous.status_code in (401, 403) or (not path.startswith("/api/") and anonymous.status_code == 303
                                                       and anonymous.headers["location"].startswith("/login")), (method, path)
        forged = client.request(method, url, json={}, headers={"Authorization": "Bearer forged"}, follow_redirects=False)
        assert forged.status_code in (401, 403, 303), (method, path, forged.status_code)
        tampered = forged_cookie.request(method, url, json={}, follow_redirects=False)
        assert tampered.status_code in (401, 403, 303), (method, path, tampered.status_code)
    assert client.post("/api/session", json={"token": "forged"}).status_code == 401
    assert client.post("/login", data={"token": "forged"}).status_code == 401


def test_cookie_requests_need_the_sessions_csrf_token(env):
    client, _, tokens, _, _ = env
    csrf = sign_in(client, tokens, "ann1")
    assert client.post("/api/queue/next").status_code == 403
    assert client.post("/api/queue/next", headers={"X-CSRF-Token": "wrong"}).status_code == 403
    other = TestClient(client.app, base_url=BASE_URL)
    other_csrf = other.post("/api/session", json={"token": tokens["ann2"]}).json()["csrf_token"]
    assert client.post("/api/queue/next", headers={"X-CSRF-Token": other_csrf}).status_code == 403
    item = client.post("/api/queue/next", headers={"X-CSRF-Token": csrf}).json()["item"]
    assert client.post("/api/labels", json={"capture_id": item["capture_id"], "rain_type": "heavy"}).status_code == 403
    assert client.post("/api/labels", headers={"X-CSRF-Token": csrf},
                       json={"capture_id": item["capture_id"], "rain_type": "heavy"}).status_code == 201
    assert client.post("/logout", data={}, follow_redirects=False).status_code == 403
    assert client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False).status_code == 303


def test_a_cross_site_form_post_is_refused(env):
    client, _, tokens, cid, _ = env
    csrf = sign_in(client, tokens, "rev")
    form = {"csrf_token": csrf, "rain_type": "heavy"}
    for headers in ({"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site"},
                    {"Sec-Fetch-Site": "same-site", "Origin": "http://sub.127.0.0.1:8080"}, {"Origin": "null"}):
        res = client.post(f"/review/{cid}", data=form, headers=headers, follow_redirects=False)
        assert res.status_code == 403, headers
        assert "cross" in res.text
    assert client.post("/login", data={"token": tokens["ann1"]}, headers={"Origin": "http://evil.example"},
                       follow_redirects=False).status_code == 403
    assert client.post("/api/session", json={"token": tokens["ann1"]},
                       headers={"Sec-Fetch-Site": "cross-site"}).status_code == 403
    same = client.post(f"/review/{cid}", data=form, follow_redirects=False,
                       headers={"Origin": BASE_URL, "Sec-Fetch-Site": "same-origin"})
    assert same.status_code == 303


def test_an_allowed_proxy_origin_may_post(base, tmp_path):
    store, tokens, _ = base
    shutil.copytree(store.root, tmp_path / "store")
    app = create_app(AppSettings(store=open_store(tmp_path / "store"), cookie_secure=False,
                                 allowed_origins=("https://labels.example.org",)))
    with TestClient(app, base_url=BASE_URL) as client:
        csrf = sign_in(client, tokens, "ann1")
        for origin, status in (("https://labels.example.org", 200), ("https://evil.example.org", 403)):
            res = client.post("/api/queue/next", headers={"X-CSRF-Token": csrf, "Origin": origin})
            assert res.status_code == status, origin


def test_bearer_requests_need_no_csrf_token(env):
    client, _, tokens, _, _ = env
    res = client.post("/api/queue/next", headers={**bearer(tokens, "ann1"), "Origin": "http://elsewhere.example"})
    assert res.status_code == 200


def test_an_annotator_reaches_no_reviewer_or_admin_route(env):
    client, _, tokens, cid, _ = env
    h = bearer(tokens, "ann1")
    forbidden = [("GET", "/api/review"), ("POST", f"/api/review/{cid}"), ("GET", "/api/agreement"),
                 ("GET", "/api/users"), ("POST", "/api/users"), ("POST", "/api/users/ann2/disable"),
                 ("GET", f"/api/captures/{cid}/labels"), ("GET", "/api/queues"), ("POST", "/api/queues/release")]
    bodies = {"/api/users": {"name": "x", "role": "admin"}, f"/api/review/{cid}": {"rain_type": "heavy"},
              "/api/queues/release": {}}
    for method, url in forbidden:
        assert client.request(method, url, headers=h, json=bodies.get(url)).status_code == 403, url
    csrf = sign_in(client, tokens, "ann1")
    for url in ("/review", "/agreement", "/admin/users", "/admin/queues"):
        assert client.get(url).status_code == 403, url
    for url, data in ((f"/review/{cid}", {"rain_type": "heavy"}), ("/admin/users", {"name": "x", "role": "admin"}),
                      ("/admin/users/ann2/disable", {}), ("/admin/queues/release", {"user": "ann2"})):
        assert client.post(url, data={**data, "csrf_token": csrf}, follow_redirects=False).status_code == 403, url
    assert [u["name"] for u in client.get("/api/users", headers=bearer(tokens, "adm")).json()] == sorted(USERS)


def test_an_annotator_reads_and_changes_only_their_own_labels(env):
    client, store, tokens, _, _ = env
    a1, a2 = bearer(tokens, "ann1"), bearer(tokens, "ann2")
    first = client.post("/api/queue/next", headers=a1).json()["item"]["capture_id"]
    second_item = client.post("/api/labels", headers=a1, json={"capture_id": first, "rain_type": "streak"})
    assert second_item.status_code == 201
    second = client.post("/api/queue/next", headers=a1).json()["item"]["capture_id"]
    client.post("/api/labels", headers=a1, json={"capture_id": second, "rain_type": "fog-mixed"})
    # ann2 sees none of ann1's labels, anywhere
    assert client.get("/api/labels/mine", headers=a2).json() == {}
    assert client.get("/api/labels/mine", params={"capture_id": [first, second]}, headers=a2).json() == {}
    assert client.get(f"/api/captures/{first}", headers=a2).json()["my_label"] is None
    assert client.get(f"/api/captures/{first}", headers=a1).json()["my_label"]["rain_type"] == "streak"
    # ann2 cannot relabel a capture that is not in their queue, nor undo ann1's work
    assert client.post("/api/labels", headers=a2, json={"capture_id": second, "rain_type": "heavy"}).status_code == 403
    assert client.post("/api/labels/undo", headers=a2).json() == {"capture_id": None}
    catalog = open_catalog(store.db_url)
    with catalog.session() as s:
        labels = current_labels(s, [first, second])
    catalog.close()
    assert [(r.user, r.rain_type) for r in labels[first].labels] == [("ann1", "streak")]
    assert [(r.user, r.rain_type) for r in labels[second].labels] == [("ann1", "fog-mixed")]


TRAVERSALS = [
    "/api/captures/../../rainset.toml/preview.jpg",
    "/api/captures/..%2F..%2Frainset.toml/preview.jpg",
    "/api/captures/%2e%2e%2f%2e%2e%2fcatalog.db/preview.jpg",
    "/api/captures/..%252F..%252Fsecret/preview.jpg",
    "/api/captures/%2Fetc%2Fpasswd/preview.jpg",
    "/api/captures//etc/passwd/preview.jpg",
    "/api/captures/%2Fetc%2Fpasswd/zoom",
    "/api/captures/..%2Fsecret/tiles/0/0.jpg",
    "/api/captures/c000000000000000000000000/preview.jpg",
    "/api/captures/..%5C..%5Csecret/preview.jpg",
    "/api/captures/%00/preview.jpg",
    "/static/../secret",
    "/static/..%2f..%2fsecret",
    "/static/%2e%2e/app.py",
    "/static/%2e%2e%2fapp.py",
    "/static//etc/passwd",
    "/static/%2Fetc%2Fpasswd",
    "/captures/..%2F..%2Fsecret",
]


def test_path_traversal_in_image_routes_is_404(env):
    client, store, tokens, _, app = env
    secret = (store.root / "secret").read_text().strip()
    with ThreadServer(app) as server:
        for path in TRAVERSALS:  # raw request lines: no client-side normalisation of ../ or %2e
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
            conn.putrequest("GET", path, skip_accept_encoding=True)
            conn.putheader("Authorization", f"Bearer {tokens['adm']}")
            conn.endheaders()
            res = conn.getresponse()
            body = res.read()
            conn.close()
            assert res.status == 404, (path, res.status, body[:200])
            assert secret.encode() not in body and b"root:" not in body and b"SQLite format" not in body


def test_html_in_file_names_and_exif_is_escaped(env):
    client, _, tokens, hostile, _ = env
    sign_in(client, tokens, "adm")
    page = client.get(f"/captures/{hostile}").text
    assert HOSTILE_FILE not in page and HOSTILE_MAKE not in page and "<b>1</b>" not in page
    assert "&lt;img src=x onerror=alert(&#34;file&#34;)&gt;.jpg" in page
    assert "&lt;script&gt;alert(&#34;make&#34;)&lt;/script&gt;" in page
    assert "L &amp; &lt;i&gt;" in page
    data = client.get(f"/api/captures/{hostile}").json()  # the JSON twin holds the strings as they are
    assert data["capture"]["files"] == [HOSTILE_FILE] and data["capture"]["exif"]["make"] == HOSTILE_MAKE
    # the labelling page renders the capture up next on the server: walk the queue to the hostile one
    h = bearer(tokens, "adm")
    for _ in range(10):
        current = client.get("/api/label", headers=h).json()["current"]
        if current["capture_id"] == hostile:
            break
        item = client.post("/api/queue/next", headers=h).json()["item"]
        client.post("/api/labels", headers=h, json={"capture_id": item["capture_id"], "rain_type": "heavy"})
    label_page = client.get("/label").text
    assert hostile in label_page and HOSTILE_MAKE not in label_page and HOSTILE_FILE not in label_page
    assert "&lt;script&gt;alert(&#34;make&#34;)&lt;/script&gt;" in label_page
    assert not re.search(r"<script(?! (type=\"application/json\" id=\"boot\"|src=\"/static/label\.js\" defer))", label_page)


def test_sign_in_never_redirects_to_another_site(env):
    client, _, tokens, _, _ = env
    for target in ("//evil.example/x", "https://evil.example", "/\\evil.example", "javascript:alert(1)"):
        res = client.post("/login", data={"token": tokens["ann1"], "next": target}, follow_redirects=False)
        assert res.status_code == 303 and res.headers["location"] == "/label", target


def test_responses_carry_security_headers(env):
    client, _, tokens, _, _ = env
    for res in (client.get("/login"), client.get("/api/me", headers=bearer(tokens, "ann1"))):
        csp = res.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "'unsafe-inline'" not in csp
        assert res.headers["x-content-type-options"] == "nosniff" and res.headers["x-frame-options"] == "DENY"
    assert client.get("/api/me", headers=bearer(tokens, "ann1")).headers["cache-control"] == "no-store"
    assert client.get("/login").headers["cache-control"] == "no-store"
    assert "no-store" not in client.get("/static/app.css").headers.get("cache-control", "")


def test_a_tampered_or_expired_cookie_is_refused(env):
    client, _, tokens, _, _ = env
    sign_in(client, tokens, "ann1")
    good = client.cookies[COOKIE_NAME]
    uid, epoch, issued, nonce, sig = good.split(".")
    for bad in (f"4.{epoch}.{issued}.{nonce}.{sig}", f"{uid}.{epoch}.{int(issued) + 1}.{nonce}.{sig}",
                f"{uid}.{epoch}.{issued}.{nonce}.{sig[:-2]}AA", f"{uid}.{int(epoch) + 1}.{issued}.{nonce}.{sig}",
                f"{uid}.{epoch}.1000000000.{nonce}.{sig}", f"{uid}.{issued}.{nonce}.{sig}", "garbage"):
        client.cookies.clear()
        client.cookies.set(COOKIE_NAME, bad)
        assert client.get("/api/me").status_code == 401, bad
        assert client.get("/label", follow_redirects=False).status_code == 303
    from rainset.annotate_ui.security import make_cookie, read_cookie

    secret = env[4].state.secret
    old = make_cookie(secret, int(uid), int(epoch), now=1_000_000.0)
    assert read_cookie(secret, old, 3600, now=1_000_000.0 + 3599).user_id == int(uid)
    assert read_cookie(secret, old, 3600, now=1_000_000.0 + 3601) is None
