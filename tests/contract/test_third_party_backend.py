"""A third-party accounting backend (tests/contract/ledgerly.py, under 300 lines, public core API and the connector
kit only) with its own status words and no drafts, talking HTTP to its emulator (tests/contract/ledgerly_sandbox.py,
on the emulator kit only): it keeps the accounting contract and works through the web JSON API."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import anyio
import httpx
import pytest
from fakes import MemoryCRM
from starlette.testclient import TestClient

from invoicebridge.adapters.app import create_app
from invoicebridge.adapters.config import AppConfig
from invoicebridge.core import Deal, DealProduct, Organization
from invoicebridge.core.model import WebhookRequest
from invoicebridge.core.plugins import Plugins, make_plugin_manager
from invoicebridge.core.status import InvoiceStatus
from invoicebridge.core.testing import AccountingBackendContract, AccountingSubject
from invoicebridge.sandbox_kit import SimulatedClock, utcnow

import ledgerly
import ledgerly_sandbox
from ledgerly_sandbox import LedgerlySandbox, config
from ledgerly_world import World, checked, connect_through_the_pages, request

PASSWORD = "correct horse battery"
PUBLIC = {"invoicebridge.core", "invoicebridge.core.connector"}


def imports(module) -> set[str]:
    """The invoicebridge modules a source imports, its private names imported, and private attributes it reads of
    anything but itself (``x._y``, not ``self._y``)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(Path(module.__file__).read_text())):
        if isinstance(node, ast.ImportFrom):
            names.add(node.module or "")
            names.update(f"{node.module}.{a.name}" for a in node.names if a.name.startswith("_"))
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__") \
                and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
            names.add(f"invoicebridge: private attribute {node.attr}")
    return {n for n in names if n.startswith("invoicebridge")}


@pytest.mark.parametrize("module, allowed, most", [(ledgerly, PUBLIC, 300),
                                                    (ledgerly_sandbox, {"invoicebridge.sandbox_kit"}, 300)])
def test_the_backend_and_its_sandbox_are_small_and_use_only_the_public_api_and_the_kits(module, allowed, most):
    assert len(Path(module.__file__).read_text().splitlines()) < most
    used = imports(module)
    assert used <= allowed, used - allowed  # no invoicebridge.plugins / .adapters, no private modules or names


def test_the_import_check_refuses_plugin_adapter_and_private_imports(tmp_path):
    class Source:
        __file__ = str(tmp_path / "other.py")

    Path(Source.__file__).write_text("from invoicebridge.plugins.xero.client import XeroClient\n"
                                     "import invoicebridge.adapters.api\n"
                                     "from invoicebridge.core.connector import _json\n"
                                     "from invoicebridge.core.connector.oauth import TokenKeeper\n"
                                     "from invoicebridge.core.connector import Connector\n"
                                     "Connector._exchange\n")
    assert imports(Source) - PUBLIC == {"invoicebridge.plugins.xero.client", "invoicebridge.adapters.api",
                                        "invoicebridge.core.connector._json", "invoicebridge.core.connector.oauth",
                                        "invoicebridge: private attribute _exchange"}


class TestLedgerlyKeepsTheAccountingContract(AccountingBackendContract):
    @pytest.fixture
    def accounting_subject(self, store):
        world = World(store)

        async def bad_request(key):
            return await request(key, account="other")

        async def touch(remote_id):
            world.sandbox.settle(remote_id)
            return InvoiceStatus.PAID

        def webhook():
            body = json.dumps({"events": [{"id": "e1", "invoice": "lg-1"}]}).encode()
            return (WebhookRequest(body=body, headers={"X-Ledgerly-Signature": world.sandbox.sign(body)}),
                    WebhookRequest(body=body, headers={"X-Ledgerly-Signature": "0" * 64}))

        yield AccountingSubject(factory=ledgerly.LedgerlyBackend, backend=world.backend, request=request,
                                bad_request=bad_request, touch=touch, webhook=webhook, missing_id="lg-404")
        assert world.checked.problems == []  # every request and answer followed Ledgerly's published API


class ThroughTheClient(httpx.AsyncBaseTransport):
    """The sandbox's webhooks, posted to the app under test through its TestClient."""

    def __init__(self, client: TestClient) -> None:
        self.client = client

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        answer = self.client.request(request.method, request.url.path, content=request.content,
                                     headers={k: v for k, v in request.headers.items() if k.lower() != "authorization"})
        return httpx.Response(answer.status_code, content=answer.content, request=request)


