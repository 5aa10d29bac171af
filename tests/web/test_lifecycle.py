"""Issue #10: dead invoices owe nothing, email asks first, the dashboard's "Needs attention" and the reminder's
lifecycle. Through the demo wiring (real plugins, both sandboxes, every sandbox call checked against the specs)."""

import datetime as dt
import re

import pytest
from starlette.testclient import TestClient

from invoicebridge.adapters.app import _drain_background
from invoicebridge.adapters.config import AppConfig
from invoicebridge.adapters.demo import build_demo


@pytest.fixture
def demo(tmp_path, validate_demo):
    app, info = build_demo(AppConfig(data_dir=tmp_path, port=8000, sync_interval=0))
    validate_demo(app)
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        client.headers["Authorization"] = f"Bearer {info['api_key']}"
        yield client, app, info


def settle(client, app):
    client.portal.call(_drain_background, app)


def browser_login(client, info):
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    client.post("/login", data={"password": info["admin_password"], "csrf_token": token}, follow_redirects=False)


def csrf(page) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


def invoice_card(page_text: str, invoice_id: int) -> str:
    start = page_text.index(f'id="invoice-{invoice_id}"')
    return page_text[start:page_text.index("</section>", start)]


def due_cell(card: str) -> str:
    return re.search(r'<span class="muted small">Due</span>(.*?)</div>', card, re.S).group(1)


def pd_state(app):
    return app.state.sandboxes["pipedrive"][1].state.sandbox


# ---- A: dead invoices owe nothing --------------------------------------------------------------------------


def test_voided_and_deleted_invoices_show_no_amount_due_anywhere(demo):
    client, app, info = demo
    deal = info["suggested_deal"]
    deleted = client.post(f"/api/deals/{deal}/invoices", json={}).json()
    assert client.post(f"/api/invoices/{deleted['id']}/delete").status_code == 200
    voided = client.post(f"/api/deals/{deal}/invoices", json={"status": "AUTHORISED"}).json()
    assert client.post(f"/api/invoices/{voided['id']}/void").status_code == 200
    settle(client, app)
    for inv in (voided, deleted):
        body = client.get(f"/api/invoices/{inv['id']}").json()
        assert body["status"] in ("VOIDED", "DELETED") and body["amount_due"] == "0.00"
        assert body["total"] == inv["total"]  # the total is kept for reference
    browser_login(client, info)
    page = client.get(f"/deals/{deal}").text
    for inv in (voided, deleted):
        card = invoice_card(page, inv["id"])
        assert "{:,.2f}".format(float(inv["total"])) in card  # the total is still shown
        assert "{:,.2f}".format(float(inv["total"])) not in due_cell(card)
    dashboard = client.get("/").text
    for inv in (voided, deleted):
        row = re.search(rf'<tr>\s*<td><a href="/deals/{deal}#invoice-{inv["id"]}">.*?</tr>', dashboard, re.S).group(0)
        assert row.count("{:,.2f}".format(float(inv["total"]))) == 1  # the total, not the due column too
    console = client.get("/sandbox/xero/").text
    row = re.search(rf'<tr id="invoice-{voided["remote_id"]}">.*?</tr>', console, re.S).group(0)
    cells = re.findall(r'<td class="num">(.*?)</td>', row, re.S)
    assert inv["total"] not in cells[-1] and voided["total"] not in cells[-1]  # the Due column
    notes = [n["content"] for n in pd_state(app).notes.values() if str(n.get("deal_id")) == deal and "Voided" in n["content"]]
    assert notes and all("amount due" not in n.lower() for n in notes)


# ---- B: email asks first, naming the recipient -----------------------------------------------------------


def test_email_asks_first_naming_the_recipient_and_sends_only_when_confirmed(demo):
    client, app, info = demo
    deal = info["suggested_deal"]
    inv = client.post(f"/api/deals/{deal}/invoices", json={"status": "AUTHORISED"}).json()
    xero = app.state.sandboxes["xero"][1].state
    remote = xero.invoices[inv["remote_id"]]
    address = xero.contacts[remote.contact_id].email
    assert address
    browser_login(client, info)
    page = client.get(f"/deals/{deal}")
    card = invoice_card(page.text, inv["id"])
    # The deal page's Email action leads to the question (a plain link: no script needed), it does not post
    assert f'href="/invoices/{inv["id"]}/email"' in card
    assert not re.search(rf'<form[^>]*action="/invoices/{inv["id"]}/email"', card)
    # A post without the confirmation sends nothing and goes to the question
    sent = client.post(f"/invoices/{inv['id']}/email", data={"csrf_token": csrf(page)}, follow_redirects=False)
    assert sent.status_code == 303 and sent.headers["location"].endswith(f"/invoices/{inv['id']}/email")
    assert not remote.sent_to_contact
    question = client.get(f"/invoices/{inv['id']}/email")
    assert question.status_code == 200 and address in question.text and inv["number"] in question.text
    assert 'name="confirm" value="yes"' in question.text and not remote.sent_to_contact
    done = client.post(f"/invoices/{inv['id']}/email", data={"csrf_token": csrf(question), "confirm": "yes"},
                       follow_redirects=False)
    assert done.status_code == 303 and remote.sent_to_contact


def test_email_question_for_an_invoice_that_cannot_be_emailed_is_refused(demo):
    client, app, info = demo
    draft = client.post(f"/api/deals/{info['suggested_deal']}/invoices", json={}).json()
    browser_login(client, info)
    page = client.get(f"/invoices/{draft['id']}/email")
    assert page.status_code == 409 and 'name="confirm"' not in page.text
