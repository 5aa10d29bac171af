"""The whole product through the demo wiring: real plugins, both sandboxes, webhooks both ways."""

import re

import pytest
from starlette.testclient import TestClient

from invoicebridge.adapters.app import _drain_background
from invoicebridge.adapters.config import AppConfig
from invoicebridge.adapters.demo import build_demo


@pytest.fixture
def demo(tmp_path, validate_demo):
    app, info = build_demo(AppConfig(data_dir=tmp_path, port=8000, sync_interval=0))
    validate_demo(app)  # every request to either sandbox, and every answer, checked against the official specs
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        client.headers["Authorization"] = f"Bearer {info['api_key']}"
        yield client, app, info


def settle(client, app):
    """Wait for the work webhooks started in the background (no sleeping: await the tasks themselves)."""
    client.portal.call(_drain_background, app)


def browser_login(client, info):
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    client.post("/login", data={"password": info["admin_password"], "csrf_token": token}, follow_redirects=False)


def test_demo_writes_demo_json_with_everything_a_person_needs(demo, tmp_path):
    import json

    _, _, info = demo
    saved = json.loads((tmp_path / "demo.json").read_text())
    assert saved["app_url"] == "http://127.0.0.1:8000" and saved["api_key"].startswith("ib_")
    assert saved["xero"]["console_url"].endswith("/sandbox/xero/") and saved["pipedrive"]["api_token"]
    assert (tmp_path / "demo.json").stat().st_mode & 0o077 == 0


def test_the_demo_connects_every_sandbox_through_oauth_and_follows_api_domain(demo):
    from invoicebridge.core.model import Role

    client, app, info = demo
    store = app.state.runtime.store
    crm, accounting = store.active_connection(Role.CRM), store.active_connection(Role.ACCOUNTING)
    # the CRM's token answer names its base ("api_domain"); the demo no longer overrides it (issue #14)
    assert crm.settings["auth"] == "oauth" and crm.settings["api_domain"] == "http://127.0.0.1:8000/sandbox/pipedrive"
    assert {"access_token", "refresh_token"} <= set(store.get_secrets(crm.id))
    assert {"access_token", "refresh_token"} <= set(store.get_secrets(accounting.id))
    assert client.get(f"/api/deals/{info['suggested_deal']}/invoices").status_code == 200
    assert set(app.state.sandboxes) == {"xero", "pipedrive", "quickbooks"}  # every sandbox is mounted ...
    assert accounting.backend == "xero" and info["accounting"] == "xero"  # ... one accounting one connected


def test_the_dashboard_activity_names_each_connected_system_as_people_know_it(demo):
    client, app, info = demo
    browser_login(client, info)
    page = client.get("/?lang=en", headers={"Authorization": ""}).text
    assert "Connected Xero: " in page and "Connected Pipedrive: " in page
    assert "Connected xero" not in page and "Connected pipedrive" not in page  # not the registry's key


def test_create_approve_pay_in_xero_and_see_paid_on_the_deal(demo):
    client, app, info = demo
    deal = info["suggested_deal"]
    created = client.post(f"/api/deals/{deal}/invoices", json={}, headers={"Idempotency-Key": "flow-1"})
    assert created.status_code == 201, created.text
    invoice = created.json()
    xero = app.state.sandboxes["xero"][1]
    remote = xero.state.invoices[invoice["remote_id"]]
    assert str(remote.total) == invoice["total"]
    # The note landed on the Pipedrive deal; a draft gets no reminder, since it cannot be sent yet.
    pd = app.state.sandboxes["pipedrive"][1].state.sandbox
    def subjects() -> list[str]:
        return [a["subject"] for a in pd.activities.values() if str(a.get("deal_id")) == deal]
    assert subjects() == [] and [n for n in pd.notes.values() if str(n.get("deal_id")) == deal]
    # Act as the Xero user in the sandbox console: approve (now it gets its reminder), then pay in full.
    console = client.post(f"/sandbox/xero/console/invoices/{invoice['remote_id']}/approve", follow_redirects=False)
    assert console.status_code == 303
    settle(client, app)
    assert client.get(f"/api/invoices/{invoice['id']}").json()["status"] == "AWAITING_PAYMENT"
    assert subjects() == [f"Send invoice {invoice['number']} to {invoice['contact_name']}"]
    client.post(f"/sandbox/xero/console/invoices/{invoice['remote_id']}/pay", data={"amount": "100.00"}, follow_redirects=False)
    settle(client, app)
    assert client.get(f"/api/invoices/{invoice['id']}").json()["status_label"] == "Partly paid"
    client.post(f"/sandbox/xero/console/invoices/{invoice['remote_id']}/pay", data={"amount": ""}, follow_redirects=False)
    settle(client, app)
    body = client.get(f"/api/invoices/{invoice['id']}").json()
    assert body["status"] == "PAID" and body["amount_due"] == "0.00"
    browser_login(client, info)
    page = client.get(f"/deals/{deal}")
    # "Paid" alone is on every invoice card (the amounts' label): the badge must say it
    assert 'data-status="PAID">Paid</span>' in page.text and invoice["number"] in page.text
    notes = [n["content"] for n in pd.notes.values() if str(n.get("deal_id")) == deal]
    assert any("Paid" in n for n in notes)
    assert [a["done"] for a in pd.activities.values() if str(a.get("deal_id")) == deal] == [True]  # paid: closed


