"""Cluster review (``/groups``) over real HTTP (``rainset annotate serve`` on 127.0.0.1) and in real
Chromium: listing, a cluster side by side, and corrections that equal ``rainset groups …``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from rainset.annotate_ui.pages import PAGE_TWINS
from rainset.annotate_ui.security import COOKIE_NAME
from rainset.catalog.db import open_catalog
from rainset.dedupe.corrections import list_corrections
from rainset.dedupe.groups import list_groups
from rainset.dedupe.run import dedupe
from rainset.ingest import IngestOptions, ingest
from rainset.store import Store, init_store, open_store
from rainset.synth import generate_dataset

from tests.annotate_fixtures import REPO, browser_sign_in, make_users, start_cli_server, watch_errors

pytestmark = pytest.mark.timeout(300)

CLI = "from rainset.cli import app; app(prog_name='rainset')"


def cli(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "RAINSET_STORE"}
    return subprocess.run([sys.executable, "-c", CLI, *args], capture_output=True, text=True, env=env, cwd=REPO,
                          timeout=240)


def groups_of(store: Store, kind: str | None = None):
    catalog = open_catalog(store.db_url)
    try:
        with catalog.session() as s:
            return list_groups(s, kind)
    finally:
        catalog.close()


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A deduped store with clusters, bursts and scene groups, its users, and a pristine copy."""
    base = tmp_path_factory.mktemp("groupsweb")
    truth = generate_dataset(base / "caps", 14, seed=4, raw_pairs=2, bursts=1, near_duplicates=3, exact_copies=1,
                             corrupt=False)
    store = init_store(base / "store")
    ingest(store, [truth.root], IngestOptions(workers=1))
    dedupe(store)
    tokens = make_users(store, {"ann": "annotator", "rev": "reviewer", "adm": "admin"})
    pristine = base / "pristine"
    shutil.copytree(store.root, pristine)
    return store, tokens, pristine


@pytest.fixture(scope="module")
def served(built):
    store, tokens, _ = built
    server = start_cli_server(store)
    yield store, tokens, server
    server.stop()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def sign_in(client: httpx.Client, token: str) -> str:
    """Sign in by cookie over plain http (the served cookie is Secure: httpx keeps it only for https)."""
    res = client.post("/api/session", json={"token": token})
    assert res.status_code == 200, res.text
    client.cookies.set(COOKIE_NAME, res.cookies[COOKIE_NAME])
    return res.json()["csrf_token"]


def test_list_pages_and_cluster_detail(served):
    store, tokens, server = served
    clusters = groups_of(store, "cluster")
    assert len(clusters) >= 2
    res = httpx.get(server.url + "/api/groups", headers=bearer(tokens["rev"]), timeout=60)
    assert res.status_code == 200, res.text
    body = res.json()
    assert body["total"] == len(clusters)
    assert body["counts"] == {k: len(groups_of(store, k)) for k in ("cluster", "burst", "scene")}
    sizes = [i["size"] for i in body["items"]]
    assert sizes == sorted(sizes, reverse=True)
    keys = []
    for offset in range(0, len(clusters)):
        page = httpx.get(server.url + "/api/groups", params={"limit": 1, "offset": offset},
                         headers=bearer(tokens["adm"]), timeout=60).json()
        keys += [i["key"] for i in page["items"]]
    assert sorted(keys) == sorted(g.key for g in clusters)
    bursts = httpx.get(server.url + "/api/groups", params={"kind": "burst"}, headers=bearer(tokens["rev"]),
                       timeout=60).json()
    assert {i["key"] for i in bursts["items"]} == {g.key for g in groups_of(store, "burst")}
    for g in clusters:
        detail = httpx.get(server.url + f"/api/groups/{g.key}", headers=bearer(tokens["rev"]), timeout=60).json()
        assert detail["kind"] == "cluster" and detail["correctable"]
        by_id = {m["capture_id"]: m for m in detail["members"]}
        assert set(by_id) == {m.capture_id for m in g.members}
        for m in g.members:
            shown = by_id[m.capture_id]
            assert shown["relation"] == m.relation and shown["representative"] == m.representative
            assert shown["path"] == m.path and shown["file_name"] == Path(m.path).name
        rep = next(m for m in detail["members"] if m["representative"])
        assert rep["capture_id"] == detail["reference"] and rep["distance"] == 0
    scene = groups_of(store, "scene")[0]
    detail = httpx.get(server.url + f"/api/groups/{scene.key}", headers=bearer(tokens["rev"]), timeout=60).json()
    assert detail["kind"] == "scene" and not detail["correctable"]
    page = httpx.get(server.url + f"/groups/{clusters[0].key}", headers={**bearer(tokens["rev"]), "Accept": "text/html"},
                     timeout=60)
    assert page.status_code == 200 and all(Path(m.path).name in page.text for m in clusters[0].members)
    twins = {p: t for p, t in PAGE_TWINS.items() if p.startswith("/groups")}
    assert set(twins) == {"/groups", "/groups/{key}"}
    for page_path, twin in twins.items():
        html = httpx.get(server.url + page_path.replace("{key}", scene.key),
                         headers={**bearer(tokens["rev"]), "Accept": "text/html"}, timeout=60)
        assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
        data = httpx.get(server.url + twin.replace("{key}", scene.key), headers=bearer(tokens["rev"]), timeout=60)
        assert data.status_code == 200 and data.headers["content-type"] == "application/json"


