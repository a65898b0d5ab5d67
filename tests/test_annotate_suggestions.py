"""Suggestions in the labelling web app: the API and pages (TestClient), and real Chromium.

Suggestions are written straight into the ``suggestions`` table (as ``rainset suggest`` would).
The browser test signs in, sees the pre-selected suggestion, accepts it with Enter, overrides the
next one with a number key and checks both labels and the recorded suggestions in the catalog.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from rainset.catalog.db import open_catalog
from rainset.catalog.labels_tables import LabelTiming
from rainset.catalog.models import Capture, Label
from rainset.catalog.rainstats_tables import Suggestion

from tests.annotate_fixtures import make_store, make_users, start_cli_server
from tests.test_annotate_api import Env, base_store, env  # noqa: F401 - the TestClient fixtures
from tests.test_annotate_browser import current_id, sign_in, wait_idle


def write_suggestions(store, confidences: list[float | None], rain_types: list[str]) -> list[str]:
    """Suggest ``rain_types[i]`` with ``confidences[i]`` for the i-th capture by id (None: no suggestion)."""
    catalog = open_catalog(store.db_url)
    try:
        with catalog.session() as s:
            ids = list(s.scalars(select(Capture.id).order_by(Capture.id)))
            for cid, conf, rain in zip(ids, confidences, rain_types):
                if conf is not None:
                    s.add(Suggestion(capture_id=cid, rain_type=rain, confidence=conf, model="test-rules",
                                     features="preview", info={}))
        return ids
    finally:
        catalog.close()


def timings(store) -> dict[str, tuple[str, str | None]]:
    """capture id -> (label rain type, suggestion recorded with it) of every timed label."""
    catalog = open_catalog(store.db_url)
    try:
        with catalog.session() as s:
            rows = s.execute(select(Label.capture_id, Label.rain_type, LabelTiming.suggestion)
                             .join(LabelTiming, LabelTiming.label_id == Label.id))
            return {cid: (rain, sug) for cid, rain, sug in rows}
    finally:
        catalog.close()


def test_api_items_and_labels_carry_the_suggestion(env):
    ids = write_suggestions(env.store, [0.82, 0.4], ["heavy", "drizzle"])
    h = env.bearer("ann1")
    screen = env.client.get("/api/label", headers=h).json()
    assert screen["order"] == "default" and screen["current"]["capture_id"] == ids[0]
    assert screen["current"]["suggestion"] == {"rain_type": "heavy", "confidence": 0.82, "model": "test-rules",
                                               "sure": True}
    item = env.client.post("/api/queue/next", headers=h).json()["item"]
    assert item["suggestion"]["rain_type"] == "heavy"
    assert env.client.get(f"/api/captures/{ids[0]}", headers=h).json()["suggestion"]["confidence"] == 0.82
    accepted = env.client.post("/api/labels", headers=h, json={"capture_id": ids[0], "rain_type": "heavy",
                                                               "duration_ms": 700, "suggestion": "heavy"})
    assert accepted.status_code == 201 and accepted.json()["suggestion"] == "heavy"
    assert accepted.json()["rain_type"] == "heavy"
    nxt = env.client.post("/api/queue/next", headers=h).json()["item"]
    assert nxt["capture_id"] == ids[1] and nxt["suggestion"]["rain_type"] == "drizzle"
    assert nxt["suggestion"]["sure"] is False  # 0.4 < UNSURE_BELOW: the UI pre-selects nothing, Enter does nothing
    stale = env.client.post("/api/labels", headers=h, json={"capture_id": ids[1], "rain_type": "heavy",
                                                            "duration_ms": 500, "suggestion": "heavy"})
    assert stale.status_code == 201 and stale.json()["suggestion"] is None  # not what the server suggests
    third = env.client.post("/api/queue/next", headers=h).json()["item"]
    assert third["suggestion"] is None
    assert env.client.get(f"/api/captures/{third['capture_id']}", headers=h).json()["suggestion"] is None
    assert timings(env.store) == {ids[0]: ("heavy", "heavy"), ids[1]: ("heavy", None)}
    report = env.client.get("/api/agreement", headers=env.bearer("rev")).json()
    ann1 = next(a for a in report["per_annotator"] if a["name"] == "ann1")
    assert (ann1["suggestions_shown"], ann1["suggestions_accepted"], ann1["suggestion_acceptance"]) == (1, 1, 1.0)
    env.client.post("/login", data={"token": env.tokens["rev"]})
    page = env.client.get("/agreement").text
    assert "Suggestions accepted" in page and "100.0 % (1 of 1)" in page


def test_the_order_is_chosen_per_annotator_and_remembered(env):
    ids = write_suggestions(env.store, [0.9, 0.3, None, 0.1, 0.5], ["heavy"] * 5)
    h2 = env.bearer("ann2")
    assert env.client.post("/api/queue/next", headers=h2).json()["item"]["capture_id"] == ids[0]  # default order
    bad = env.client.post("/api/queue/next", params={"order": "random"}, headers=h2)
    assert bad.status_code == 400 and "unknown queue order 'random'" in bad.json()["detail"]

    csrf = env.sign_in("ann1")
    page = env.client.get("/label", params={"order": "confidence"})
    assert page.status_code == 200 and "rainset_queue_order=confidence" in page.headers["set-cookie"]
    assert '<option value="confidence" selected>' in page.text
    assert f'<p class="mono" id="capture-id">{ids[3]}</p>' in page.text  # the least sure suggestion, 10 %
    # 10 % is an unsure guess: shown, but nothing pre-selected and no Enter hint
    assert '<span id="suggestion-lead">unsure guess:</span> <b id="suggestion-type">heavy</b>' in page.text
    assert ">10</span> %" in page.text and 'class="suggested"' not in page.text
    assert '<kbd id="suggestion-enter" hidden>Enter</kbd>' in page.text
    assert "<kbd>Enter</kbd></th><td>accept the suggested rain type" in page.text
    seen = []
    for _ in range(4):  # no order parameter: the remembered order applies
        item = env.client.post("/api/queue/next", headers={"X-CSRF-Token": csrf}).json()["item"]
        env.client.post("/api/labels", headers={"X-CSRF-Token": csrf},
                        json={"capture_id": item["capture_id"], "rain_type": "heavy"})
        seen.append(item["capture_id"])
    assert seen == [ids[3], ids[1], ids[4], ids[0]]
    assert env.client.get("/api/label").json()["order"] == "confidence"
    again = env.client.get("/label", params={"order": "default"})
    assert "rainset_queue_order=default" in again.headers["set-cookie"]
    assert env.client.get("/label", params={"order": "bogus"}).status_code == 400


@pytest.fixture()
def served(tmp_path):
    store = make_store(tmp_path, n=6, hostile=False)
    tokens = make_users(store, {"ann": "annotator"})
    server = start_cli_server(store)
    yield store, tokens, server
    server.stop()


@pytest.mark.timeout(180)
def test_enter_accepts_the_suggestion_and_a_number_key_overrides_it(browser, served, artifacts_dir):
    store, tokens, server = served
    taxonomy = store.settings["taxonomy"]
    ids = write_suggestions(store, [0.82, 0.64, None, None, 0.3, 0.2], ["heavy", "streak", "", "", "heavy", "drizzle"])
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    sign_in(page, server.url, tokens["ann"], "/label")
    page.wait_for_function("() => window.rainsetLabel && window.rainsetLabel.state.current")
    wait_idle(page)

    assert current_id(page) == ids[0]
    assert page.locator("#suggestion").inner_text().startswith("suggested: heavy (82 %)")
    assert page.locator("#labels li.suggested").inner_text().endswith("heavy")
    outline = page.locator("#labels li.suggested").evaluate("li => getComputedStyle(li).outlineStyle")
    assert outline == "dashed"  # pre-selected, and visibly unlike a chosen label
    page.screenshot(path=str(artifacts_dir / "01-suggested.png"))
    page.keyboard.press("Enter")
    wait_idle(page)

    assert current_id(page) == ids[1]
    assert page.locator("#suggestion").inner_text().startswith("suggested: streak (64 %)")
    page.keyboard.press("1")  # override: drizzle
    wait_idle(page)

    assert current_id(page) == ids[2]  # no suggestion: nothing outlined, Enter changes nothing
    assert not page.locator("#suggestion").is_visible() and page.locator("#labels li.suggested").count() == 0
    page.keyboard.press("Enter")
    wait_idle(page)
    assert current_id(page) == ids[2] and "no suggestion" in page.locator("#status").inner_text()
    page.keyboard.press("?")
    assert "accept the suggested rain type" in page.locator("#help").inner_text()
    page.screenshot(path=str(artifacts_dir / "02-help.png"))
    page.keyboard.press("Escape")

    page.select_option("#order", "confidence")  # the queue order menu: least sure suggestion first
    page.wait_for_url(server.url + "/label?order=confidence")
    page.wait_for_function("() => window.rainsetLabel && window.rainsetLabel.state.current")
    wait_idle(page)
    assert current_id(page) == ids[2]  # still held: what an annotator holds comes back first
    page.keyboard.press("5")
    wait_idle(page)
    assert current_id(page) == ids[5]  # 20 %, before ids[4] at 30 % and the unsuggested ids[3]
    # 20 % is below the unsure threshold: shown as a guess, nothing outlined, Enter does nothing
    assert page.locator("#suggestion").inner_text().startswith("unsure guess: drizzle (20 %)")
    assert page.locator("#labels li.suggested").count() == 0 and not page.locator("#suggestion-enter").is_visible()
    page.keyboard.press("Enter")
    wait_idle(page)
    assert current_id(page) == ids[5] and "unsure" in page.locator("#status").inner_text()
    context.close()

    assert timings(store) == {ids[0]: ("heavy", "heavy"), ids[1]: (taxonomy[0], "streak"), ids[2]: (taxonomy[4], None)}
    assert errors == []


def test_the_web_demo_stage_reports_the_suggestion_shown(env):
    from rainset.demo.web import demo_stage

    write_suggestions(env.store, [0.823], ["fog-mixed"])
    result = demo_stage(env.store)
    assert result.ok and result.suggestion == "fog-mixed (82 %)"
    assert "suggestion fog-mixed (82 %), pre-selected" in "\n".join(result.lines())
    assert result.to_dict()["suggestion"] == "fog-mixed (82 %)"


def test_the_web_demo_stage_without_suggestions(env):
    from rainset.demo.web import demo_stage

    result = demo_stage(env.store)
    assert result.ok and result.suggestion is None and "suggestion" not in "\n".join(result.lines())
