"""The labelling web app in real Chromium (Playwright) against ``rainset annotate serve`` on 127.0.0.1.

An annotator signs in, labels ten captures with the keyboard only, undoes one, opens the help and
the 100 % view; the catalog then holds exactly what was pressed. A reviewer resolves a
disagreement on the review page. Screenshots go to the test's artifacts folder.
"""

from __future__ import annotations

import json

import httpx
import pytest
from sqlalchemy import func, select

from rainset.catalog.db import open_catalog
from rainset.catalog.labels_tables import LabelTiming
from rainset.catalog.models import Label, User
from rainset.labels.consensus import current_labels
from rainset.labels.record import my_labels
from rainset.labels.users import find_user

from tests.annotate_fixtures import start_cli_server, make_store, make_users

pytestmark = pytest.mark.timeout(240)

# (key presses before the label key, label key) for ten captures: attributes by their keys
PRESSES = [((), "1"), (("n",), "2"), ((), "3"), (("l", "s"), "4"), ((), "5"), (("n", "n"), "6"), ((), "7"),
           (("s",), "3"), ((), "2"), (("n", "l"), "1")]


@pytest.fixture()
def served(tmp_path):
    store = make_store(tmp_path, n=14)
    tokens = make_users(store, {"ann": "annotator", "ann2": "annotator", "rev": "reviewer"})
    server = start_cli_server(store)
    yield store, tokens, server
    server.stop()


def wait_idle(page) -> None:
    page.evaluate("() => window.rainsetLabel.idle()")


def current_id(page) -> str:
    return page.locator("#capture-id").inner_text().strip()


def sign_in(page, url: str, token: str, target: str) -> None:
    page.goto(url + target)
    assert "/login" in page.url
    page.fill("#token", token)
    page.click("#sign-in")
    page.wait_for_url(url + target)


