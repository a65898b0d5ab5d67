"""Browse over real HTTP (``rainset annotate serve`` on 127.0.0.1) and in real Chromium."""

from __future__ import annotations

from collections import Counter

import httpx
import pytest

from rainset.catalog.db import open_catalog
from rainset.labels.bulk import capture_rows
from rainset.labels.record import append_label
from rainset.labels.users import get_user

from tests.annotate_fixtures import browser_sign_in, make_store, make_users, start_cli_server, watch_errors

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    store = make_store(tmp_path_factory.mktemp("browse"), n=9)
    tokens = make_users(store, {"ann": "annotator", "rev": "reviewer", "adm": "admin"})
    catalog = open_catalog(store.db_url)
    with catalog.session() as s:
        rows = capture_rows(s)
        user = get_user(s, 1)
        for i, row in enumerate(rows[:6]):
            append_label(s, user, row["id"], store.settings["taxonomy"][i % 2], (),
                         taxonomy=store.settings["taxonomy"], taxonomy_version=1)
        rows = capture_rows(s)
    catalog.close()
    server = start_cli_server(store)
    yield store, tokens, server, rows
    server.stop()


def get(server, token: str, **params) -> httpx.Response:
    return httpx.get(server.url + "/api/captures", params=params, headers={"Authorization": f"Bearer {token}"},
                     timeout=60)


def test_the_api_filters_counts_and_pages(served):
    store, tokens, server, rows = served
    first = store.settings["taxonomy"][0]
    res = get(server, tokens["rev"], where=f"rain_type = '{first}'", limit=2)
    assert res.status_code == 200, res.text
    body = res.json()
    expected = {r["id"] for r in rows if r["rain_type"] == first}
    assert body["total"] == len(expected) and len(body["items"]) == min(2, len(expected))
    facets = {f["name"]: {v["value"]: v["count"] for v in f["values"]} for f in get(server, tokens["adm"]).json()["facets"]}
    assert facets["rain_type"] == dict(Counter(r["rain_type"] for r in rows))
    assert facets["source_name"] == dict(Counter(r["source_name"] for r in rows))
    seen = []
    for offset in range(0, len(rows), 4):
        page = get(server, tokens["rev"], order="capture_time", limit=4, offset=offset).json()
        seen += [i["capture_id"] for i in page["items"]]
    assert sorted(seen) == sorted(r["id"] for r in rows) and len(seen) == len(set(seen))
    times = [i["capture_time"] for i in get(server, tokens["rev"], order="-capture_time", limit=100).json()["items"]]
    present = [t for t in times if t is not None]
    assert present == sorted(present, reverse=True)


def test_annotators_get_403_and_bad_input_400(served):
    _, tokens, server, _ = served
    assert get(server, tokens["ann"]).status_code == 403
    assert httpx.get(server.url + "/browse", headers={"Authorization": f"Bearer {tokens['ann']}",
                                                      "Accept": "text/html"}).status_code == 403
    for params in ({"where": "rain_typ = 'x'"}, {"where": "iso >"}, {"order": "nope"}, {"limit": 0},
                   {"limit": 10_000}, {"offset": -3}, {"version": "missing"}):
        res = get(server, tokens["rev"], **params)
        assert res.status_code == 400, (params, res.text)
        assert "\n" not in res.json()["detail"] and res.json()["detail"]
    schema = httpx.get(server.url + "/openapi.json").json()
    assert "get" in schema["paths"]["/api/captures"]


def test_browse_in_chromium_filter_facet_and_page(browser, served, artifacts_dir):
    store, tokens, server, rows = served
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors = watch_errors(page)
    browser_sign_in(page, server.url + "/browse", tokens["rev"])
    page.wait_for_load_state()
    assert page.locator("#total").count() == 1, (page.url, page.content()[-800:])
    assert int(page.locator("#total").inner_text()) == len(rows)
    page.fill("#where", "labelled")
    page.click("#browse-form button[type=submit]")
    page.wait_for_load_state()
    labelled = [r for r in rows if r["labelled"]]
    assert int(page.locator("#total").inner_text()) == len(labelled)
    first = store.settings["taxonomy"][0]
    page.locator(f"ul.facet[data-facet=rain_type] a.facet-value:text-is('{first}')").click()
    page.wait_for_load_state()
    narrowed = [r for r in labelled if r["rain_type"] == first]
    assert page.locator("#total").count() == 1, (page.url, page.content()[-600:])
    assert int(page.locator("#total").inner_text()) == len(narrowed)
    assert first in page.locator("#where").input_value()
    page.screenshot(path=str(artifacts_dir / "facet.png"))
    # page forward through everything, 4 at a time
    page.goto(server.url + "/browse?order=capture_time&limit=4")
    ids = []
    while True:
        ids += page.locator("#tiles li").evaluate_all("els => els.map(e => e.dataset.capture)")
        if page.locator("#next").count() == 0:
            break
        page.click("#next")
        page.wait_for_load_state()
    assert sorted(ids) == sorted(r["id"] for r in rows)
    page.locator("#tiles li a").first.click()
    page.wait_for_url(server.url + "/captures/*")
    assert errors == []
    context.close()
