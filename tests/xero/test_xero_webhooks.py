"""Webhooks both ways: the sandbox signs and delivers, our verifier accepts only what the key signed;
intent-to-receive; the console's actions fire webhooks; the sandbox mounts under a prefix."""

from __future__ import annotations

import json

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route

from invoicebridge.core.errors import WebhookRejected
from invoicebridge.core.model import WebhookRequest
from invoicebridge.core.runtime import Runtime
from invoicebridge.core.sandboxes import Sandbox
from invoicebridge.plugins.xero import hooks
from invoicebridge.plugins.xero.backend import XeroBackend
from invoicebridge.plugins.xero.sandbox import create_sandbox
from invoicebridge.plugins.xero.webhooks import sign

from test_xero_invoices import create, make_draft

pytestmark = pytest.mark.anyio


def receiver(runtime, connection, seen: list):
    """What the adapters' /webhooks/xero route does with our hook: 401 when rejected, 200 with no body."""

    async def endpoint(request: Request) -> Response:
        incoming = WebhookRequest(body=await request.body(), headers=dict(request.headers))
        try:
            seen.extend(XeroBackend.open(connection, runtime).verify_webhook(request=incoming))
        except WebhookRejected:
            return Response(status_code=401)
        return Response(status_code=200)

    return Starlette(routes=[Route("/webhooks/xero", endpoint, methods=["POST"])])


def signed(payload: dict, key: str = "test-webhook-key") -> WebhookRequest:
    body = json.dumps(payload).encode()
    return WebhookRequest(body=body, headers={"X-Xero-Signature": sign(body, key)})


def event(tenant: str, resource: str, category: str = "INVOICE") -> dict:
    return {"resourceUrl": f"https://api.xero.com/api.xro/2.0/Invoices/{resource}", "resourceId": resource,
            "eventDateUtc": "2026-11-20T09:30:00.000", "eventType": "UPDATE", "eventCategory": category,
            "tenantId": tenant, "tenantType": "ORGANISATION"}


def test_verify_accepts_signed_invoice_events_only(runtime, connection, sandbox):
    payload = {"events": [event(sandbox.tenant_id, "inv-1"), event(sandbox.tenant_id, "c-1", "CONTACT"),
                          event("other-tenant", "inv-2")], "firstEventSequence": 1, "lastEventSequence": 3,
               "entropy": "abc"}
    [only] = XeroBackend.open(connection, runtime).verify_webhook(request=signed(payload))
    assert (only.kind, only.object_id, only.organisation_id) == ("invoice_changed", "inv-1", sandbox.tenant_id)
    assert only.event_id == f"{sandbox.tenant_id}:inv-1:2026-11-20T09:30:00.000:UPDATE"


def test_intent_to_receive_with_good_signature_is_empty(runtime, connection):
    itr = {"events": [], "firstEventSequence": 0, "lastEventSequence": 0, "entropy": "x"}
    assert XeroBackend.open(connection, runtime).verify_webhook(request=signed(itr)) == []


@pytest.mark.parametrize("tamper", ["wrong key", "truncated body", "no header", "signature of other body"])
def test_forged_and_truncated_webhooks_are_rejected(runtime, connection, sandbox, tamper):
    good = signed({"events": [event(sandbox.tenant_id, "inv-1")], "firstEventSequence": 1,
                   "lastEventSequence": 1, "entropy": "e"})
    if tamper == "wrong key":
        request = signed(json.loads(good.body), key="not-the-key")
    elif tamper == "truncated body":
        request = WebhookRequest(body=good.body[:-7], headers=good.headers)
    elif tamper == "no header":
        request = WebhookRequest(body=good.body, headers={})
    else:
        request = WebhookRequest(body=good.body, headers={"x-xero-signature": sign(b"{}", "test-webhook-key")})
    with pytest.raises(WebhookRejected):
        XeroBackend.open(connection, runtime).verify_webhook(request=request)


def test_signed_but_unreadable_body_is_refused_as_malformed(runtime, connection):
    """Signed, so not a forgery (401): a body Xero would never send is a 400, as for any other bad input."""
    from invoicebridge.core.payloads import MalformedPayload

    body = b'{"events": [ {"resourceId"'
    with pytest.raises(MalformedPayload, match="not valid JSON"):
        XeroBackend.open(connection, runtime).verify_webhook(request=WebhookRequest(body=body, headers={"x-xero-signature": sign(body, "test-webhook-key")}))


async def test_sandbox_intent_to_receive_against_our_verifier(runtime, connection, sandbox):
    sandbox.webhook_url = "http://app.test/webhooks/xero"
    sandbox.webhook_transport = httpx.ASGITransport(app=receiver(runtime, connection, []))
    assert await sandbox.intent_to_receive() is True


