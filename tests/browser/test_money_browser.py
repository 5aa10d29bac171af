"""The create form in real Chromium: what the page shows before Save is what the accounting sandbox stores."""

import re
from decimal import Decimal

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def sign_in(page, info):
    page.goto(info["app_url"] + "/login")
    page.fill("input[name=password]", info["admin_password"])
    page.click("button[type=submit]")
    expect(page).not_to_have_url(re.compile(r"/login"))


def stored_for_deal(app, deal):
    xero = app.state.sandboxes["xero"][1].state
    records = app.state.runtime.store.invoices_for_deal(deal)
    return [xero.invoices[r.remote_id] for r in records]


def test_saving_deal_1_through_the_form_stores_5400_60_gbp(server, browser, shots):
    app, info = server
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    sign_in(page, info)
    page.goto(f"{info['app_url']}/deals/1/invoices/new")
    expect(page.locator("[name=line-2-discount_amount]")).to_have_value("100")  # the Support line's amount discount
    expect(page.locator("#t-total")).to_have_text("5,400.60")
    # An edit is priced by the server as it is typed, and undoing it brings the deal's figure back.
    page.fill("[name=line-0-quantity]", "3")
    expect(page.locator("#t-total")).to_have_text("6,840.60")  # + 1 × 1,200 × 1.2
    page.fill("[name=line-0-quantity]", "2")
    expect(page.locator("#t-total")).to_have_text("5,400.60")
    shots(page, "money-deal-1")
    page.click("button[value=draft]")
    expect(page).to_have_url(re.compile(r"/deals/1#invoice-"))
    [invoice] = stored_for_deal(app, "1")
    assert invoice.total == Decimal("5400.60") and invoice.currency == "GBP"


def test_a_german_quantity_1_5_on_deal_5_stores_1275_eur(server, browser, shots):
    app, info = server
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    sign_in(page, info)
    page.goto(f"{info['app_url']}/deals/5/invoices/new?lang=de")
    expect(page.locator("#t-total")).to_have_text("850,00")
    page.fill("[name=line-0-quantity]", "1,5")
    expect(page.locator("#t-total")).to_have_text("1.275,00")
    shots(page, "money-deal-5-de")
    page.click("button[value=draft]")
    expect(page).to_have_url(re.compile(r"/deals/5#invoice-"))
    [invoice] = stored_for_deal(app, "5")
    assert invoice.total == Decimal("1275.00") and invoice.currency == "EUR"
