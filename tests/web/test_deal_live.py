"""The deal page's live part alone (GET /deals/{id}/live), which the page swaps in when the deal's version
changes: the same markup as inside the page, never stale, and only for those who may see the deal."""

import re

import pytest
from starlette.testclient import TestClient

from demo_client import api_demo, page_client


@pytest.fixture
def demo(tmp_path):
    with api_demo(tmp_path) as (client, app, info):
        yield client, page_client(app, info), app


def live_part(html: str) -> str:
    return re.search(r'<div id="deal-live".*?\n</div>\n', html, re.S).group(0)


def test_the_live_part_is_the_page_s_and_follows_every_change(demo):
    api, browser, app = demo
    created = api.post("/api/deals/1/invoices", json={})
    assert created.status_code == 201, created.text
    page, part = browser.get("/deals/1"), browser.get("/deals/1/live")
    assert part.status_code == 200 and "<html" not in part.text
    assert live_part(page.text) == live_part(part.text + "\n")
    assert 'data-status="DRAFT"' in part.text
    version = re.search(r'data-version="([^"]+)"', part.text).group(1)
    assert api.post(f"/api/invoices/{created.json()['id']}/submit").status_code == 200
    again = browser.get("/deals/1/live")  # kept pages are keyed by the store's generation: never the old one
    assert 'data-status="AWAITING_APPROVAL"' in again.text
    assert re.search(r'data-version="([^"]+)"', again.text).group(1) != version
    assert version not in browser.get("/deals/1").text


def test_the_live_part_needs_sign_in_and_knows_only_deals_with_something_to_show(demo):
    api, browser, app = demo
    assert browser.get("/deals/1/live").status_code == 404  # nothing happened on deal 1 yet
    assert browser.get("/deals/no such!/live").status_code == 404
    api.post("/api/deals/1/invoices", json={})
    assert browser.get("/deals/1/live").status_code == 200
    stranger = TestClient(app, base_url="http://127.0.0.1:8000")
    assert stranger.get("/deals/1/live", follow_redirects=False).status_code == 303


def test_the_live_part_leaves_a_pending_message_for_the_next_page(demo):
    api, browser, app = demo
    api.post("/api/deals/1/invoices", json={})
    token = re.search(r'name="csrf_token" value="([^"]+)"', browser.get("/settings").text).group(1)
    assert browser.post("/settings", data={"csrf_token": token}, follow_redirects=False).status_code == 303
    assert 'class="flash' not in browser.get("/deals/1/live").text
    assert 'class="flash' in browser.get("/").text


def test_a_stream_says_bye_when_it_ends_so_the_page_opens_the_next_at_once(demo, monkeypatch):
    """A stream ends after STREAM_LIFETIME_S; its last event tells the page to open the next one now rather than
    after the browser's retry delay (a change in that gap would wait for it)."""
    from invoicebridge.adapters import live

    api, browser, app = demo
    monkeypatch.setattr(live, "STREAM_LIFETIME_S", 0.3)
    with browser.stream("GET", "/deals/1/events") as answer:
        assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/event-stream")
        body = b"".join(answer.iter_bytes()).decode()
    assert body.startswith("retry: ") and "event: version\n" in body
    assert body.endswith("event: bye\ndata: \n\n")
