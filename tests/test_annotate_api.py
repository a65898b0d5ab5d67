"""The labelling web app's JSON API and pages, through FastAPI's TestClient on real stores."""

from __future__ import annotations

import os
import shutil
import stat
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from rainset.annotate_ui import AppSettings, api, create_app
from rainset.annotate_ui import pages as pages_module
from rainset.annotate_ui.app import exposure
from rainset.annotate_ui.pages import PAGE_TWINS
from rainset.annotate_ui.security import COOKIE_NAME
from rainset.catalog.db import open_catalog
from rainset.catalog.labels_tables import LabelTiming
from rainset.catalog.models import Capture, Label
from rainset.labels.consensus import current_labels
from rainset.store import Store, open_store

from tests.annotate_fixtures import make_store, make_users

USERS = {"ann1": "annotator", "ann2": "annotator", "rev": "reviewer", "adm": "admin"}
BASE_URL = "http://127.0.0.1:8080"


@dataclass
class Env:
    store: Store
    tokens: dict[str, str]
    client: TestClient
    app: object

    def bearer(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[name]}"}

    def sign_in(self, name: str) -> str:
        """Sign the client in by cookie; returns the CSRF token."""
        res = self.client.post("/api/session", json={"token": self.tokens[name]})
        assert res.status_code == 200, res.text
        return res.json()["csrf_token"]


@pytest.fixture(scope="module")
def base_store(tmp_path_factory) -> tuple[Store, dict[str, str]]:
    store = make_store(tmp_path_factory.mktemp("annotate-api"), n=10)
    return store, make_users(store, USERS)


def copy_store(base: Store, dest: Path) -> Store:
    shutil.copytree(base.root, dest)
    return open_store(dest)


@pytest.fixture()
def env(base_store, tmp_path) -> Env:
    base, tokens = base_store
    store = copy_store(base, tmp_path / "store")
    app = create_app(AppSettings(store=store, cookie_secure=False))
    with TestClient(app, base_url=BASE_URL) as client:
        yield Env(store, tokens, client, app)


def labels_of(store: Store, capture_id: str):
    catalog = open_catalog(store.db_url)
    try:
        with catalog.session() as s:
            return current_labels(s, [capture_id]).get(capture_id)
    finally:
        catalog.close()


def test_sign_in_by_form_sets_a_strict_httponly_secure_cookie(base_store, tmp_path):
    base, tokens = base_store
    store = copy_store(base, tmp_path / "store")
    with TestClient(create_app(AppSettings(store=store)), base_url="https://127.0.0.1") as client:
        bad = client.post("/login", data={"token": "not-a-token"}, follow_redirects=False)
        assert bad.status_code == 401 and "invalid token" in bad.text and COOKIE_NAME not in bad.headers.get("set-cookie", "")
        res = client.post("/login", data={"token": tokens["ann1"], "next": "/label"}, follow_redirects=False)
        assert res.status_code == 303 and res.headers["location"] == "/label"
        cookie = res.headers["set-cookie"].lower()
        assert cookie.startswith(COOKIE_NAME) and "httponly" in cookie and "samesite=strict" in cookie and "secure" in cookie
        page = client.get("/label")
        assert page.status_code == 200 and "ann1 (annotator)" in page.text


def test_secret_is_private_and_sessions_survive_a_restart(env):
    mode = stat.S_IMODE(os.stat(env.store.root / "secret").st_mode)
    assert mode == 0o600
    env.sign_in("ann1")
    cookie = env.client.cookies[COOKIE_NAME]
    with TestClient(create_app(AppSettings(store=env.store, cookie_secure=False)), base_url=BASE_URL) as other:
        other.cookies.set(COOKIE_NAME, cookie)
        assert other.get("/api/me").json()["user"]["name"] == "ann1"


