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
    voided = client.post(f"/api/deals/{deal}/invoices", json={"status": "AWAITING_PAYMENT", "allow_another": True}).json()
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
    inv = client.post(f"/api/deals/{deal}/invoices", json={"status": "AWAITING_PAYMENT"}).json()
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


# ---- C: "Needs attention" ---------------------------------------------------------------------------------


def attention_section(page_text: str) -> str:
    start = page_text.index("<h2>Needs attention</h2>")
    return page_text[start:page_text.index("</section>", start)]


def test_needs_attention_lists_a_connection_in_error_with_a_link_to_reconnect(demo):
    client, app, info = demo
    store = app.state.runtime.store
    browser_login(client, info)
    assert "Nothing failed" in attention_section(client.get("/").text)
    conn = app.state.runtime.connection("accounting")
    store.update_connection(conn.id, status="error", last_error="The refresh token was revoked")
    section = attention_section(client.get("/").text)
    assert "Nothing failed" not in section
    assert "The refresh token was revoked" in section and 'href="/connections"' in section and "Reconnect" in section


def test_needs_attention_lists_old_drafts_after_the_configured_days_and_overdue_invoices(demo):
    client, app, info = demo
    store = app.state.runtime.store
    runtime = app.state.runtime
    deal = info["suggested_deal"]
    draft = client.post(f"/api/deals/{deal}/invoices", json={}).json()
    browser_login(client, info)
    assert f'#invoice-{draft["id"]}' not in attention_section(client.get("/").text)  # a new draft is fine
    old = (runtime.now() - dt.timedelta(days=5)).isoformat()
    store.db["invoices"].update(draft["id"], {"created_at": old})
    assert f'#invoice-{draft["id"]}' not in attention_section(client.get("/").text)  # 5 days < the default 7
    settings = client.get("/settings")
    assert 'name="attention_draft_days"' in settings.text and 'value="7"' in settings.text
    form = {"csrf_token": csrf(settings), "to": "organization.name", "due_days": "14", "due_kind": "days_after_invoice",
            "account_code": "200", "tax_handling": "deal", "status": "DRAFT", "reminder_due_days": "3",
            "attention_draft_days": "3"}
    assert client.post("/settings", data=form, follow_redirects=False).status_code == 303
    assert store.get_settings()["attention_draft_days"] == 3
    section = attention_section(client.get("/").text)
    assert f'href="/deals/{deal}#invoice-{draft["id"]}"' in section and "draft" in section.lower()
    # overdue: due date past, something due, not dead
    assert client.post(f"/api/invoices/{draft['id']}/delete").status_code == 200
    past = runtime.today() - dt.timedelta(days=30)
    late = client.post(f"/api/deals/{deal}/invoices", json={"status": "AWAITING_PAYMENT", "date": (past - dt.timedelta(days=14)).isoformat(),
                                                           "due_date": past.isoformat()}).json()
    section = attention_section(client.get("/").text)
    assert f'#invoice-{draft["id"]}' not in section  # deleted: not waiting any more
    assert f'href="/deals/{deal}#invoice-{late["id"]}"' in section and "overdue" in section.lower()
    assert client.post(f"/api/invoices/{late['id']}/void").status_code == 200
    assert f'#invoice-{late["id"]}' not in attention_section(client.get("/").text)  # voided: nothing is due


# ---- D: the reminder is completed once the invoice needs no more sending ------------------------------------


def test_settings_refused_for_the_due_days_also_name_the_other_problems(demo):
    """An unreadable number of due days hid every other refusal of the mapping (a bad status here): the form
    was answered one problem at a time."""
    client, app, info = demo
    browser_login(client, info)
    settings = client.get("/settings")
    form = {"csrf_token": csrf(settings), "to": "organization.name", "due_days": "soon", "due_kind": "days_after_invoice",
            "account_code": "200", "tax_handling": "deal", "status": "BOGUS", "reminder_due_days": "3"}
    answer = client.post("/settings", data=form, follow_redirects=True)
    assert "Settings not saved" in answer.text
    flash = re.search(r"Settings not saved: (.*?)<", answer.text).group(1)
    assert "Due date" in flash and "unknown invoice status" in flash, flash


def reminder(app, invoice):
    found = [a for a in pd_state(app).activities.values()
             if str(a.get("deal_id")) == str(invoice["deal_id"]) and a["subject"].startswith(f"Send invoice {invoice['number']} ")]
    assert len(found) == 1, found
    return found[0]


