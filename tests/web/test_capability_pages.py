"""Pages and API follow what the accounting backend reports: without ``payments`` no amount paid is shown."""

from __future__ import annotations

import attrs
import pytest
from fakes import MemoryAccounting, MemoryCRM
from starlette.testclient import TestClient
from test_api import PASSWORD, login

from invoicebridge.adapters.app import create_app
from invoicebridge.adapters.config import AppConfig
from invoicebridge.core import Deal, DealProduct, Organization, Person
from invoicebridge.core.plugins import Plugins, make_plugin_manager


@pytest.fixture(params=[True, False], ids=["payments", "no-payments"])
def web(request, tmp_path, store):
    crm, acct = MemoryCRM(), MemoryAccounting()
    acct.capabilities = attrs.evolve(acct.capabilities, payments=request.param)
    plugins = Plugins(make_plugin_manager(load_entry_points=False, extra=[crm, acct]))
    store.add_connection(backend="memcrm", role="crm", label="CRM")
    store.add_connection(backend="memacct", role="accounting", label="Demo Ltd", secrets={"token": "t"})
    crm.deals["1"] = Deal(id="1", title="Website", value=0, currency="GBP", organization=Organization(id="5", name="Acme Ltd"),
                          person=Person(id="9", name="Ann", emails=["ann@acme.test"]),
                          products=[DealProduct(name="Consulting", quantity=10, item_price=120, tax_percent=20, code="CONSULT-HR")])
    app = create_app(AppConfig(data_dir=tmp_path, sync_interval=0, admin_password=PASSWORD), store=store, plugins=plugins)
    key = store.create_api_key("test")
    with TestClient(app) as client:
        client.headers["Authorization"] = f"Bearer {key}"
        yield client, acct, request.param


def test_a_part_payment_is_shown_only_where_the_backend_reports_payments(web):
    client, acct, payments = web
    body = client.post("/api/deals/1/invoices", json={"status": "AWAITING_PAYMENT"}).json()
    acct.set_status(body["remote_id"], acct.invoices[acct.by_remote(body["remote_id"])].status, paid="100")  # 100 of 1,440
    client.post("/api/sync")
    shown = client.get(f"/api/invoices/{body['id']}").json()
    browser, _ = login(client)
    page = browser.get("/deals/1").text
    if payments:
        assert shown["status_label"] == "Partly paid" and shown["amount_paid"] == "100.00"
        assert "Partly paid" in page and "£100.00" in page and ">Paid<" in page
    else:  # status only: no amount paid, no "Partly paid" derived from one
        assert shown["status_label"] == "Awaiting payment" and shown["amount_paid"] is None
        assert shown["amount_due"] == "1440.00"
        assert "Partly paid" not in page and "£100.00" not in page and ">Paid<" not in page


@pytest.mark.parametrize("webhooks", [True, False])
def test_a_backend_without_webhooks_has_no_receiver(tmp_path, store, webhooks):
    crm, acct = MemoryCRM(), MemoryAccounting()
    acct.capabilities = attrs.evolve(acct.capabilities, webhooks=webhooks)
    verified = []
    acct.verify_webhook = lambda request: verified.append(request) or []
    plugins = Plugins(make_plugin_manager(load_entry_points=False, extra=[crm, acct]))
    store.add_connection(backend="memacct", role="accounting", label="Demo Ltd", secrets={"token": "t"})
    app = create_app(AppConfig(data_dir=tmp_path, sync_interval=0, admin_password=PASSWORD), store=store, plugins=plugins)
    with TestClient(app) as client:
        answer = client.post("/webhooks/memacct", content=b"[]", headers={"x-sig": "good"})
    if webhooks:
        assert answer.status_code == 200 and len(verified) == 1
    else:  # the plugin is not asked to verify what its backend never sends
        assert answer.status_code == 404 and verified == [] and "No webhook receiver" in answer.json()["message"]
