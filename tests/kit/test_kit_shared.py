"""What the sandboxes share through the emulator kit instead of copying it: the test knobs over ``Faults`` and
``RequestLog`` (``SandboxKnobs``) and the consoles' "Recent webhook deliveries" block (``sandbox_deliveries.html``)."""

from __future__ import annotations

import asyncio
import datetime as dt

import httpx
import pytest
from starlette.testclient import TestClient

from invoicebridge.plugins.pipedrive.sandbox import create_sandbox as pipedrive_sandbox
from invoicebridge.plugins.quickbooks.sandbox import QboSandbox
from invoicebridge.plugins.xero.sandbox import XeroSandbox
from invoicebridge.sandbox_kit import Delivery, Faults, RequestLog, SandboxKnobs
from invoicebridge.sandbox_kit.console import console_environment
from invoicebridge.sandbox_kit.console_deliveries import DeliveryRow, delivery_rows

T0 = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.timezone.utc)


def answer(status: int) -> httpx.MockTransport:
    return httpx.MockTransport(lambda request: httpx.Response(status))


def test_the_knobs_work_over_the_kits_faults_and_log():
    class Tiny(SandboxKnobs):
        def __init__(self) -> None:
            self.faults, self.log = Faults(), RequestLog(clock=lambda: T0)

    tiny = Tiny()
    tiny.fail_next = (500, 503)
    tiny.log.add("GET", "/a", "op")
    assert tiny.faults.take() == 500 and tiny.fail_next == [503] and tiny.requests == [("GET", "/a")]


@pytest.mark.parametrize("sandbox_class", [XeroSandbox, QboSandbox])
def test_both_accounting_sandboxes_take_their_knobs_from_the_kit(sandbox_class):
    """``fail_next`` and ``requests`` were copied into the Xero frame and the QBO sandbox; both now come from the
    kit's ``SandboxKnobs`` and none is defined again on the sandbox's own classes."""
    assert issubclass(sandbox_class, SandboxKnobs)
    own = [cls for cls in sandbox_class.__mro__ if cls is not SandboxKnobs and cls is not object]
    assert not [(cls.__name__, name) for cls in own for name in ("fail_next", "requests") if name in vars(cls)]
    sandbox = sandbox_class(seed=None)
    sandbox.fail_next = [500]
    assert sandbox.faults.statuses == [500]
    with TestClient(sandbox) as client:
        client.get("/api.xro/2.0/Invoices" if sandbox_class is XeroSandbox else "/v3/company/1/companyinfo/1")
    assert len(sandbox.requests) == 1 and sandbox.requests[0][0] == "GET"


def test_the_pipedrive_sandbox_logs_each_request_once_in_the_kits_log():
    """Every API request was written twice: to the state's own list (for tests) and to a separate RequestLog
    (for the console). The state keeps the kit's log, the console shows it, and ``requests`` reads it."""
    app = pipedrive_sandbox(seed=True)
    state = app.state.sandbox
    assert isinstance(state.log, RequestLog) and app.state.log is state.log
    with TestClient(app) as client:
        client.get("/api/v2/deals/1", headers={"x-api-token": "sandbox-token"})
    assert state.requests == [("GET", "/api/v2/deals/1", "getDeal")] and len(state.log) == 1


def test_delivery_rows_come_from_the_kits_outbox_items():
    done = Delivery("http://hook", b"[1, 2]", results=[(1, 500), (2, 200)], done=True)
    waiting = Delivery("http://hook", b"[3]")
    rows = delivery_rows([done, waiting], lambda item: f"{len(item.payload)} events")
    assert rows == [DeliveryRow([(1, 500), (2, 200)], True, "2 events"), DeliveryRow([], False, "1 events")]
    html = console_environment("invoicebridge.sandbox_kit").get_template("sandbox_deliveries.html").render(
        deliveries=rows + [DeliveryRow([(1, "ConnectError")], False)])
    assert "2 events attempt 1 → HTTP 500; attempt 2 → HTTP 200;" in html
    assert "1 events (pending)" in html and "attempt 1 → ConnectError; (pending)" in html


def _deliveries_block(html: str) -> str:
    start = html.index("Recent webhook deliveries")
    return html[start:html.index("</ul>", start) if "</ul>" in html[start:] else start + 200]


def test_every_console_shows_webhook_deliveries_with_the_kits_block():
    """The Xero and QBO consoles had their own copies of the block (bare "HTTP 200" lines, nothing until the first
    delivery); Pipedrive's said "Recent deliveries". All three include the kit's block now."""
    xero = XeroSandbox(webhook_url="http://hook/xero", webhook_transport=answer(200))
    qbo = QboSandbox(webhook_url="http://hook/qbo", webhook_transport=answer(401))
    pipedrive = pipedrive_sandbox(seed=True)
    consoles = {"xero": (xero, "/"), "quickbooks": (qbo, "/"), "pipedrive": (pipedrive, "/")}
    for name, (app, path) in consoles.items():
        with TestClient(app) as client:
            page = client.get(path)
        assert page.status_code == 200 and "No webhook deliveries yet." in page.text, name

    xero.state.queue_event("INVOICE", "inv-1", "UPDATE")
    xero.state.queue_event("INVOICE", "inv-2", "UPDATE")
    assert asyncio.run(xero.deliver_webhooks()) == [200]
    qbo.api.write("Customer", {"DisplayName": "Kit Console Ltd"})
    assert asyncio.run(qbo.deliver_webhooks()) == [401]
    state = pipedrive.state.sandbox
    state.outbox.append(Delivery("http://hook/pd", b'{"meta": {"entity_id": 7}}', results=[(1, 200)], done=True,
                                 meta={"webhook_id": 3}))
    expected = {"xero": "2 events: attempt 1 → HTTP 200;", "quickbooks": "1 event: attempt 1 → HTTP 401; (pending)",
                "pipedrive": "webhook #3, deal 7: attempt 1 → HTTP 200;"}
    for name, (app, path) in consoles.items():
        with TestClient(app) as client:
            block = _deliveries_block(client.get(path).text)
        assert '<ul class="deliveries">' in block and expected[name] in block, (name, block)


def test_the_request_list_is_a_live_view_a_test_can_keep():
    """A test keeps ``requests`` and reads what came in since (``log[before:]``), as with the list it replaced."""
    app = pipedrive_sandbox(seed=True)
    kept = app.state.sandbox.requests
    with TestClient(app) as client:
        client.get("/api/v2/deals/1", headers={"x-api-token": "sandbox-token"})
        before = len(kept)
        client.get("/api/v2/deals/2", headers={"x-api-token": "sandbox-token"})
    assert kept[before:] == [("GET", "/api/v2/deals/2", "getDeal")] and kept[-1][1] == "/api/v2/deals/2"
