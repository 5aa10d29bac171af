"""Click through the product in real headless Chromium, as a person would."""

import re

import pytest
from live_server import serve_demo
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def sign_in(page, info):
    page.goto(info["app_url"] + "/")
    expect(page).to_have_url(re.compile(r"/login"))
    page.fill("input[name=password]", info["admin_password"])
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Dashboard")


@pytest.fixture(scope="module", params=["xero", "quickbooks"])
def flow_server(request, tmp_path_factory):
    """The demo on each accounting backend: Xero shares the module's server; QuickBooks gets its own demo
    (one accounting connection at a time), every QBO exchange checked against Intuit's XSDs."""
    if request.param == "xero":
        yield "xero", request.getfixturevalue("server")
        return
    with serve_demo(tmp_path_factory.mktemp("demo-qbo"), check_specs=True, accounting="quickbooks") as running:
        yield "quickbooks", running


def test_the_whole_flow_from_mapping_to_paid(flow_server, browser, shots, tmp_path):
    """Xero: draft, submitted, approved and paid in Xero's console. QuickBooks Online (no drafts, no approval
    step): created awaiting payment, part-paid then paid in QBO's console; the same amounts on both."""
    backend, (app, info) = flow_server
    qbo = backend == "quickbooks"
    save = "button[value=create]" if qbo else "button[value=draft]"
    page = browser.new_page(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    sign_in(page, info)
    shots(page, f"01-dashboard-{backend}")

    # Settings: the mapping lists custom fields; set the tax number and a 7-day due date.
    page.goto(info["app_url"] + "/settings")
    expect(page.locator("#map-tax_number option", has_text="VAT number")).to_have_count(1)
    page.select_option("#map-tax_number", label="Organization → VAT number (custom)")
    expect(page.locator("#map-email option:checked")).to_have_text("Person → Email")
    expect(page.locator("option", has_text="not found in the CRM")).to_have_count(0)
    page.fill("input[name=due_days]", "7")
    shots(page, f"02-settings-{backend}")
    page.click("button:has-text('Save settings')")
    expect(page.locator(".flash")).to_have_text("Settings saved.")

    # The seeded deal, then Create invoice.
    deal = info["suggested_deal"]
    page.goto(f"{info['app_url']}/deals/{deal}")
    expect(page.locator("h1")).to_contain_text("Acme")
    shots(page, f"03-deal-{backend}")
    page.click("text=Create invoice")
    expect(page.locator("h1")).to_contain_text("New invoice")
    # What the backend can do decides the buttons: no drafts, no "Save as draft"
    expect(page.locator("button[value=draft]")).to_have_count(0 if qbo else 1)
    expect(page.locator("button[value=submit]")).to_have_count(0 if qbo else 1)
    expect(page.locator("button[value=create_email]")).to_have_count(1 if qbo else 0)
    rows = page.locator("tr.line")
    # Two lines picked from the accounting system's items list; the other prefilled lines are cleared.
    for i in range(rows.count()):
        for field in ("description", "quantity", "unit_amount", "discount_rate", "discount_amount"):
            page.fill(f"[name=line-{i}-{field}]", "")
        page.select_option(f"[name=line-{i}-item_code]", "")
    page.select_option("[name=line-0-item_code]", "CONSULT-H")
    page.select_option("[name=line-1-item_code]", "LIC-PRO")
    expect(page.locator("[name=line-0-description]")).to_have_value("Consulting services, per hour")
    page.fill("[name=line-0-quantity]", "abc")
    page.fill("[name=line-1-quantity]", "2")
    page.click(save)
    expect(page.locator(".flash.error")).to_contain_text("Line 1, quantity: 'abc' is not a number")
    shots(page, f"04-form-error-{backend}")
    # Fix it: totals follow the edit before sending.
    page.select_option("[name=line-0-item_code]", "CONSULT-H")
    page.select_option("[name=line-1-item_code]", "LIC-PRO")
    page.fill("[name=line-0-quantity]", "10")
    page.fill("[name=line-1-quantity]", "2")
    expect(page.locator("#t-total")).to_have_text("4,557.60")  # (10×120 + 2×1,299) × 1.2
    shots(page, f"05-create-{backend}")
    page.click(save)
    invoice = page.locator("section.invoice").first
    number = invoice.locator("h3").inner_text().split()[0]
    if qbo:
        expect(page.locator(".flash")).to_contain_text("created in QuickBooks Online as Awaiting payment")
        expect(invoice.locator(".badge")).to_have_text("Awaiting payment")
        sandbox = app.state.sandboxes["quickbooks"][1]
        stored = next(i for i in sandbox.state.table("Invoice").values() if i["DocNumber"] == number)
        assert str(stored["TotalAmt"]) == "4557.60" and str(stored["TxnTaxDetail"]["TotalTax"]) == "759.60"

        # Act as the QBO user: receive part of it, then the rest, in the sandbox console.
        console = browser.new_page(viewport={"width": 1280, "height": 800})
        console.goto(info["quickbooks"]["console_url"])
        row = console.locator("tr", has_text=number)
        row.locator("input[name=amount]").fill("1000")
        row.locator("button:has-text('Receive payment')").click()
        expect(console.locator("tr", has_text=number).locator("td").nth(2)).to_have_text("Partially paid")
        expect(page.locator("section.invoice").first.locator(".badge")).to_have_text("Partly paid", timeout=15000)
        expect(page.locator("section.invoice").first).to_contain_text("3,557.60")  # what is still due
        shots(page, "06b-deal-partly-paid-quickbooks")
        console.locator("tr", has_text=number).locator("button:has-text('Receive payment')").click()
        expect(console.locator("tr", has_text=number).locator("td").nth(2)).to_have_text("Paid")
        shots(console, "06-quickbooks-console")
    else:
        expect(page.locator(".flash")).to_contain_text("created in Xero as Draft")
        expect(invoice.locator(".badge")).to_have_text("Draft")
        invoice.locator("button[data-command=submit]").click()
        expect(page.locator("section.invoice").first.locator(".badge")).to_have_text("Awaiting approval")

        # Act as the Xero user: approve and pay in the sandbox console.
        console = browser.new_page(viewport={"width": 1280, "height": 800})
        console.goto(info["xero"]["console_url"])
        row = console.locator("tr", has_text=number)
        row.locator("button:has-text('Approve')").click()
        expect(console.locator("tr", has_text=number).locator(".status")).to_have_text("AUTHORISED")
        console.locator("tr", has_text=number).locator("button:has-text('Pay')").click()
        expect(console.locator("tr", has_text=number).locator(".status")).to_have_text("PAID")
        shots(console, "06-xero-console")

    # The deal page follows the webhook (the server tells it by server-sent events; it reloads).
    expect(page.locator("section.invoice").first.locator(".badge")).to_have_text("Paid", timeout=15000)
    shots(page, f"07-deal-paid-{backend}")

    with page.expect_download() as download:
        page.locator("section.invoice").first.locator("text=Download PDF").click()
    path = tmp_path / "invoice.pdf"
    download.value.save_as(path)
    assert path.read_bytes().startswith(b"%PDF")
    assert download.value.suggested_filename == f"{number}.pdf"


def test_connections_page_shows_both_sandboxes_healthy(server, browser, shots):
    app, info = server
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    sign_in(page, info)
    page.goto(info["app_url"] + "/connections")
    expect(page.locator("#backend-xero")).to_contain_text("Demo Company (UK)")
    page.locator("#backend-xero button:has-text('Check connection')").click()
    expect(page.locator(".flash")).to_contain_text("is working")
    shots(page, "08-connections")


def test_bulk_dry_run_shows_progress_then_every_preview(server, browser, shots):
    app, info = server
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    sign_in(page, info)
    page.click("nav >> text=Bulk")
    page.fill("textarea[name=deal_ids]", "2 3 5 7")
    page.click("button:has-text('Start')")
    expect(page.locator("#bulk-progress")).to_contain_text("finished.", timeout=15000)
    expect(page.locator("tbody tr")).to_have_count(4)
    expect(page.locator("text=Create these invoices")).to_be_visible()
    shots(page, "09-bulk-dry-run")


def test_confirmations_and_the_deal_jump_work_under_the_content_security_policy(server, browser):
    """The confirm() before a retry or disconnect and the dashboard's "Open a deal" used inline handlers, which the
    CSP forbids; they now live in app.js (and opening a deal by number is the search box's plain GET form).
    Declining a confirmation must keep the form from being sent."""
    app, info = server
    page = browser.new_page()
    answer = page.goto(info["app_url"] + "/login")
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
    assert "unsafe-inline" not in answer.headers["content-security-policy"].split("script-src")[1].split(";")[0]
    sign_in(page, info)
    deal = info["suggested_deal"]
    page.fill("#find-q", deal)  # the dashboard's search box opens a deal by its number
    page.click("#find-deal button[type=submit]")
    expect(page).to_have_url(re.compile(rf"/deals/{deal}$"))
    page.goto(info["app_url"] + "/connections")
    asked: list[str] = []

    def decline(dialog):
        asked.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", decline)
    page.locator("form[data-confirm] button").first.click()
    expect(page.locator("form[data-confirm] button").first).to_be_visible()
    assert asked and asked[0].startswith("Disconnect")
    assert page.url.endswith("/connections")