def test_label_undo_and_progress_over_the_api(env):
    h = env.bearer("ann1")
    first = env.client.post("/api/queue/next", headers=h).json()
    item = first["item"]
    assert first["done"] == 0 and first["total"] == 11
    peeked = env.client.get("/api/queue/peek", params={"after": item["capture_id"]}, headers=h).json()
    res = env.client.post("/api/labels", headers=h, json={"capture_id": item["capture_id"], "rain_type": "streak",
                                                          "attributes": ["splash", "night"], "duration_ms": 1234})
    assert res.status_code == 201
    assert res.json()["rain_type"] == "streak" and res.json()["attributes"] == ["night", "splash"]
    second = env.client.post("/api/queue/next", headers=h).json()
    assert second["item"]["capture_id"] == peeked["capture_id"] != item["capture_id"]
    assert second["done"] == 1 and second["total"] == 11
    mine = env.client.get("/api/labels/mine", headers=h).json()
    assert list(mine) == [item["capture_id"]] and mine[item["capture_id"]]["rain_type"] == "streak"
    assert env.client.post("/api/labels/undo", headers=h).json() == {"capture_id": item["capture_id"]}
    assert env.client.get("/api/labels/mine", headers=h).json() == {}
    assert env.client.post("/api/queue/next", headers=h).json()["item"]["capture_id"] == item["capture_id"]
    assert env.client.get("/api/progress", headers=h).json()["done"] == 0
    catalog = open_catalog(env.store.db_url)
    with catalog.session() as s:
        assert s.scalars(select(LabelTiming.duration_ms)).all() == [1234]
        assert s.scalar(select(func.count()).select_from(Label).where(Label.kind == "undo")) == 1
    catalog.close()


def test_bad_labels_are_refused_with_a_reason(env):
    h = env.bearer("ann1")
    cid = env.client.post("/api/queue/next", headers=h).json()["item"]["capture_id"]
    unknown = env.client.post("/api/labels", headers=h, json={"capture_id": cid, "rain_type": "hail"})
    assert unknown.status_code == 400 and "hail" in unknown.json()["detail"]
    attr = env.client.post("/api/labels", headers=h, json={"capture_id": cid, "rain_type": "heavy", "attributes": ["sun"]})
    assert attr.status_code == 400 and "sun" in attr.json()["detail"]
    missing = env.client.post("/api/labels", headers=h, json={"capture_id": "c" + "0" * 24, "rain_type": "heavy"})
    assert missing.status_code == 404
    assert env.client.post("/api/labels", headers=h, json={"capture_id": cid, "rain_type": "heavy",
                                                           "duration_ms": -5}).status_code == 422


def test_taxonomy_comes_from_the_store_settings(env):
    extended = Store(env.store.root, {**env.store.settings, "taxonomy": [*env.store.settings["taxonomy"], "hail"],
                                      "taxonomy_version": 2}, env.store.db_url)
    with TestClient(create_app(AppSettings(store=extended, cookie_secure=False)), base_url=BASE_URL) as client:
        h = env.bearer("ann1")
        me = client.get("/api/me", headers=h).json()
        assert me["taxonomy"][-1] == "hail" and me["taxonomy_version"] == 2
        assert me["attribute_keys"] == {"night": "n", "lens-droplets": "l", "splash": "s"}
        client.post("/login", data={"token": env.tokens["ann1"]})
        assert '<kbd>8</kbd> hail' in client.get("/label").text
        cid = client.post("/api/queue/next", headers=h).json()["item"]["capture_id"]
        rec = client.post("/api/labels", headers=h, json={"capture_id": cid, "rain_type": "hail"}).json()
        assert rec["rain_type"] == "hail" and rec["taxonomy_version"] == 2


