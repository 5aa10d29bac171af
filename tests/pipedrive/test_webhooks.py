"""Webhooks: registration with Basic credentials, verification in constant time, replay de-duplication,
deal_won detection, malformed bodies, and the sandbox's delivery with retries."""

from __future__ import annotations

import base64
import json

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from invoicebridge.core.errors import InvoiceBridgeError, WebhookRejected
from invoicebridge.core.model import WebhookRequest
from invoicebridge.plugins.pipedrive import register_webhooks
from invoicebridge.plugins.pipedrive.backend import PipedriveSource
from invoicebridge.plugins.pipedrive.errors import MalformedWebhook

pytestmark = pytest.mark.anyio
HOOK_URL = "https://ib.example/webhooks/pipedrive"


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def receiver(runtime, connection, seen: list, *, fail_first: int = 0):
    """What the web app will do: verify through the hook, answer 2xx. Optionally fail the first N deliveries."""
    calls = {"n": 0}

    async def endpoint(request: Request) -> JSONResponse:
        calls["n"] += 1
        if calls["n"] <= fail_first:
            return JSONResponse({"error": "busy"}, status_code=503)
        wr = WebhookRequest(body=await request.body(), headers=dict(request.headers))
        try:
            events = await PipedriveSource.open(connection, runtime).verify_webhook(request=wr)
        except InvoiceBridgeError as exc:
            return JSONResponse({"error": exc.message}, status_code=exc.status_code)
        seen.extend(events)
        return JSONResponse({"ok": True})

    return Starlette(routes=[Route("/webhooks/pipedrive", endpoint, methods=["POST"])])


async def test_register_then_win_delivers_one_deal_won_event(runtime, connection, sandbox):
    hook = await register_webhooks(runtime, connection, HOOK_URL)
    assert (hook["event_action"], hook["event_object"], hook["version"]) == ("change", "deal", "2.0")
    assert (hook["http_auth_user"], hook["http_auth_password"]) == ("hook-user", "hook-pass-1234")
    again = await register_webhooks(runtime, connection, HOOK_URL)
    assert again["id"] == hook["id"] and len(sandbox.webhooks) == 1  # idempotent

    seen: list = []
    sandbox.delivery_transport = httpx.ASGITransport(app=receiver(runtime, connection, seen))
    sandbox.win_deal(4)
    delivered = await sandbox.deliver_webhooks()
    assert [r for d in delivered for r in d.results] == [(1, 200)]
    assert [(e.kind, e.object_id, e.previous, e.current) for e in seen] == [("deal_won", "4", "open", "won")]


async def test_failed_delivery_is_retried_and_the_replay_is_deduplicated(runtime, connection, sandbox, clock):
    await register_webhooks(runtime, connection, HOOK_URL)
    seen: list = []
    sandbox.delivery_transport = httpx.ASGITransport(app=receiver(runtime, connection, seen, fail_first=1))
    sandbox.update_deal(3, {"title": "Globex – hardware rollout (phase 2)"})
    first = await sandbox.deliver_webhooks()
    assert first[0].results == [(1, 503)] and not first[0].done
    assert await sandbox.deliver_webhooks() == []  # the retry is due 3 s later
    clock.advance(3)
    second = await sandbox.deliver_webhooks()
    assert second[0].results == [(1, 503), (2, 200)] and second[0].payload["meta"]["attempt"] == 2
    assert [(e.kind, e.object_id) for e in seen] == [("deal_changed", "3")]

    payload = json.dumps(second[0].payload).encode()
    replay = WebhookRequest(body=payload, headers={"Authorization": basic("hook-user", "hook-pass-1234")})
    assert await PipedriveSource.open(connection, runtime).verify_webhook(request=replay) == []


async def test_wrong_or_missing_credentials_are_rejected(runtime, connection):
    body = json.dumps({"meta": {"id": "e1", "entity": "deal", "entity_id": "1"}, "data": {"status": "won"},
                       "previous": {"status": "open"}}).encode()
    for headers in ({"Authorization": basic("hook-user", "wrong")}, {"Authorization": basic("x", "hook-pass-1234")},
                    {"Authorization": "Basic !!!"}, {}):
        with pytest.raises(WebhookRejected):
            await PipedriveSource.open(connection, runtime).verify_webhook(request=WebhookRequest(body=body, headers=headers))
    ok = await PipedriveSource.open(connection, runtime).verify_webhook(request=WebhookRequest(
        body=body, headers={"Authorization": basic("hook-user", "hook-pass-1234")}))
    assert [e.kind for e in ok] == ["deal_won"]


async def test_malformed_json_is_a_400_error(runtime, connection):
    headers = {"Authorization": basic("hook-user", "hook-pass-1234")}
    for body in (b"{not json", b"[1, 2]", b'{"data": {}}'):
        with pytest.raises(MalformedWebhook) as info:
            await PipedriveSource.open(connection, runtime).verify_webhook(request=WebhookRequest(body=body, headers=headers))
        assert info.value.status_code == 400 and isinstance(info.value, InvoiceBridgeError)


async def test_status_unchanged_or_already_won_is_deal_changed(runtime, connection):
    headers = {"Authorization": basic("hook-user", "hook-pass-1234")}

    async def verify(payload):
        return await PipedriveSource.open(connection, runtime).verify_webhook(request=WebhookRequest(
            body=json.dumps(payload).encode(), headers=headers))

    title_only = await verify({"meta": {"id": "a", "entity": "deal", "entity_id": "9"}, "data": {"status": "won"},
                         "previous": {"title": "old"}})
    assert [(e.kind, e.previous) for e in title_only] == [("deal_changed", "won")]
    person = await verify({"meta": {"id": "b", "entity": "person", "entity_id": "3"}, "data": {}, "previous": {}})
    assert person == []
    v1 = await verify({"v": 1, "event": "updated.deal", "retry": 0,
                 "meta": {"v": 1, "object": "deal", "id": 5, "webhook_id": 2, "timestamp_micro": 1},
                 "current": {"id": 5, "status": "won"}, "previous": {"id": 5, "status": "lost"}})
    assert [(e.kind, e.object_id) for e in v1] == [("deal_won", "5")]


async def test_console_win_button_delivers_automatically(runtime, connection, sandbox_app, sandbox):
    await register_webhooks(runtime, connection, HOOK_URL)
    seen: list = []
    sandbox.delivery_transport = httpx.ASGITransport(app=receiver(runtime, connection, seen))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sandbox_app), base_url="http://demo") as c:
        page = await c.get("/")
        assert "Win this deal" in page.text and "Jürgen" not in page.text
        answer = await c.post("/console/deals/4/win")
    assert answer.status_code == 303
    assert sandbox.deals[4]["status"] == "won" and sandbox.deals[4]["won_time"]
    assert [(e.kind, e.object_id) for e in seen] == [("deal_won", "4")]


async def test_console_escapes_names(sandbox_app, sandbox):
    sandbox.add_deal("<script>alert(1)</script>", "GBP")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sandbox_app), base_url="http://demo") as c:
        page = await c.get("/")
    assert "<script>alert(1)" not in page.text and "&lt;script&gt;" in page.text