def test_annotators_403_bad_csrf_403_unknown_404(served):
    store, tokens, server = served
    key = groups_of(store, "cluster")[0].key
    member = groups_of(store, "cluster")[0].members[-1].capture_id
    for path in ("/api/groups", f"/api/groups/{key}"):
        assert httpx.get(server.url + path, headers=bearer(tokens["ann"]), timeout=60).status_code == 403
    html = httpx.get(server.url + "/groups", headers={**bearer(tokens["ann"]), "Accept": "text/html"}, timeout=60)
    assert html.status_code == 403
    res = httpx.post(server.url + f"/api/groups/{key}/representative", json={"captures": [member]},
                     headers=bearer(tokens["ann"]), timeout=60)
    assert res.status_code == 403
    with httpx.Client(base_url=server.url, timeout=60) as client:
        signed = sign_in(client, tokens["rev"])
        for headers in ({}, {"X-CSRF-Token": "wrong"}):
            res = client.post(f"/api/groups/{key}/representative", json={"captures": [member]}, headers=headers)
            assert res.status_code == 403 and "CSRF" in res.json()["detail"]
        form = client.post(f"/groups/{key}/split", data={"capture": member, "csrf_token": "wrong"})
        assert form.status_code == 403
        csrf = sign_in(client, tokens["rev"])
        one = client.post(f"/groups/{key}/not-duplicate", data={"capture": member, "csrf_token": csrf},
                          headers={"Accept": "text/html"})
        assert one.status_code == 400 and "takes 2 capture id(s), got 1" in one.text and 'id="members"' in one.text
        nope = client.post(f"/groups/{key}/merge", data={"capture": member, "csrf_token": csrf})
        assert nope.status_code == 404
    assert groups_of(store, "cluster")[0].key == key  # nothing changed
    catalog = open_catalog(store.db_url)
    with catalog.session() as s:
        assert list_corrections(s) == []
    catalog.close()
    for bad in ("cluster-c" + "0" * 24, "nonsense", "cluster-" + member.upper()):
        res = httpx.get(server.url + f"/api/groups/{bad}", headers=bearer(tokens["rev"]), timeout=60)
        assert res.status_code == 404 and "\n" not in res.json()["detail"], res.text
    res = httpx.post(server.url + "/api/groups/cluster-c" + "0" * 24 + "/split", json={"captures": [member]},
                     headers=bearer(tokens["rev"]), timeout=60)
    assert res.status_code == 404
    for bad_kind in ({"kind": "blob"}, {"limit": 0}, {"offset": -1}):
        res = httpx.get(server.url + "/api/groups", params=bad_kind, headers=bearer(tokens["rev"]), timeout=60)
        assert res.status_code == 400 and res.json()["detail"], bad_kind
    schema = httpx.get(server.url + "/openapi.json", timeout=60).json()["paths"]
    assert "get" in schema["/api/groups"] and "get" in schema["/api/groups/{key}"]
    for action in ("not-duplicate", "split", "representative"):
        assert "post" in schema[f"/api/groups/{{key}}/{action}"]


