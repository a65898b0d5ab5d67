"""The admin pages of issue 17: rejected files (``/admin/rejects``, twin ``/api/rejects``) and users' e-mail
on ``/admin/users``, through FastAPI's TestClient and (rejects) in real Chromium."""

from __future__ import annotations

import html
from collections import Counter
from dataclasses import asdict

import pytest
from fastapi.testclient import TestClient

from rainset.annotate_ui import AppSettings, create_app
from rainset.catalog.db import open_catalog
from rainset.ingest import IngestOptions, ingest
from rainset.labels.users import user_rows
from rainset.rejects import list_rejects

from tests.annotate_fixtures import browser_sign_in, make_store, make_users, start_cli_server, watch_errors

pytestmark = pytest.mark.timeout(240)

BASE_URL = "http://127.0.0.1:8080"
USERS = {"ann": "annotator", "rev": "reviewer", "adm": "admin", "eve": "annotator", "bob": "reviewer"}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A store of a few captures and, ingested beside them, files ingest refuses for several reasons."""
    base = tmp_path_factory.mktemp("adminpages")
    store = make_store(base, n=3, hostile=False)
    bad = base / "bad"
    bad.mkdir()
    for i in range(5):
        (bad / f"empty_{i}.jpg").write_bytes(b"")
    (bad / "notes.jpg").write_text("not an image at all\n" * 20)
    good = sorted((base / "captures").rglob("*.jpg"))[0].read_bytes()
    (bad / "cut<b>.jpg").write_bytes(good[: len(good) // 3])  # truncated, and a name HTML must escape
    ingest(store, [str(bad)], IngestOptions(workers=1))
    tokens = make_users(store, USERS)
    assert list_rejects(store).count >= 7
    return store, tokens


@pytest.fixture()
def client(built):
    store, _ = built
    with TestClient(create_app(AppSettings(store=store, cookie_secure=False)), base_url=BASE_URL) as c:
        yield c


def bearer(tokens: dict[str, str], name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens[name]}"}


def sign_in(client: TestClient, token: str) -> str:
    res = client.post("/api/session", json={"token": token})
    assert res.status_code == 200, res.text
    return res.json()["csrf_token"]


def test_rejects_twin_gives_the_cli_rows_filtered_and_paged(built, client):
    store, tokens = built
    full = list_rejects(store)
    res = client.get("/api/rejects", params={"limit": 500}, headers=bearer(tokens, "adm"))
    assert res.status_code == 200, res.text
    body = res.json()
    assert body["rejects"] == [asdict(r) for r in full.rejects] and body["total"] == full.count
    assert body["reasons"] == dict(Counter(r.reason for r in full.rejects)) and body["reason"] is None
    seen, offset = [], 0
    while True:
        page = client.get("/api/rejects", params={"limit": 2, "offset": offset}, headers=bearer(tokens, "adm")).json()
        assert page["total"] == full.count and len(page["rejects"]) <= 2
        if not page["rejects"]:
            break
        seen += page["rejects"]
        offset += 2
    assert seen == body["rejects"]
    for reason, n in body["reasons"].items():
        one = client.get("/api/rejects", params={"reason": reason}, headers=bearer(tokens, "adm")).json()
        assert one["total"] == n and one["reason"] == reason
        assert one["rejects"] == [asdict(r) for r in list_rejects(store, reason).rejects]
    assert "/api/rejects" in client.get("/openapi.json").json()["paths"]


@pytest.mark.parametrize("params", [{"reason": "nope"}, {"limit": 0}, {"limit": 501}, {"offset": -1}])
def test_rejects_bad_filter_or_paging_is_one_400(built, client, params):
    _, tokens = built
    res = client.get("/api/rejects", params=params, headers=bearer(tokens, "adm"))
    assert res.status_code == 400, res.text
    assert str(next(iter(params.values()))) in res.json()["detail"]
    page = client.get("/admin/rejects", params=params, headers={**bearer(tokens, "adm"), "Accept": "text/html"})
    assert page.status_code == 400 and "Error 400" in page.text


def test_rejects_are_for_admins_only(built, client):
    _, tokens = built
    for name in ("ann", "rev"):
        assert client.get("/api/rejects", headers=bearer(tokens, name)).status_code == 403
        page = client.get("/admin/rejects", headers={**bearer(tokens, name), "Accept": "text/html"})
        assert page.status_code == 403 and "admin" in page.text
        assert 'href="/admin/rejects"' not in client.get("/label", headers=bearer(tokens, name)).text
    assert client.get("/api/rejects").status_code == 401
    away = client.get("/admin/rejects", follow_redirects=False)
    assert away.status_code == 303 and away.headers["location"] == "/login?next=/admin/rejects"


def test_rejects_page_lists_filters_and_escapes(built, client):
    store, tokens = built
    full = list_rejects(store)
    sign_in(client, tokens["adm"])
    page = client.get("/admin/rejects")
    assert page.status_code == 200 and 'href="/admin/rejects"' in page.text  # in the admin navigation
    for r in full.rejects:
        assert html.escape(r.path) in page.text and html.escape(r.detail, quote=False) in page.text
    assert "cut<b>.jpg" not in page.text  # escaped, never markup
    reason, n = Counter(r.reason for r in full.rejects).most_common(1)[0]
    narrowed = client.get("/admin/rejects", params={"reason": reason}).text
    assert f'<b id="total">{n}</b>' in narrowed
    assert narrowed.count('data-reason="') == n == narrowed.count(f'data-reason="{reason}"')
    two = client.get("/admin/rejects", params={"limit": 2}).text
    assert two.count('data-reason="') == 2 and 'id="next"' in two and 'id="prev"' not in two


def test_users_page_shows_and_sets_the_email(built, client):
    store, tokens = built
    csrf = sign_in(client, tokens["adm"])

    def emails() -> dict[str, str | None]:
        catalog = open_catalog(store.db_url)
        try:
            with catalog.session() as s:
                return {u.name: u.email for u in user_rows(s)}
        finally:
            catalog.close()

    res = client.post("/admin/users/eve/email", data={"email": "Eve@Example.org", "csrf_token": csrf},
                      follow_redirects=False)
    assert res.status_code == 303, res.text
    assert emails()["eve"] == "eve@example.org"
    shown = client.get(res.headers["location"]).text
    assert 'value="eve@example.org"' in shown and 'id="email-set"' in shown
    assert 'placeholder="ann@rainset.invalid"' in shown  # the default identity where none is set
    for bad, reason in (("not-an-address", "invalid e-mail address 'not-an-address'"),
                        ("EVE@example.org", "already used by user 'eve'")):
        refused = client.post("/admin/users/bob/email", data={"email": bad, "csrf_token": csrf})
        assert refused.status_code == 400 and reason in html.unescape(refused.text)
        assert refused.text.count('role="alert"') == 1
        assert emails()["bob"] is None
    no_csrf = client.post("/admin/users/bob/email", data={"email": "bob@example.org"})
    assert no_csrf.status_code == 403 and emails()["bob"] is None
    assert client.post("/admin/users/eve/email", data={"email": "", "csrf_token": csrf},
                       follow_redirects=False).status_code == 303
    assert emails()["eve"] is None
    made = client.post("/admin/users", data={"name": "carol", "role": "annotator", "email": "carol@example.org",
                                             "csrf_token": csrf})
    assert made.status_code == 200 and emails()["carol"] == "carol@example.org"


def test_email_api_twin_sets_refuses_and_is_for_admins(built, client):
    _, tokens = built
    adm = bearer(tokens, "adm")
    ok = client.post("/api/users/rev/email", json={"email": "Rev@Example.org"}, headers=adm)
    assert ok.status_code == 200 and ok.json() == {"name": "rev", "email": "rev@example.org",
                                                   "identity": "rev@example.org"}
    assert client.post("/api/users/bob/email", json={"email": "rev@example.org"}, headers=adm).status_code == 409
    assert client.post("/api/users/bob/email", json={"email": "a b@c"}, headers=adm).status_code == 400
    assert client.post("/api/users/nobody/email", json={"email": "x@example.org"}, headers=adm).status_code == 404
    assert client.post("/api/users/rev/email", json={"email": "x@example.org"},
                       headers=bearer(tokens, "rev")).status_code == 403
    cleared = client.post("/api/users/rev/email", json={"email": None}, headers=adm).json()
    assert cleared == {"name": "rev", "email": None, "identity": "rev@rainset.invalid"}
    listed = {u["name"]: u for u in client.get("/api/users", headers=adm).json()}
    assert listed["rev"]["email"] is None and listed["rev"]["identity"] == "rev@rainset.invalid"


@pytest.mark.slow
def test_rejects_in_chromium_filter_page_and_navigation(browser, built, artifacts_dir):
    store, tokens = built
    full = list_rejects(store)
    server = start_cli_server(store)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        errors = watch_errors(page)
        browser_sign_in(page, server.url + "/admin/users", tokens["adm"])
        page.click("header nav a[href='/admin/rejects']")
        page.wait_for_url(server.url + "/admin/rejects")
        assert int(page.locator("#total").inner_text()) == full.count
        shown = page.locator("#rejects td.path").all_inner_texts()
        assert shown == [r.path for r in full.rejects][: len(shown)]
        reason, n = Counter(r.reason for r in full.rejects).most_common(1)[0]
        page.select_option("#reason", reason)
        page.click("#rejects-form button[type=submit]")
        page.wait_for_load_state()
        assert int(page.locator("#total").inner_text()) == n
        assert set(page.locator("#rejects tr[data-reason]").evaluate_all("els => els.map(e => e.dataset.reason)")) \
            == {reason}
        page.screenshot(path=str(artifacts_dir / "rejects.png"))
        page.goto(server.url + "/admin/rejects?limit=3")
        paths: list[str] = []
        while True:
            paths += page.locator("#rejects td.path").all_inner_texts()
            if page.locator("#next").count() == 0:
                break
            page.click("#next")
            page.wait_for_load_state()
        assert paths == [r.path for r in full.rejects]
        assert errors == []
    finally:
        context.close()
        server.stop()