def test_tiles_are_crops_of_the_full_resolution_decode(env):
    from rainset.annotate_ui.captures import original_of
    from rainset.annotate_ui.tiles import decode_original

    h = env.bearer("rev")  # reviewers see any capture at 100 % (annotators: test_annotate_hardening)
    catalog = open_catalog(env.store.db_url)
    with catalog.session() as s:
        raw_id = s.scalar(select(Capture.id).where(Capture.format == "raw"))
        jpeg = s.scalars(select(Capture).where(Capture.format == "jpeg").order_by(Capture.id)).first()
        full = decode_original(original_of(env.store, s, jpeg.id), env.store.settings["max_pixels"])
    catalog.close()
    grid = env.client.get(f"/api/captures/{jpeg.id}/zoom", headers=h).json()
    assert (grid["width"], grid["height"]) == (jpeg.width, jpeg.height) == (full.shape[1], full.shape[0])
    assert (grid["cols"], grid["rows"]) == (-(-jpeg.width // 512), -(-jpeg.height // 512))
    res = env.client.get(f"/api/captures/{jpeg.id}/tiles/1/0.jpg", headers=h)
    assert res.status_code == 200 and res.headers["content-type"] == "image/jpeg"
    tile = cv2.cvtColor(cv2.imdecode(np.frombuffer(res.content, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    expected = full[0:512, 512:1024]
    assert tile.shape == expected.shape
    assert np.abs(tile.astype(int) - expected.astype(int)).mean() < 4
    for col, row in ((2, 0), (0, 1), (-1, 0), (0, -1), (99999, 0)):
        assert env.client.get(f"/api/captures/{jpeg.id}/tiles/{col}/{row}.jpg", headers=h).status_code == 404
    assert env.client.get(f"/api/captures/{jpeg.id}/tiles/x/0.jpg", headers=h).status_code == 422
    raw_grid = env.client.get(f"/api/captures/{raw_id}/zoom", headers=h).json()
    assert raw_grid["width"] >= 512 and env.client.get(f"/api/captures/{raw_id}/tiles/0/0.jpg", headers=h).status_code == 200


def test_a_reviewer_adjudicates_a_disagreement_over_the_api(env):
    cid = None
    for name, rain in (("ann1", "drizzle"), ("ann2", "heavy")):
        h = env.bearer(name)
        item = env.client.post("/api/queue/next", headers=h).json()["item"]
        cid = cid or item["capture_id"]
        assert item["capture_id"] == cid
        assert env.client.post("/api/labels", headers=h, json={"capture_id": cid, "rain_type": rain}).status_code == 201
    rev = env.bearer("rev")
    queue = env.client.get("/api/review", headers=rev).json()
    assert [c["capture_id"] for c in queue] == [cid] and queue[0]["needs_review"]
    assert sorted(r["rain_type"] for r in env.client.get(f"/api/captures/{cid}/labels", headers=rev).json()["labels"]) == ["drizzle", "heavy"]
    decided = env.client.post(f"/api/review/{cid}", headers=rev, json={"rain_type": "heavy", "attributes": ["night"]})
    assert decided.status_code == 200 and decided.json()["source"] == "adjudication"
    assert env.client.get("/api/review", headers=rev).json() == []
    report = env.client.get("/api/agreement", headers=rev).json()
    assert report["n_adjudicated"] == 1 and report["n_disagreements"] == 1
    final = labels_of(env.store, cid)
    assert (final.rain_type, final.attributes, final.adjudicated_by) == ("heavy", ("night",), "rev")


def test_admins_manage_users_and_disabled_users_are_locked_out(env):
    adm = env.bearer("adm")
    created = env.client.post("/api/users", headers=adm, json={"name": "newbie", "role": "annotator"})
    assert created.status_code == 201
    token = created.json()["token"]
    assert env.client.post("/api/users", headers=adm, json={"name": "newbie", "role": "annotator"}).status_code == 409
    assert env.client.post("/api/users", headers=adm, json={"name": "x y", "role": "annotator"}).status_code == 400
    h = {"Authorization": f"Bearer {token}"}
    assert env.client.get("/api/me", headers=h).json()["user"]["name"] == "newbie"
    env.client.post("/api/session", json={"token": token})
    assert env.client.get("/api/me").status_code == 200
    rows = {u["name"]: u for u in env.client.get("/api/users", headers=adm).json()}
    assert set(rows) == {*USERS, "newbie"} and rows["newbie"]["role"] == "annotator"
    assert env.client.post("/api/users/newbie/disable", headers=adm).json()["name"] == "newbie"
    assert env.client.get("/api/me", headers=h).status_code == 401
    assert env.client.get("/api/me").status_code == 401  # the cookie of a disabled user stops working
    assert env.client.get("/label", follow_redirects=False).headers["location"].startswith("/login")
    assert env.client.post("/api/users/adm/disable", headers=adm).status_code == 400


def test_openapi_schema_covers_every_api_route(env):
    schema = env.client.get("/openapi.json").json()
    api_routes = {(r.path, m) for r in api.router.routes for m in r.methods if m != "HEAD"}
    assert all(path.startswith("/api/") for path, _ in api_routes)
    documented = {(p, m.upper()) for p, ops in schema["paths"].items() for m in ops}
    assert api_routes == documented
    for path, ops in schema["paths"].items():
        assert path.startswith("/api/"), f"{path}: pages stay out of the API schema"
        for method, op in ops.items():
            assert op.get("summary"), f"{method} {path} has no summary"
            ok = [code for code in op["responses"] if code.startswith("2")]
            assert ok, f"{method} {path} documents no success response"
            if ok[0] != "204":
                content = op["responses"][ok[0]].get("content", {})
                assert content, f"{method} {path}: its success response has no content type"
    components = set(schema["components"]["schemas"])
    assert {"QueueItem", "LabelRecord", "CaptureLabels", "AgreementReport", "Progress", "TileGrid"} <= components


def test_every_page_has_a_json_twin(env):
    env.client.post("/api/session", json={"token": env.tokens["adm"]})
    cid = env.client.post("/api/queue/next", headers=env.bearer("adm")).json()["item"]["capture_id"]
    pages = {r.path for r in pages_module.router.routes if "GET" in r.methods} - {"/", "/login"}
    assert pages == set(PAGE_TWINS)
    for page, twin in PAGE_TWINS.items():
        if "{key}" in page:  # a group's page: tests/test_groups_web.py (this store has no groups)
            continue
        html = env.client.get(page.replace("{capture_id}", cid))
        assert html.status_code == 200 and html.headers["content-type"].startswith("text/html"), page
        data = env.client.get(twin.replace("{capture_id}", cid))
        assert data.status_code == 200 and data.headers["content-type"] == "application/json", twin


def test_unknown_captures_give_404_pages_and_json(env):
    env.sign_in("ann1")
    page = env.client.get("/captures/c" + "f" * 24, headers={"Accept": "text/html"})
    assert page.status_code == 404 and "<h1>Error 404</h1>" in page.text
    assert env.client.get("/api/captures/c" + "f" * 24).json()["detail"].startswith("no capture")


def test_exposure_is_written_like_a_camera_does():
    assert [exposure(v) for v in (1 / 250, 1 / 3, 0.5, 2.0, None)] == ["1/250 s", "1/3 s", "0.5 s", "2 s", "–"]


@pytest.mark.postgres
def test_labelling_and_adjudication_on_postgresql(tmp_path, pg_url):
    store = make_store(tmp_path, n=4, hostile=False, db_url=pg_url)
    tokens = make_users(store, {"a": "annotator", "b": "annotator", "r": "reviewer"})
    with TestClient(create_app(AppSettings(store=store, cookie_secure=False)), base_url=BASE_URL) as client:
        cid = None
        for name, rain in (("a", "fog-mixed"), ("b", "no-rain")):
            h = {"Authorization": f"Bearer {tokens[name]}"}
            item = client.post("/api/queue/next", headers=h).json()["item"]
            cid = cid or item["capture_id"]
            assert client.post("/api/labels", headers=h, json={"capture_id": cid, "rain_type": rain,
                                                               "duration_ms": 900}).status_code == 201
        r = {"Authorization": f"Bearer {tokens['r']}"}
        assert [c["capture_id"] for c in client.get("/api/review", headers=r).json()] == [cid]
        assert client.post(f"/api/review/{cid}", headers=r, json={"rain_type": "no-rain"}).json()["rain_type"] == "no-rain"
        assert client.get(f"/api/captures/{cid}/preview.jpg", headers=r).content[:2] == b"\xff\xd8"
    assert labels_of(store, cid).source == "adjudication"


def test_app_settings_are_explicit(env):
    settings = AppSettings(store=env.store)
    assert settings.cookie_secure and replace(settings, cookie_secure=False).taxonomy == tuple(env.store.settings["taxonomy"])


def test_demo_stage_serves_every_page_over_http(env):
    from rainset.demo.web import DEMO_USER, demo_stage

    result = demo_stage(env.store)
    assert result.ok, result.statuses
    opened = {p for p in result.statuses}
    assert {p for p in [*PAGE_TWINS, *PAGE_TWINS.values()] if "{" not in p} <= opened
    assert any(p.endswith("/tiles/0/0.jpg") for p in opened) and any(p.endswith("/preview.jpg") for p in opened)
    assert result.url.startswith("http://127.0.0.1:") and result.median_ms > 0
    assert result.to_dict()["ok"] and DEMO_USER in "\n".join(result.lines())
    assert env.client.get("/api/me", headers={"Authorization": f"Bearer {result.token}"}).json()["user"]["role"] == "admin"


def test_serve_command_is_registered_and_fails_cleanly_without_a_store(tmp_path):
    from typer.testing import CliRunner

    from rainset.cli import app

    runner = CliRunner()
    helped = runner.invoke(app, ["annotate", "serve", "--help"])
    assert helped.exit_code == 0
    for option in ("--host", "--port", "--store", "--insecure-cookie", "--session-hours", "--origin"):
        assert option in helped.output
    missing = runner.invoke(app, ["annotate", "serve", "--store", str(tmp_path / "nowhere")])
    assert missing.exit_code == 1 and "not a rainset store" in missing.output


def test_admins_see_queues_and_release_stale_claims(env):
    ann, adm = env.bearer("ann1"), env.bearer("adm")
    held = env.client.post("/api/queue/next", headers=ann).json()["item"]["capture_id"]
    queues = env.client.get("/api/queues", headers=adm).json()
    assert queues["annotators_per_capture"] == 2 and queues["taxonomy"] == env.store.settings["taxonomy"]
    rows = {r["user"]["name"]: r["progress"] for r in queues["users"]}
    assert set(rows) == set(USERS) and rows["ann1"]["assigned"] == 1 and rows["ann2"]["assigned"] == 0
    assert env.client.post("/api/queues/release", headers=adm, json={"user": "ann1", "older_than_s": 3600}).json() == {"released": 0}
    assert env.client.post("/api/queues/release", headers=adm, json={"user": "ann1"}).json() == {"released": 1}
    assert env.client.get("/api/progress", headers=ann).json()["assigned"] == 0
    assert env.client.post("/api/queues/release", headers=adm, json={"user": "nobody"}).status_code == 404
    csrf = env.sign_in("adm")
    env.client.post("/api/queue/next", headers={"X-CSRF-Token": csrf})
    res = env.client.post("/admin/queues/release", data={"csrf_token": csrf, "user": "", "older_than_min": ""},
                          follow_redirects=False)
    assert res.status_code == 303 and res.headers["location"] == "/admin/queues?released=1"
    page = env.client.get(res.headers["location"]).text
    assert "Released 1 claim(s)." in page and held not in page


def test_tile_server_decodes_each_capture_once_and_keeps_the_latest(env):
    from concurrent.futures import ThreadPoolExecutor

    from rainset.annotate_ui.captures import original_of
    from rainset.annotate_ui.tiles import TileServer

    catalog = open_catalog(env.store.db_url)
    with catalog.session() as s:
        ids = s.scalars(select(Capture.id).where(Capture.format == "jpeg").order_by(Capture.id).limit(2)).all()
        originals = {cid: original_of(env.store, s, cid) for cid in ids}
    catalog.close()
    located: list[str] = []

    def locate(cid):
        return lambda: (located.append(cid), originals[cid])[1]

    server = TileServer(tile_size=256, capacity=1, max_pixels=env.store.settings["max_pixels"])
    with ThreadPoolExecutor(8) as pool:
        tiles = list(pool.map(lambda i: server.tile(ids[0], i % 3, i % 2, locate(ids[0])), range(16)))
    assert located == [ids[0]] and all(t[:2] == b"\xff\xd8" for t in tiles)
    server.tile(ids[1], 0, 0, locate(ids[1]))
    server.tile(ids[0], 0, 0, locate(ids[0]))  # evicted by the second capture: decoded again
    assert located == [ids[0], ids[1], ids[0]]
    with pytest.raises(ValueError):
        TileServer(tile_size=8, capacity=1, max_pixels=1)


def test_the_write_gate_serves_writers_in_order_of_arrival():
    import threading
    import time

    from rainset.annotate_ui.deps import FifoGate

    gate, order, inside, most = FifoGate(), [], [0], [0]

    def writer(i: int) -> None:
        with gate:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
            order.append(i)
            time.sleep(0.002)
            inside[0] -= 1

    threads = []
    with gate:
        for i in range(6):
            t = threading.Thread(target=writer, args=(i,))
            t.start()
            threads.append(t)
            deadline = time.monotonic() + 5
            while len(gate._queue) < i + 1 and time.monotonic() < deadline:
                time.sleep(0.001)
    for t in threads:
        t.join(timeout=5)
    assert order == list(range(6)) and most[0] == 1
