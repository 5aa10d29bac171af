"""The deal panel inside Pipedrive (JWT-verified JSON) and the OAuth uninstall callback."""

from __future__ import annotations

import base64
import datetime as dt
from decimal import Decimal

import httpx
import jwt
import pytest
from starlette.applications import Starlette

from invoicebridge.plugins.pipedrive import hooks

pytestmark = pytest.mark.anyio
PANEL_KEYS = {"id", "header", "status", "total", "amount_due", "due_date", "link"}


def app_for(runtime):
    return Starlette(routes=hooks.invoicebridge_web_routes(runtime=runtime))


def token(clock, *, secret="panel-jwt-secret-for-tests-0123456789abcdef", ttl=300):
    return jwt.encode({"userId": 101, "companyId": 7001, "exp": int(clock.now().timestamp()) + ttl}, secret,
                      algorithm="HS256")


async def get(runtime, params):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app_for(runtime)), base_url="https://ib.example") as c:
        return await c.get("/pipedrive/panel", params=params)


async def test_panel_lists_the_deals_invoices_with_status_labels(runtime, store, clock):
    store.add_connection(backend="pipedrive", role="crm", settings={"company_id": 7001})  # the token's company
    store.insert_invoice(deal_id="1", backend="xero", remote_id="r1", number="INV-0042", status="AWAITING_PAYMENT",
                         currency="GBP", total=Decimal("1200.00"), amount_paid=Decimal("200.00"),
                         amount_due=Decimal("1000.00"), due_date=dt.date(2026, 12, 1), operation_key="op1")
    store.insert_invoice(deal_id="1", backend="xero", remote_id="r2", number="", status="DRAFT", currency="GBP",
                         total=Decimal("50"), amount_due=Decimal("50"), operation_key="op2")
    store.insert_invoice(deal_id="2", backend="xero", remote_id="r3", number="INV-9", status="PAID", currency="EUR",
                         operation_key="op3")
    answer = await get(runtime, {"resource": "deal", "view": "details", "selectedIds": "1", "userId": "101",
                                 "companyId": "7001", "token": token(clock)})
    assert answer.status_code == 200
    body = answer.json()
    assert set(body) == {"data", "external_link"}
    assert body["external_link"] == {"url": "https://ib.example/deals/1", "label": "Create invoice"}
    draft, partly = body["data"]
    assert partly["header"] == "INV-0042" and partly["status"] == {"color": "blue", "label": "Partly paid"}
    assert partly["total"] == {"code": "GBP", "value": 1200.0} and partly["amount_due"]["value"] == 1000.0
    assert partly["due_date"] == "2026-12-01"
    assert draft["status"] == {"color": "grey", "label": "Draft"} and draft["header"] == "Draft invoice"
    assert all(set(obj) <= PANEL_KEYS for obj in body["data"])


async def test_forged_or_expired_jwt_gets_401(runtime, clock):
    params = {"selectedIds": "1"}
    for bad in (token(clock, secret="guessed-secret-guessed-secret-guessed-secret"), token(clock, ttl=-1), "not-a-jwt", ""):
        answer = await get(runtime, {**params, "token": bad})
        assert answer.status_code == 401
        assert answer.json()["error"]["title"] == "Not authorised"
    no_exp = jwt.encode({"userId": 1}, "panel-jwt-secret-for-tests-0123456789abcdef", algorithm="HS256")
    assert (await get(runtime, {**params, "token": no_exp})).status_code == 401


async def test_uninstall_callback_forgets_the_tokens(runtime, store):
    conn = store.add_connection(backend="pipedrive", role="crm", settings={"company_id": 7001},
                                secrets={"access_token": "a", "refresh_token": "r"})
    body = {"client_id": "sandbox-client", "company_id": 7001, "user_id": 101, "timestamp": "2026-11-20T10:00:00Z"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app_for(runtime)), base_url="https://ib.example") as c:
        forged = await c.request("DELETE", "/pipedrive/uninstall", json=body,
                                 headers={"Authorization": "Basic " + base64.b64encode(b"sandbox-client:x").decode()})
        assert forged.status_code == 401 and store.get_secrets(conn.id)["refresh_token"] == "r"
        ok = await c.request("DELETE", "/pipedrive/uninstall", json=body, headers={
            "Authorization": "Basic " + base64.b64encode(b"sandbox-client:sandbox-secret").decode()})
    assert ok.status_code == 200
    assert store.get_secrets(conn.id) == {}
    assert store.active_connection("crm") is None
