"""The deal page follows a status change pushed by the server (server-sent events), not by polling."""

import httpx
import pytest
from playwright.sync_api import expect
from test_money_browser import sign_in

pytestmark = pytest.mark.browser


def test_the_deal_page_updates_when_a_webhook_changes_the_status(server, browser):
    app, info = server
    deal = info["suggested_deal"]
    api = {"Authorization": f"Bearer {info['api_key']}"}
    with httpx.Client(base_url=info["app_url"], headers=api, timeout=30) as client:
        created = client.post(f"/api/deals/{deal}/invoices", json={"status": "AWAITING_PAYMENT", "allow_another": True})
        assert created.status_code == 201, created.text
    invoice = created.json()

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url))
    sign_in(page, info)
    with page.expect_request(lambda r: r.url.endswith(f"/deals/{deal}/events")):  # the page listens for changes
        page.goto(f"{info['app_url']}/deals/{deal}")
    badge = page.locator(f"#invoice-{invoice['id']} .badge")
    expect(badge).to_have_attribute("data-status", "AWAITING_PAYMENT")

    # The accounting user records the payment in the sandbox console; the sandbox sends its signed webhook.
    paid = httpx.post(f"{info['xero']['console_url']}console/invoices/{invoice['remote_id']}/pay", data={"amount": ""})
    assert paid.status_code in (200, 303), paid.text
    expect(badge).to_have_attribute("data-status", "PAID", timeout=15000)
    assert not [u for u in asked if u.endswith("/version")], "the page polled instead of listening"


def test_a_status_change_swaps_the_live_part_in_without_leaving_the_page(server, browser):
    """The page swaps in its live part (GET /deals/{id}/live) instead of reloading: a marker set on the window
    survives, a timeline the user opened stays open, and the swapped-in part's buttons still ask before voiding."""
    app, info = server
    deal = info["suggested_deal"]
    api = {"Authorization": f"Bearer {info['api_key']}"}
    with httpx.Client(base_url=info["app_url"], headers=api, timeout=30) as client:
        first = client.post(f"/api/deals/{deal}/invoices", json={"status": "AWAITING_PAYMENT", "allow_another": True})
        second = client.post(f"/api/deals/{deal}/invoices", json={"status": "AWAITING_PAYMENT", "allow_another": True})
        assert first.status_code == second.status_code == 201, (first.text, second.text)
    older, newer = first.json(), second.json()

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    sign_in(page, info)
    with page.expect_request(lambda r: r.url.endswith(f"/deals/{deal}/events")):
        page.goto(f"{info['app_url']}/deals/{deal}")
    timeline = page.locator(f"#timeline-{older['id']}")
    expect(timeline).not_to_have_attribute("open", "")  # only the newest invoice's timeline starts open
    timeline.locator("summary").click()
    expect(timeline).to_have_attribute("open", "")
    page.evaluate("window.__stayed = true")
    version = page.locator(".page-head").get_attribute("data-version")

    with page.expect_response(lambda r: r.url.endswith(f"/deals/{deal}/live")) as swapped:
        paid = httpx.post(f"{info['xero']['console_url']}console/invoices/{older['remote_id']}/pay", data={"amount": ""})
        assert paid.status_code in (200, 303), paid.text
    assert swapped.value.status == 200
    expect(page.locator(f"#invoice-{older['id']} .badge")).to_have_attribute("data-status", "PAID", timeout=15000)
    assert page.evaluate("window.__stayed === true"), "the page reloaded instead of swapping its live part in"
    expect(page.locator(f"#timeline-{older['id']}")).to_have_attribute("open", "")
    assert page.locator(".page-head").get_attribute("data-version") != version
    # a form in the swapped-in part still asks first (the handler is delegated, not bound at load)
    asked: list[str] = []
    page.once("dialog", lambda d: (asked.append(d.message), d.dismiss()))
    page.locator(f"#invoice-{newer['id']} button[data-command=void]").click()
    assert asked and newer["number"] in asked[0]
    assert page.evaluate("window.__stayed === true")  # dismissed: nothing was sent
