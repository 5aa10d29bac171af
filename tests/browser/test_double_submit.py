"""A double click on a command button sends one request: app.js's delegated submit handler takes the first
submit and no other while the next page loads (and the server does nothing for a button shown for an older status)."""

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_a_double_click_on_submit_sends_one_command(server, browser):
    app, info = server
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(info["app_url"] + "/login")
    page.fill("input[name=password]", info["admin_password"])
    page.click("button[type=submit]")
    expect(page).not_to_have_url(re.compile(r"/login"))
    page.goto(f"{info['app_url']}/deals/1/invoices/new")
    page.click("button[value=draft]")
    expect(page).to_have_url(re.compile(r"/deals/1#invoice-"))
    [record] = app.state.runtime.store.invoices_for_deal("1")
    sent: list[str] = []
    page.on("request", lambda r: sent.append(r.url) if r.method == "POST" and "/invoices/" in r.url else None)
    page.locator("button[data-command=submit]").dblclick()
    expect(page.locator("section.invoice").first.locator(".badge")).to_have_text("Awaiting approval")
    page.wait_for_load_state("load")
    assert sent == [f"{info['app_url']}/invoices/{record.id}/submit"]
    store = app.state.runtime.store
    assert store.get_invoice(record.id).status.value == "AWAITING_APPROVAL"
    states = ("pending", "in_flight", "failed", "dead", "done", "cancelled")
    assert len(store.operations(deal_id="1", states=states, kinds=("command",))) == 1
