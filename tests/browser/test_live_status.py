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