@pytest.fixture
def web(tmp_path, store):
    crm = MemoryCRM()
    sandbox = LedgerlySandbox(clock=SimulatedClock(utcnow(), scale=1.0))  # the remote service keeps wall-clock time
    plugins = Plugins(make_plugin_manager(load_entry_points=False, extra=[crm, ledgerly]))  # the installed plugin
    store.add_connection(backend="memcrm", role="crm", label="CRM")
    org = Organization(id="5", name="Acme Ltd")
    for deal_id in ("1", "2", "3"):
        crm.deals[deal_id] = Deal(id=deal_id, title=f"Deal {deal_id}", value=0, currency="GBP", organization=org,
                                  products=[DealProduct(name="Consulting", quantity=3, item_price=100, tax_percent=20)])
    backends = {"ledgerly": config(browser_base=f"http://127.0.0.1:8000{sandbox.mount_path}")}
    transport = checked(sandbox)
    app = create_app(AppConfig(data_dir=tmp_path, port=8000, sync_interval=0, admin_password=PASSWORD, backends=backends),
                     store=store, plugins=plugins, transports={"ledgerly": transport}, sandboxes=[sandbox])
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        connect_through_the_pages(client, PASSWORD)
        sandbox.outbox.transport = ThroughTheClient(client)
        client.headers["Authorization"] = f"Bearer {store.create_api_key('test')}"
        yield client, sandbox
    assert transport.problems == [] and "validated" in {note for *_, note in transport.log}  # all followed the spec

def test_connecting_goes_through_oauth_and_subscribes_the_webhook(web, store):
    client, sandbox = web
    conn = store.active_connection("accounting")
    secrets = store.get_secrets(conn.id)
    assert conn.backend == "ledgerly" and conn.settings["book"] == "book-1" and secrets["refresh_token"]
    assert sandbox.webhook_url == "http://127.0.0.1:8000/webhooks/ledgerly"
    assert [e.operation for e in sandbox.log if e.path == "/oauth/token"] == ["authorization_code"]


def test_create_status_and_sync_through_the_web_api(web):
    client, sandbox = web
    created = client.post("/api/deals/1/invoices", json={})
    assert created.status_code == 201, created.text
    body = created.json()
    # no drafts: the default mapping's draft becomes "awaiting payment", which Ledgerly calls "open"
    assert body["status"] == "AWAITING_PAYMENT" and body["total"] == "360.00" and body["number"] == "LG-001"
    assert sandbox.invoices[body["remote_id"]]["status"] == "open"
    draft = client.post("/api/deals/2/invoices", json={"status": "DRAFT"})
    assert draft.status_code == 422 and "keeps no drafts" in draft.text
    assert client.post(f"/api/invoices/{body['id']}/submit").status_code == 409  # no approval step
    assert client.post(f"/api/invoices/{body['id']}/email").status_code == 409  # the backend does not email

    sandbox.mark_sent(body["remote_id"])  # its own word "sent" is still awaiting payment for us
    sandbox.settle(body["remote_id"])
    synced = client.post("/api/sync")
    assert synced.status_code == 200, synced.text
    assert client.get(f"/api/invoices/{body['id']}").json()["status"] == "PAID"

    second = client.post("/api/deals/3/invoices", json={}).json()
    voided = client.post(f"/api/invoices/{second['id']}/void")
    assert voided.status_code == 200 and voided.json()["status"] == "VOIDED"
    assert sandbox.invoices[second["remote_id"]]["status"] == "cancelled"
    # every write went over HTTP with its idempotency key: one create per invoice, keyed by its operation
    assert all(x["key"] and len(sandbox.created_with(x["key"])) == 1 for x in sandbox.invoices.values())


def test_a_signed_webhook_reaches_the_backend_and_a_forged_one_is_refused(web):
    client, sandbox = web
    invoice = client.post("/api/deals/1/invoices", json={}).json()
    anyio.run(sandbox.deliver_webhooks)  # the creation's own event
    sandbox.settle(invoice["remote_id"])
    body = json.dumps({"events": [{"id": "e-1", "invoice": invoice["remote_id"]}]}).encode()
    forged = client.post("/webhooks/ledgerly", content=body, headers={"X-Ledgerly-Signature": "0" * 64})
    assert forged.status_code == 401
    assert anyio.run(sandbox.deliver_webhooks) == [200]  # the settlement, signed by the sandbox's outbox
    client.post("/api/sync")
    assert client.get(f"/api/invoices/{invoice['id']}").json()["status"] == "PAID"


def test_a_create_whose_answer_was_lost_is_replayed_by_its_key_not_made_twice(web, store):
    client, sandbox = web
    sandbox.transport.drop_next_answer("POST", "/invoices")  # the sandbox commits the invoice, the answer is lost
    created = client.post("/api/deals/1/invoices", json={})
    assert created.status_code == 201, created.text
    assert sandbox.transport.dropped == [("POST", "/v1/books/book-1/invoices")]
    posts = [e for e in sandbox.log if e.method == "POST" and e.path == "/v1/books/book-1/invoices"]
    assert len(posts) == 2  # the kit's retry policy sent it again...
    assert len(sandbox.invoices) == 1  # ...with the same Idempotency-Key, so the sandbox replayed the first answer
    [remote] = sandbox.invoices.values()
    assert created.json()["remote_id"] == remote["id"] and created.json()["number"] == "LG-001"
    assert [r.remote_id for r in store.invoices_for_deal("1")] == [remote["id"]]
    assert store.count_invoices() == 1
