"""The whole product on QuickBooks through the demo wiring: ``build_demo(accounting="quickbooks")`` connects the
QBO sandbox through the real OAuth flow; an invoice made from a deal lands in QBO with the preview's total; a
payment received in the QBO console comes back by a signed CloudEvents webhook as "partly paid", then paid.
Every exchange with the QBO sandbox is checked against Intuit's XSDs."""

from __future__ import annotations

import json
from decimal import Decimal

import httpx
import pytest
from qbo_support import XsdTransport
from starlette.testclient import TestClient

from invoicebridge.adapters.app import _drain_background
from invoicebridge.adapters.config import AppConfig
from invoicebridge.adapters.demo import build_demo


@pytest.fixture
def demo(tmp_path):
    app, info = build_demo(AppConfig(data_dir=tmp_path, port=8000, sync_interval=0), accounting="quickbooks")
    checked = XsdTransport(httpx.ASGITransport(app=app))
    app.state.runtime.transports["quickbooks"] = checked
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        client.headers["Authorization"] = f"Bearer {info['api_key']}"
        yield client, app, info
    assert not checked.problems, "XSD violations:\n" + "\n".join(checked.problems)
    assert any(note == "validated" for _, _, note in checked.log)


def settle(client, app):
    client.portal.call(_drain_background, app)


def test_demo_json_has_a_quickbooks_section(demo, tmp_path):
    _, app, info = demo
    saved = json.loads((tmp_path / "demo.json").read_text())
    qbo = saved["quickbooks"]
    assert saved["accounting"] == "quickbooks" and qbo["console_url"].endswith("/sandbox/quickbooks/")
    assert qbo["realm_id"] == app.state.sandboxes["quickbooks"][1].realm_id and qbo["client_secret"]
    assert qbo["api_base"].endswith("/sandbox/quickbooks") and qbo["verifier_token"]


def test_create_receive_payment_in_qbo_and_see_it_on_the_deal(demo):
    client, app, info = demo
    deal = info["suggested_deal"]
    preview = client.post(f"/api/deals/{deal}/preview", json={}).json()
    created = client.post(f"/api/deals/{deal}/invoices", json={}, headers={"Idempotency-Key": "qbo-flow-1"})
    assert created.status_code == 201, created.text
    invoice = created.json()
    sandbox = app.state.sandboxes["quickbooks"][1]
    remote = sandbox.state.get("Invoice", invoice["remote_id"])
    assert Decimal(str(remote["TotalAmt"])) == Decimal(invoice["total"]) == Decimal(preview["totals"]["total"])
    assert invoice["status"] == "AWAITING_PAYMENT" and "void" in invoice["allowed_commands"]
    paid = client.post(f"/sandbox/quickbooks/console/invoices/{invoice['remote_id']}/pay", data={"amount": "100"},
                       follow_redirects=False)
    assert paid.status_code == 303
    settle(client, app)
    now = client.get(f"/api/invoices/{invoice['id']}").json()
    assert now["status_label"] == "Partly paid" and now["amount_paid"] == "100.00"
    client.post(f"/sandbox/quickbooks/console/invoices/{invoice['remote_id']}/pay", data={"amount": ""},
                follow_redirects=False)
    settle(client, app)
    assert client.get(f"/api/invoices/{invoice['id']}").json()["status"] == "PAID"