def test_pdf_share_link_and_deep_link(demo):
    client, app, info = demo
    invoice = client.post(f"/api/deals/{info['suggested_deal']}/invoices", json={"status": "AWAITING_PAYMENT"}).json()
    pdf = client.get(f"/api/invoices/{invoice['id']}/pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    browser_login(client, info)
    share = client.get(f"/invoices/{invoice['id']}/share")
    link = re.search(r'id="share-link" value="([^"]+)"', share.text).group(1)
    assert "/sandbox/xero/in/" in link and client.get(link).status_code == 200
    opened = client.get(f"/invoices/{invoice['id']}/open", follow_redirects=True)
    assert opened.status_code == 200 and invoice["number"] in opened.text


def test_winning_a_deal_in_pipedrive_creates_a_draft_when_automation_is_on(demo):
    client, app, info = demo
    store = app.state.runtime.store
    store.update_settings({"automation_draft_when_won": True})
    pd = app.state.sandboxes["pipedrive"][1].state.sandbox
    open_deal = next(d for d in sorted(pd.deals.values(), key=lambda d: d["id"]) if d["status"] == "open" and d.get("org_id") and pd.lines_of(d["id"]))
    response = client.post(f"/sandbox/pipedrive/console/deals/{open_deal['id']}/win", follow_redirects=False)
    assert response.status_code == 303
    settle(client, app)
    records = store.invoices_for_deal(str(open_deal["id"]))
    assert len(records) == 1 and records[0].status.value == "DRAFT"
    # The same webhook delivered again changes nothing (the sandbox sends a delivery once: send it again).
    delivered = [d for d in pd.outbox if d.done]
    for d in delivered:
        d.done = False
    assert client.portal.call(pd.deliver_webhooks)
    settle(client, app)
    assert len(store.invoices_for_deal(str(open_deal["id"]))) == 1


def test_forged_webhooks_are_refused_and_change_nothing(demo):
    client, app, info = demo
    before = app.state.runtime.store.audit_entries(limit=1000)
    forged = client.post("/webhooks/xero", content=b'{"events":[]}', headers={"x-xero-signature": "Zm9yZ2Vk"})
    assert forged.status_code == 401 and forged.content == b""
    wrong = client.post("/webhooks/pipedrive", content=b"{}", auth=("invoicebridge", "wrong"))
    assert wrong.status_code == 401
    after = app.state.runtime.store.audit_entries(limit=1000)
    assert [e for e in after if e["kind"] != "webhook_rejected"] == [e for e in before if e["kind"] != "webhook_rejected"]


def test_pages_opened_from_pipedrive_accept_its_signed_jwt_and_refuse_forged_ones(demo):
    import datetime as dt

    import jwt

    client, app, info = demo
    client.headers.pop("Authorization")
    secret = app.state.runtime.backend_config("pipedrive")["jwt_secret"]
    exp = int((dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=5)).timestamp())
    good = jwt.encode({"userId": 7, "companyId": 7001, "exp": exp}, secret, algorithm="HS256")
    forged = jwt.encode({"userId": 7, "companyId": 7001, "exp": exp}, "x" * 32, algorithm="HS256")
    expired = jwt.encode({"userId": 7, "companyId": 7001, "exp": exp - 3600}, secret, algorithm="HS256")
    for bad in (forged, expired):
        response = client.get(f"/deals?selectedIds=1&resource=deal&token={bad}", follow_redirects=False)
        assert response.status_code == 401
        assert client.get("/deals/1", follow_redirects=False).status_code == 303  # still signed out
    no_token = client.get("/deals?selectedIds=1", follow_redirects=False)
    assert no_token.headers["location"] == "/login?next=/deals/1"
    ok = client.get(f"/deals?selectedIds=1&resource=deal&token={good}", follow_redirects=False)
    assert ok.status_code == 303 and ok.headers["location"] == "/deals/1"
    assert client.get("/deals/1").status_code == 200