def test_an_annotator_labels_ten_captures_with_the_keyboard(browser, served, artifacts_dir):
    store, tokens, server = served
    taxonomy = store.settings["taxonomy"]
    attribute_of = {"n": "night", "l": "lens-droplets", "s": "splash"}
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    dialogs, errors, events = [], [], []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: events.append(("request", r.url)))

    def on_response(res) -> None:
        if res.status >= 400:
            errors.append(f"{res.status} {res.url}")
        if res.url.endswith("/api/queue/next") and res.ok:
            item = json.loads(res.body())["item"]
            events.append(("next", item["capture_id"] if item else None))

    page.on("response", on_response)
    sign_in(page, server.url, tokens["ann"], "/label")
    page.wait_for_function("() => window.rainsetLabel && window.rainsetLabel.state.current")
    wait_idle(page)
    cookie = next(c for c in context.cookies() if c["name"] == "rainset_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["secure"]
    page.screenshot(path=str(artifacts_dir / "01-labelling.png"))

    expected: dict[str, tuple[str, tuple[str, ...]]] = {}
    order = []
    for toggles, key in PRESSES:
        cid = current_id(page)
        for t in toggles:
            page.keyboard.press(t)
        page.keyboard.press(key)
        wait_idle(page)
        attrs = {attribute_of[t] for t in toggles if toggles.count(t) % 2 == 1}
        expected[cid] = (taxonomy[int(key) - 1], tuple(sorted(attrs)))
        order.append(cid)
        assert current_id(page) != cid
    assert len(expected) == 10
    assert page.locator("#done").inner_text() == "10"

    page.keyboard.press("u")  # undo the last label: its capture comes back on screen
    wait_idle(page)
    assert current_id(page) == order[-1]
    del expected[order[-1]]
    assert page.locator("#done").inner_text() == "9"

    page.keyboard.press("ArrowLeft")  # previous: the ninth capture, with its label shown
    wait_idle(page)
    assert current_id(page) == order[-2]
    assert page.locator("#labels li.on").inner_text().endswith(expected[order[-2]][0])
    page.keyboard.press("ArrowRight")
    wait_idle(page)
    assert current_id(page) == order[-1]

    page.keyboard.press("?")
    assert page.locator("#help").is_visible()
    page.screenshot(path=str(artifacts_dir / "02-help.png"))
    page.keyboard.press("Escape")
    assert not page.locator("#help").is_visible()

    page.keyboard.press("z")
    wait_idle(page)
    page.wait_for_function("() => [...document.querySelectorAll('#zoom-canvas img.tile')].some(i => i.complete && i.naturalWidth > 0)")
    tiles = page.locator("#zoom-canvas img.tile")
    assert tiles.count() >= 1 and page.locator("#zoom").is_visible() and not page.locator("#preview").is_visible()
    first_tile = tiles.first.evaluate("i => [i.naturalWidth, i.naturalHeight]")
    assert first_tile == [512, 480]  # 100 %: a 512-pixel tile of the 640x480 original, not a scaled preview
    page.screenshot(path=str(artifacts_dir / "03-zoom.png"))
    page.keyboard.press("ArrowRight")  # pans in the 100 % view
    wait_idle(page)
    page.keyboard.press("z")
    wait_idle(page)
    assert page.locator("#preview").is_visible() and current_id(page) == order[-1]
    requested = [u for kind, u in events if kind == "request"]
    assert any("/tiles/" in u for u in requested)
    assert not any("/objects/" in u or u.endswith(".dng") for u in requested)

    # the next preview was fetched before the capture was handed out (prefetch)
    prefetched = 0
    for i, (kind, value) in enumerate(events):
        if kind == "next" and value:
            earlier = [u for k, u in events[:i] if k == "request"]
            prefetched += any(f"/api/captures/{value}/preview.jpg" in u for u in earlier)
    assert prefetched >= 9

    catalog = open_catalog(store.db_url)
    with catalog.session() as s:
        ann = find_user(s, "ann")
        got = {cid: (rec.rain_type, rec.attributes) for cid, rec in my_labels(s, ann).items()}
        rows = s.execute(select(Label.kind, func.count()).where(Label.user_id == ann.id).group_by(Label.kind)).all()
        timings = s.scalars(select(LabelTiming.duration_ms).join(Label, Label.id == LabelTiming.label_id)
                            .where(Label.user_id == ann.id)).all()
    catalog.close()
    assert got == expected
    assert dict(rows) == {"label": 10, "undo": 1}
    assert len(timings) == 10 and all(t > 0 for t in timings)
    assert dialogs == [] and errors == []
    context.close()


def test_a_reviewer_resolves_a_disagreement(browser, served, artifacts_dir):
    store, tokens, server = served
    with httpx.Client(base_url=server.url) as api:
        cid = None
        for name, rain in (("ann", "drizzle"), ("ann2", "heavy")):
            h = {"Authorization": f"Bearer {tokens[name]}"}
            item = api.post("/api/queue/next", headers=h).json()["item"]
            cid = cid or item["capture_id"]
            assert api.post("/api/labels", headers=h, json={"capture_id": cid, "rain_type": rain}).status_code == 201
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    sign_in(page, server.url, tokens["rev"], "/review")
    card = page.locator(f"#review-{cid}")
    assert "ann: drizzle" in card.inner_text() and "ann2: heavy" in card.inner_text()
    page.screenshot(path=str(artifacts_dir / "01-review.png"), full_page=True)
    card.locator("input[name=rain_type][value=streak]").check()
    card.locator("input[name=attributes][value=night]").check()
    card.locator("button[type=submit]").click()
    page.wait_for_url(f"{server.url}/review?done={cid}")
    assert page.locator(f"#review-{cid}").count() == 0 and page.locator("#review-empty").is_visible()
    page.screenshot(path=str(artifacts_dir / "02-decided.png"), full_page=True)
    page.goto(server.url + "/agreement")
    assert "adjudicated" in page.content()
    page.screenshot(path=str(artifacts_dir / "03-agreement.png"), full_page=True)
    context.close()
    catalog = open_catalog(store.db_url)
    with catalog.session() as s:
        final = current_labels(s, [cid])[cid]
        rev_id = s.scalar(select(User.id).where(User.name == "rev"))
        assert s.scalar(select(func.count()).select_from(Label).where(Label.user_id == rev_id)) == 1
    catalog.close()
    assert (final.rain_type, final.attributes, final.source, final.adjudicated_by) == ("streak", ("night",), "adjudication", "rev")