async def test_sandbox_delivers_signed_events_and_keeps_them_on_failure(runtime, connection, sandbox):
    [result] = await create(runtime, connection, make_draft("1"))
    seen: list = []
    sandbox.webhook_url = "http://app.test/webhooks/xero"
    sandbox.webhook_transport = httpx.ASGITransport(app=receiver(runtime, connection, seen))
    sandbox.webhook_key = "rotated-elsewhere"  # a wrong key: our receiver answers 401, the events stay queued
    assert await sandbox.deliver_webhooks() == [401]
    assert sandbox.pending_events()
    sandbox.webhook_key = "test-webhook-key"
    assert await sandbox.deliver_webhooks() == [200]
    assert sandbox.pending_events() == []
    assert [e.object_id for e in seen] == [result.invoice.remote_id]  # the CONTACT event is not ours
    body = json.loads(sandbox.deliveries[-1]["body"])
    assert body["firstEventSequence"] == 3 and {e["eventCategory"] for e in body["events"]} == {"INVOICE", "CONTACT"}


async def test_console_actions_change_state_and_fire_webhooks(runtime, connection, sandbox):
    approved, = await create(runtime, connection, make_draft("1", status="AWAITING_PAYMENT"))
    rid = approved.invoice.remote_id
    seen: list = []
    sandbox.webhook_url = "http://app.test/webhooks/xero"
    sandbox.webhook_transport = httpx.ASGITransport(app=receiver(runtime, connection, seen))
    outer = Starlette(routes=[Mount("/sandbox/xero", app=sandbox)])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=outer), base_url="http://demo.test") as browser:
        page = await browser.get("/sandbox/xero/")
        assert page.status_code == 200 and "INV-0001" in page.text and "Demo Company (UK)" in page.text
        paid = await browser.post(f"/sandbox/xero/console/invoices/{rid}/pay", data={"amount": "50"})
        assert paid.status_code == 303 and paid.headers["location"] == "http://demo.test/sandbox/xero/"
        assert sandbox.state.invoices[rid].amount_paid == 50 and sandbox.state.invoices[rid].status == "AUTHORISED"
        refused = await browser.post(f"/sandbox/xero/console/invoices/{rid}/void")
        assert refused.status_code == 400 and "payments or credit notes allocated" in refused.text
        await browser.post(f"/sandbox/xero/console/invoices/{rid}/pay")
        assert sandbox.state.invoices[rid].status == "PAID"
        await browser.post(f"/sandbox/xero/console/invoices/{rid}/remove-payment")
        assert sandbox.state.invoices[rid].status == "AUTHORISED"
        # the API is reachable under the prefix too
        hello = await browser.get("/sandbox/xero/connections")
        assert hello.status_code == 401
    assert [e.object_id for e in seen].count(rid) >= 3 and sandbox.pending_events() == []


async def test_console_escapes_names(runtime, connection, sandbox):
    from invoicebridge.core.model import Customer

    await create(runtime, connection, make_draft("1", customer=Customer(name="<script>alert(1)</script> Ltd")))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sandbox), base_url="http://xero.test") as browser:
        page = await browser.get("/")
    assert "<script>alert" not in page.text and "&lt;script&gt;" in page.text


async def test_sandboxes_hook_mounts_one_instance(store):
    runtime = Runtime(store=store, public_url="http://demo.test", config={"xero": {"webhook_key": "k"}})
    [app] = hooks.invoicebridge_sandboxes(runtime=runtime)
    assert isinstance(app, Sandbox) and (app.name, app.mount_path) == ("xero", "/sandbox/xero")
    offer = app.demo_offer(public_url="http://demo.test", transport=httpx.MockTransport(lambda r: httpx.Response(200)),
                           secrets={"xero_webhook_key": "k"})
    assert app.webhook_url == "http://demo.test/webhooks/xero" and app.webhook_key == offer.config["webhook_key"] == "k"
    assert offer.config["token_url"] == "http://demo.test/sandbox/xero/identity/connect/token"
    assert hooks.invoicebridge_sandboxes(runtime=runtime)[0] is app
    assert len(app.state.items) == 8  # seeded with the demo organisation


async def test_each_demo_gets_its_own_random_webhook_key_and_keeps_it():
    """The demo's webhook key was the constant "sandbox-webhook-key": it is random per sandbox now and goes into the
    demo's keys (stored encrypted with the other app secrets); a key already there is the one used."""
    transport = httpx.MockTransport(lambda r: httpx.Response(200))
    first, second = {}, {}
    key_one = create_sandbox(seed=None).demo_offer(public_url="http://demo.test", transport=transport,
                                                   secrets=first).config["webhook_key"]
    key_two = create_sandbox(seed=None).demo_offer(public_url="http://demo.test", transport=transport,
                                                   secrets=second).config["webhook_key"]
    assert key_one != key_two and len(key_one) >= 32 and first == {"xero_webhook_key": key_one}
    again = create_sandbox(seed=None)
    assert again.demo_offer(public_url="http://demo.test", transport=transport,
                            secrets=first).config["webhook_key"] == key_one == again.webhook_key
