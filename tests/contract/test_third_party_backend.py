"""A third-party accounting backend (tests/contract/ledgerly.py, under 300 lines, public core API only) with
its own status words and no drafts: it keeps the accounting contract and works through the web JSON API."""

from __future__ import annotations

import ast
import datetime as dt
import json
from pathlib import Path

import pytest
from fakes import MemoryCRM
from starlette.testclient import TestClient

from invoicebridge.adapters.app import create_app
from invoicebridge.adapters.config import AppConfig
from invoicebridge.core import Customer, Deal, DealProduct, InvoiceDraft, LineItem, Organization
from invoicebridge.core.model import CreateRequest, WebhookRequest
from invoicebridge.core.plugins import Plugins, make_plugin_manager
from invoicebridge.core.runtime import Runtime
from invoicebridge.core.status import InvoiceStatus
from invoicebridge.core.testing import AccountingBackendContract, AccountingSubject

import ledgerly

SOURCE = Path(ledgerly.__file__)


def test_the_backend_is_small_and_uses_only_the_public_core_api():
    assert len(SOURCE.read_text().splitlines()) < 300
    imported = set()
    for node in ast.walk(ast.parse(SOURCE.read_text())):
        if isinstance(node, ast.ImportFrom):
            imported.add(node.module)
        elif isinstance(node, ast.Import):
            imported.update(a.name for a in node.names)
    ours = {m for m in imported if m.startswith("invoicebridge")}
    assert ours == {"invoicebridge.core"}, ours


def _draft(deal_id: str, account: str = "sales") -> InvoiceDraft:
    return InvoiceDraft(deal_id=deal_id, customer=Customer(name="Acme Ltd"), currency="GBP", date=dt.date(2026, 11, 20),
                        due_date=dt.date(2026, 12, 4), status=InvoiceStatus.AWAITING_PAYMENT,
                        line_items=[LineItem(description="Work", quantity=2, unit_amount=50, account_code=account,
                                             tax_type="std", tax_percent=20)])


class TestLedgerlyKeepsTheAccountingContract(AccountingBackendContract):
    @pytest.fixture
    def accounting_subject(self, store):
        plugin = ledgerly.LedgerlyPlugin()
        connection = store.add_connection(backend="ledgerly", role="accounting")
        backend = plugin.backend.open(connection, Runtime(store=store))

        async def request(key):
            return CreateRequest(operation_key=key, draft=_draft(key), contact_id="c-1")

        async def bad_request(key):
            return CreateRequest(operation_key=key, draft=_draft(key, account="other"), contact_id="c-1")

        async def touch(remote_id):
            plugin.ledger.settle(remote_id)
            return InvoiceStatus.PAID

        def webhook():
            body = json.dumps({"events": [{"id": "e1", "invoice": "lg-1"}]}).encode()
            return (WebhookRequest(body=body, headers={"X-Ledgerly-Signature": plugin.ledger.sign(body)}),
                    WebhookRequest(body=body, headers={"X-Ledgerly-Signature": "0" * 64}))

        return AccountingSubject(factory=plugin.backend, backend=backend, request=request, bad_request=bad_request,
                                 touch=touch, webhook=webhook, missing_id="lg-404")


@pytest.fixture
def web(tmp_path, store):
    crm, plugin = MemoryCRM(), ledgerly.LedgerlyPlugin()
    plugins = Plugins(make_plugin_manager(load_entry_points=False, extra=[crm, plugin]))
    store.add_connection(backend="memcrm", role="crm", label="CRM")
    store.add_connection(backend="ledgerly", role="accounting", label="Books One")
    org = Organization(id="5", name="Acme Ltd")
    for deal_id in ("1", "2", "3"):
        crm.deals[deal_id] = Deal(id=deal_id, title=f"Deal {deal_id}", value=0, currency="GBP", organization=org,
                                  products=[DealProduct(name="Consulting", quantity=3, item_price=100, tax_percent=20)])
    app = create_app(AppConfig(data_dir=tmp_path, sync_interval=0, admin_password="correct horse battery"),
                     store=store, plugins=plugins)
    key = store.create_api_key("test")
    with TestClient(app) as client:
        client.headers["Authorization"] = f"Bearer {key}"
        yield client, plugin.ledger


def test_create_status_and_sync_through_the_web_api(web):
    client, ledger = web
    created = client.post("/api/deals/1/invoices", json={})
    assert created.status_code == 201, created.text
    body = created.json()
    # no drafts: the default mapping's draft becomes "awaiting payment", which Ledgerly calls "open"
    assert body["status"] == "AWAITING_PAYMENT" and body["total"] == "360.00" and body["number"] == "LG-001"
    assert ledger.invoices[body["remote_id"]]["word"] == "open"
    draft = client.post("/api/deals/2/invoices", json={"status": "DRAFT"})
    assert draft.status_code == 422 and "keeps no drafts" in draft.text
    assert client.post(f"/api/invoices/{body['id']}/submit").status_code == 409  # no approval step
    assert client.post(f"/api/invoices/{body['id']}/email").status_code == 409  # the backend does not email

    ledger.mark_sent(body["remote_id"])  # its own word "sent" is still awaiting payment for us
    ledger.settle(body["remote_id"])
    synced = client.post("/api/sync")
    assert synced.status_code == 200, synced.text
    assert client.get(f"/api/invoices/{body['id']}").json()["status"] == "PAID"

    second = client.post("/api/deals/3/invoices", json={}).json()
    voided = client.post(f"/api/invoices/{second['id']}/void")
    assert voided.status_code == 200 and voided.json()["status"] == "VOIDED"
    assert ledger.invoices[second["remote_id"]]["word"] == "cancelled"
    assert all(size <= 2 for size in ledger.create_calls)


def test_a_signed_webhook_reaches_the_backend_and_a_forged_one_is_refused(web):
    client, ledger = web
    invoice = client.post("/api/deals/1/invoices", json={}).json()
    ledger.settle(invoice["remote_id"])
    body = json.dumps({"events": [{"id": "e-1", "invoice": invoice["remote_id"]}]}).encode()
    forged = client.post("/webhooks/ledgerly", content=body, headers={"X-Ledgerly-Signature": "0" * 64})
    assert forged.status_code == 401
    good = client.post("/webhooks/ledgerly", content=body, headers={"X-Ledgerly-Signature": ledger.sign(body)})
    assert good.status_code == 200
    client.post("/api/sync")
    assert client.get(f"/api/invoices/{invoice['id']}").json()["status"] == "PAID"