def test_connecting_pipedrive_registers_the_deal_webhook(demo):
    _, app, info = demo
    hooks = list(app.state.sandboxes["pipedrive"][1].state.sandbox.webhooks.values())
    assert [(h["subscription_url"], h["event_object"]) for h in hooks] == [(f"{info['app_url']}/webhooks/pipedrive", "deal")]


def test_email_via_xero_only_for_approved_invoices(demo):
    client, app, info = demo
    draft = client.post(f"/api/deals/{info['suggested_deal']}/invoices", json={}).json()
    refused = client.post(f"/api/invoices/{draft['id']}/email")
    assert refused.status_code == 409 and "Draft" in refused.json()["message"]
    approved = client.post(f"/api/invoices/{draft['id']}/approve")
    assert approved.status_code == 200 and approved.json()["status"] == "AWAITING_PAYMENT"
    sent = client.post(f"/api/invoices/{draft['id']}/email")
    assert sent.status_code == 200
    assert len(app.state.sandboxes["xero"][1].state.emails) == 1
    timeline = app.state.runtime.store.audit_entries(invoice_id=draft["id"])
    assert timeline[-1]["kind"] == "emailed"


def test_bulk_page_dry_run_then_create_with_progress_and_per_deal_results(demo):
    client, app, info = demo
    client.headers.pop("Authorization")
    browser_login(client, info)
    page = client.get("/bulk")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    started = client.post("/bulk", data={"csrf_token": token, "deal_ids": "1 2 6", "dry_run": "on"}, follow_redirects=False)
    assert started.status_code == 303
    run_url = started.headers["location"]
    settle(client, app)
    status = client.get(run_url + "/status").json()
    assert (status["state"], status["done"], status["total"]) == ("finished", 3, 3)
    dry = client.get(run_url)
    assert "Ready" in dry.text and "Create these invoices" in dry.text and "Acme Ltd" in dry.text
    assert "Deal 6" in dry.text  # the deal without an organization, with its mapping error
    assert app.state.runtime.store.count_invoices() == 0
    token = re.search(r'name="csrf_token" value="([^"]+)"', dry.text).group(1)
    ids = re.search(r'name="deal_ids" value="([^"]+)"', dry.text).group(1)
    created = client.post("/bulk", data={"csrf_token": token, "deal_ids": ids}, follow_redirects=True)
    settle(client, app)
    result = client.get(str(created.url))
    assert "INV-0001" in result.text and "INV-0002" in result.text and "Failed" in result.text and "Deal 6" in result.text
    assert app.state.runtime.store.count_invoices() == 2


def test_starting_the_demo_again_in_the_same_folder_starts_fresh_and_works(tmp_path):
    for _ in range(2):
        app, info = build_demo(AppConfig(data_dir=tmp_path, port=8000, sync_interval=0))
        with TestClient(app, base_url="http://127.0.0.1:8000") as client:
            client.headers["Authorization"] = f"Bearer {info['api_key']}"
            created = client.post(f"/api/deals/{info['suggested_deal']}/invoices", json={})
            assert created.status_code == 201, created.text
            assert created.json()["number"] == "INV-0001"  # the new sandbox and the new database agree