def test_each_action_writes_the_correction_and_regroups(served):
    store, tokens, server = served
    headers = bearer(tokens["adm"])
    scene = groups_of(store, "scene")[0]
    res = httpx.post(server.url + f"/api/groups/{scene.key}/split", json={"captures": [scene.members[0].capture_id]},
                     headers=headers, timeout=60)
    assert res.status_code == 400 and "scene" in res.json()["detail"]
    cluster = max(groups_of(store, "cluster"), key=lambda g: len(g.members))
    stranger = next(m.capture_id for g in groups_of(store, "cluster") if g.key != cluster.key for m in g.members)
    res = httpx.post(server.url + f"/api/groups/{cluster.key}/split", json={"captures": [stranger]}, headers=headers,
                     timeout=60)
    assert res.status_code == 400 and stranger in res.json()["detail"]
    ids = [m.capture_id for m in cluster.members]
    res = httpx.post(server.url + f"/api/groups/{cluster.key}/not-duplicate", json={"captures": ids[:1]},
                     headers=headers, timeout=60)
    assert res.status_code == 400 and "takes 2" in res.json()["detail"]
    # representative
    other = next(m.capture_id for m in cluster.members if not m.representative)
    res = httpx.post(server.url + f"/api/groups/{cluster.key}/representative", json={"captures": [other]},
                     headers=headers, timeout=60)
    assert res.status_code == 200, res.text
    done = res.json()
    assert done["correction"]["kind"] == "representative" and done["correction"]["captures"] == [other]
    now = next(g for g in groups_of(store, "cluster") if g.key == done["group"])
    assert next(m for m in now.members if m.capture_id == other).representative
    # not-duplicate, by a reviewer signed in by cookie with the CSRF token
    a, b = ids[0], ids[1]
    with httpx.Client(base_url=server.url, timeout=60) as client:
        csrf = sign_in(client, tokens["rev"])
        res = client.post(f"/api/groups/{now.key}/not-duplicate", json={"captures": [a, b]},
                          headers={"X-CSRF-Token": csrf})
    assert res.status_code == 200, res.text
    assert not any({a, b} <= {m.capture_id for m in g.members} for g in groups_of(store, "cluster"))
    # split
    target = next(g for g in groups_of(store, "cluster") if len(g.members) >= 2)
    leaving = target.members[-1].capture_id
    res = httpx.post(server.url + f"/api/groups/{target.key}/split", json={"captures": [leaving]}, headers=headers,
                     timeout=60)
    assert res.status_code == 200, res.text
    assert set(res.json()["correction"]["others"]) == {m.capture_id for m in target.members} - {leaving}
    after = [g for g in groups_of(store, "cluster") if leaving in {m.capture_id for m in g.members}]
    assert all(len({m.capture_id for m in g.members} & {m.capture_id for m in target.members}) == 1 for g in after)
    catalog = open_catalog(store.db_url)
    with catalog.session() as s:
        kinds = [c.kind for c in list_corrections(s)]
    catalog.close()
    assert kinds == ["representative", "not-duplicate", "split"]


def comparable(corrections_json: str) -> list[dict]:
    rows = json.loads(corrections_json)["corrections"]
    return [{k: v for k, v in c.items() if k not in ("id", "created_at")} for c in rows]