def test_the_reminder_is_marked_done_when_the_invoice_is_emailed_paid_voided_or_deleted(demo):
    client, app, info = demo
    deal = info["suggested_deal"]
    pd = pd_state(app)
    # emailed through the accounting system (our own command)
    emailed = client.post(f"/api/deals/{deal}/invoices", json={"status": "AWAITING_PAYMENT"}).json()
    assert reminder(app, emailed)["done"] is False
    assert client.post(f"/api/invoices/{emailed['id']}/email").status_code == 200
    assert reminder(app, emailed)["done"] is True and reminder(app, emailed)["marked_as_done_time"]
    # paid in the accounting system (its webhook)
    paid = client.post(f"/api/deals/{deal}/invoices", json={"status": "AWAITING_PAYMENT", "allow_another": True}).json()
    client.post(f"/sandbox/xero/console/invoices/{paid['remote_id']}/pay", data={"amount": ""}, follow_redirects=False)
    settle(client, app)
    assert client.get(f"/api/invoices/{paid['id']}").json()["status"] == "PAID"
    assert reminder(app, paid)["done"] is True
    # voided and deleted by our own commands
    voided = client.post(f"/api/deals/{deal}/invoices", json={"status": "AWAITING_PAYMENT", "allow_another": True}).json()
    assert client.post(f"/api/invoices/{voided['id']}/void").status_code == 200
    assert reminder(app, voided)["done"] is True
    # a draft cannot be sent yet: it has no reminder, and deleting it has none to close
    draft = client.post(f"/api/deals/{deal}/invoices", json={"allow_another": True}).json()
    assert not [a for a in pd.activities.values() if a["subject"].startswith(f"Send invoice {draft['number']} ")]
    assert client.post(f"/api/invoices/{draft['id']}/delete").status_code == 200
    # each completed exactly once, with the documented body
    done_calls = [(aid, body) for aid, body in pd.activity_updates]
    assert sorted(aid for aid, _ in done_calls) == sorted({aid for aid, _ in done_calls})
    assert all(body == {"done": True} for _, body in done_calls) and len(done_calls) == 3
    # nothing is left open for this deal, and a sync pass completes nothing again
    client.post("/api/sync")
    settle(client, app)
    assert not [a for a in pd.activities.values() if str(a.get("deal_id")) == deal and not a["done"]]
    assert len(pd.activity_updates) == 3


def test_the_pipedrive_sandbox_console_shows_whether_each_reminder_is_open_or_done(demo):
    client, app, info = demo
    inv = client.post(f"/api/deals/{info['suggested_deal']}/invoices", json={"status": "AWAITING_PAYMENT"}).json()
    activity = reminder(app, inv)
    def row() -> str:
        return re.search(rf'<tr id="activity-{activity["id"]}">.*?</tr>', client.get("/sandbox/pipedrive/").text, re.S).group(0)
    assert "open" in row() and f"Send invoice {inv['number']}" in row()
    assert client.post(f"/api/invoices/{inv['id']}/void").status_code == 200
    assert "done" in row()


def test_the_reminder_is_made_when_the_invoice_is_approved_in_the_accounting_system_and_closed_when_emailed_there(demo):
    """Issue #10: a draft gets its reminder once it can be sent (approved in the accounting system, seen by its
    webhook), and the reminder is marked done when the invoice is emailed from the accounting system itself."""
    client, app, info = demo
    deal = info["suggested_deal"]
    draft = client.post(f"/api/deals/{deal}/invoices", json={}).json()
    assert not [a for a in pd_state(app).activities.values() if a["subject"].startswith(f"Send invoice {draft['number']} ")]
    client.post(f"/sandbox/xero/console/invoices/{draft['remote_id']}/approve", follow_redirects=False)
    settle(client, app)
    assert client.get(f"/api/invoices/{draft['id']}").json()["status"] == "AWAITING_PAYMENT"
    approved = client.get(f"/api/invoices/{draft['id']}").json()
    assert reminder(app, approved)["done"] is False
    xero = app.state.sandboxes["xero"][1].state
    invoice = xero.invoices[draft["remote_id"]]
    invoice.sent_to_contact = True  # emailed from the accounting system, not through invoicebridge
    xero.touch(invoice, "Emailed", f"Invoice {invoice.number} emailed")
    settle(client, app)
    client.post("/api/sync")
    settle(client, app)
    assert reminder(app, approved)["done"] is True
    assert len([aid for aid, _ in pd_state(app).activity_updates if aid == reminder(app, approved)["id"]]) == 1