@pytest.mark.slow
def test_browser_corrections_equal_the_cli(browser, built, tmp_path, artifacts_dir):
    _, tokens, pristine = built
    web_root, cli_root = tmp_path / "web", tmp_path / "cli"
    shutil.copytree(pristine, web_root)
    shutil.copytree(pristine, cli_root)
    web = open_store(web_root)
    server = start_cli_server(web)
    done: list[tuple[str, list[str]]] = []
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        errors = watch_errors(page)
        browser_sign_in(page, server.url + "/groups", tokens["rev"])
        assert int(page.locator("#total").inner_text()) == len(groups_of(web, "cluster"))
        page.screenshot(path=str(artifacts_dir / "groups.png"))
        page.locator("#groups li a.group-link").first.click()
        page.wait_for_url(server.url + "/groups/cluster-*")
        key = page.locator("#group-key").inner_text()
        members = page.locator("#members li").evaluate_all("els => els.map(e => e.dataset.capture)")
        assert len(members) >= 2, members
        names = page.locator("#members li .name").all_inner_texts()
        cluster = next(g for g in groups_of(web, "cluster") if g.key == key)
        assert sorted(names) == sorted(Path(m.path).name for m in cluster.members)
        widths = page.locator("#members li img").evaluate_all("els => els.map(e => e.getBoundingClientRect().width)")
        assert len(set(round(w) for w in widths)) == 1  # side by side at one zoom
        page.fill("#zoom", "200")
        page.dispatch_event("#zoom", "input")
        assert page.locator("#members li img").first.evaluate("e => e.getBoundingClientRect().width") == 200
        page.screenshot(path=str(artifacts_dir / "cluster.png"))
        # choose a representative (the members are listed representative first)
        new_rep = members[-1]
        page.locator(f"#members li[data-capture='{new_rep}'] button.make-rep").click()
        page.wait_for_url(server.url + f"/groups/{key}?done=*")
        assert page.locator("#done").count() == 1, page.content()[-800:]
        done.append(("representative", [new_rep]))
        assert page.locator("#members li.rep").get_attribute("data-capture") == new_rep
        # split the other member(s) out
        leaving = [m for m in members if m != new_rep][-1]
        page.locator(f"#members li[data-capture='{leaving}'] input[type=checkbox]").check()
        page.click("#split")
        page.wait_for_url("**/groups*done=*")
        assert page.locator("#done").count() == 1, page.content()[-800:]
        done.append(("split", [leaving]))
        assert not any(leaving in {m.capture_id for m in g.members} and new_rep in {m.capture_id for m in g.members}
                       for g in groups_of(web, "cluster"))
        # mark two members of another cluster not duplicates
        page.goto(server.url + "/groups")
        other = next(g for g in groups_of(web, "cluster") if new_rep not in {m.capture_id for m in g.members})
        page.locator(f"#groups li[data-group='{other.key}'] a.group-link").click()
        page.wait_for_url(server.url + f"/groups/{other.key}")
        pair = page.locator("#members li").evaluate_all("els => els.map(e => e.dataset.capture)")[:2]
        for m in pair:
            page.locator(f"#members li[data-capture='{m}'] input[type=checkbox]").check()
        page.click("#not-duplicate")
        page.wait_for_url("**/groups*done=*")
        assert page.locator("#done").count() == 1, page.content()[-800:]
        done.append(("not-duplicate", pair))
        assert not any(set(pair) <= {m.capture_id for m in g.members} for g in groups_of(web, "cluster"))
        assert errors == []
    finally:
        context.close()
        server.stop()
    for action, ids in done:
        res = cli("groups", action, *ids, "--store", str(cli_root), "--json")
        assert res.returncode == 0, res.stderr
    web_rows = cli("groups", "corrections", "--store", str(web_root), "--json")
    cli_rows = cli("groups", "corrections", "--store", str(cli_root), "--json")
    assert comparable(web_rows.stdout) == comparable(cli_rows.stdout) and len(comparable(web_rows.stdout)) == len(done)
    web_groups = json.loads(cli("groups", "--store", str(web_root), "--json").stdout)
    cli_groups = json.loads(cli("groups", "--store", str(cli_root), "--json").stdout)
    assert web_groups == cli_groups
