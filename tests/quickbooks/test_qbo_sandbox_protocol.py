"""The QBO sandbox's protocol features, checked against the XSDs: the query language, batch (≤ 30 items, per-item
faults, no visibility between items), requestid replay, change data capture, throttling (429 with the XML 3001
fault), OAuth (rotation, 24-hour grace, invalid_grant, revoke) and signed CloudEvents webhooks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import httpx
import pytest
from qbo_support import CLIENT_ID, CLIENT_SECRET, VERIFIER
from test_qbo_sandbox_invoices import customer, ids, make_invoice, sales_line

pytestmark = pytest.mark.anyio


async def query(raw, text):
    return (await raw.ok("GET", "query", params={"query": text}))["QueryResponse"]


async def test_query_language(raw):
    for name in ("King's Arms", "Kingfisher", "Queen Bee"):
        await customer(raw, name)
    assert [c["DisplayName"] for c in (await query(raw, r"select * from Customer where DisplayName = 'King\'s Arms'"))["Customer"]] == ["King's Arms"]
    like = await query(raw, "SELECT * FROM Customer WHERE DisplayName LIKE 'King%' ORDERBY DisplayName DESC")
    assert [c["DisplayName"] for c in like["Customer"]] == ["Kingfisher", "King's Arms"]
    assert await query(raw, "select count(*) from Customer") == {"totalCount": 3}
    page = await query(raw, "select * from Customer orderby DisplayName startposition 2 maxresults 1")
    assert page["startPosition"] == 2 and page["maxResults"] == 1 and page["Customer"][0]["DisplayName"] == "Kingfisher"
    some = await query(raw, "select * from Item where Sku in ('BOOK', 'TRAIN') and UnitPrice > 100")
    assert [i["Sku"] for i in some["Item"]] == ["TRAIN"]
    posted = await raw.ok("POST", "query", content=b"select * from Term where DueDays >= 15",
                          headers={"Content-Type": "application/text"})
    assert [t["DueDays"] for t in posted["QueryResponse"]["Term"]] == [15, 30]


@pytest.mark.parametrize("text", ["select * from Customer where DisplayName = 'a' or Active = true",
                                  "select Id from Customer", "select * from Nothing", "delete from Customer"])
async def test_query_errors_are_faults(raw, text):
    err = await raw.fault("GET", "query", params={"query": text})
    assert err["code"] == "4000"


async def test_query_by_last_updated_time(raw, clock):
    inv = await make_invoice(raw)
    clock.advance(1800)
    later = await make_invoice(raw, customer_name="Later")
    found = await query(raw, "select * from Invoice where MetaData.LastUpdatedTime > '2026-11-20T01:45:00-08:00'")
    assert [i["Id"] for i in found["Invoice"]] == [later["Id"]] and inv["Id"] != later["Id"]


async def test_batch_items_faults_and_visibility(raw):
    cust = await customer(raw)
    items, codes = await ids(raw)
    good = {"CustomerRef": {"value": cust["Id"]}, "Line": [sales_line(items["BOOK"], 1, 35, codes["0.0% Z"])]}
    body = {"BatchItemRequest": [
        {"bId": "1", "operation": "create", "Invoice": good},
        {"bId": "2", "operation": "create", "Invoice": {"Line": good["Line"]}},
        {"bId": "3", "Query": "select * from Invoice"},
    ]}
    answer = (await raw.ok("POST", "batch", body))["BatchItemResponse"]
    assert [a["bId"] for a in answer] == ["1", "2", "3"]
    assert answer[0]["Invoice"]["TotalAmt"] == 35 and answer[1]["Fault"]["Error"][0]["code"] == "2020"
    assert answer[2]["QueryResponse"] == {}  # the batch's own create is not visible to its query


async def test_batch_over_30_items_is_refused(raw):
    body = {"BatchItemRequest": [{"bId": str(n), "Query": "select * from Term"} for n in range(31)]}
    err = await raw.fault("POST", "batch", body)
    assert err["code"] == "6000" and "30" in err["Detail"]


async def test_requestid_replays_the_first_answer(raw):
    cust = await customer(raw)
    items, codes = await ids(raw)
    body = {"CustomerRef": {"value": cust["Id"]}, "Line": [sales_line(items["BOOK"], 1, 35, codes["0.0% Z"])]}
    first = await raw.ok("POST", "invoice", body, params={"requestid": "a1b2c3"})
    again = await raw.ok("POST", "invoice", body, params={"requestid": "a1b2c3"})
    count = await query(raw, "select count(*) from Invoice")
    assert first == again and count == {"totalCount": 1}
    err = await raw.fault("POST", "invoice", body, params={"requestid": "x" * 51})
    assert err["code"] == "6000" and "51 characters" in err["Detail"]
    batch = {"BatchItemRequest": [{"bId": "1", "operation": "create", "Invoice": body}]}
    one = await raw.ok("POST", "batch", batch, params={"requestid": "b" * 36})
    two = await raw.ok("POST", "batch", batch, params={"requestid": "b" * 36})
    assert one == two and (await query(raw, "select count(*) from Invoice")) == {"totalCount": 2}
    assert (await raw.fault("POST", "batch", batch, params={"requestid": "b" * 37}))["code"] == "6000"


async def test_cdc_returns_changes_and_deletions(raw, clock):
    old = await make_invoice(raw)
    clock.advance(600)
    await raw.ok("POST", "invoice", {"Id": old["Id"], "SyncToken": "0"}, params={"operation": "delete"})
    new = await make_invoice(raw, customer_name="New")
    answer = await raw.ok("GET", "cdc", params={"entities": "Invoice,Payment",
                                               "changedSince": "2026-11-20T01:35:00-08:00"})
    [invoices, payments] = answer["CDCResponse"][0]["QueryResponse"]
    assert {i["Id"]: i.get("status") for i in invoices["Invoice"]} == {old["Id"]: "Deleted", new["Id"]: None}
    assert payments == {}
    err = await raw.fault("GET", "cdc", params={"entities": "Invoice", "changedSince": "2026-10-01T00:00:00-07:00"})
    assert "30 days" in err["Detail"]


async def test_throttles(raw, sandbox, clock):
    sandbox.limits.force(1)
    response = await raw.call("GET", "preferences")
    assert response.status_code == 429 and "application/xml" in response.headers["content-type"]
    assert 'code="3001"' in response.text and 'type="SERVICE"' in response.text
    sandbox.limits.per_minute = 3
    clock.advance(60)
    statuses = [(await raw.call("GET", "preferences")).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    sandbox.limits.per_minute = 500
    clock.advance(60)
    batch = {"BatchItemRequest": [{"bId": "1", "Query": "select * from Term"}]}
    codes = []
    for _ in range(41):
        clock.advance(0.5)
        codes.append((await raw.call("POST", "batch", batch)).status_code)
    assert codes.count(429) >= 1 and codes[:39] == [200] * 39  # 40 batch calls a minute
    assert ("batch" in [p for _, p in sandbox.limits.rejected])


async def test_oauth_rotation_grace_and_invalid_grant(sandbox, transport, clock):
    tokens = sandbox.issue_tokens()
    auth = (CLIENT_ID, CLIENT_SECRET)
    async with httpx.AsyncClient(transport=transport, base_url="http://qbo.test") as http:
        first = (await http.post("/oauth2/v1/tokens/bearer", auth=auth,
                                 data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})).json()
        assert first["refresh_token"] != tokens["refresh_token"] and first["expires_in"] == 3600
        assert first["x_refresh_token_expires_in"] == 8640000
        clock.advance(3600)  # the previous refresh token still works for 24 hours
        assert (await http.post("/oauth2/v1/tokens/bearer", auth=auth, data={
            "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})).status_code == 200
        clock.advance(25 * 3600)
        stale = await http.post("/oauth2/v1/tokens/bearer", auth=auth,
                                data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
        assert stale.status_code == 400 and stale.json()["error"] == "invalid_grant"
        revoked = await http.post("/oauth2/v1/tokens/revoke", auth=auth, json={"token": first["refresh_token"]})
        after = await http.post("/oauth2/v1/tokens/bearer", auth=auth,
                                data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]})
        assert revoked.status_code == 200 and after.json()["error"] == "invalid_grant"


async def test_authorize_redirects_with_code_state_and_realm(sandbox, transport):
    async with httpx.AsyncClient(transport=transport, base_url="http://qbo.test") as http:
        response = await http.get("/connect/oauth2", params={
            "client_id": CLIENT_ID, "response_type": "code", "scope": "com.intuit.quickbooks.accounting openid",
            "redirect_uri": "http://app.test/cb", "state": "s1"})
    location = response.headers["location"]
    assert response.status_code == 302 and "state=s1" in location and f"realmId={sandbox.realm_id}" in location


async def test_webhooks_are_signed_cloudevents(raw, sandbox):
    received: list[httpx.Request] = []

    def app(request: httpx.Request) -> httpx.Response:
        received.append(request)
        return httpx.Response(200)

    sandbox.outbox.url = "http://app.test/webhooks/quickbooks"
    sandbox.outbox.transport = httpx.MockTransport(app)
    inv = await make_invoice(raw)
    sandbox.api.sales.pay_in_full(inv["Id"])
    assert await sandbox.deliver_webhooks() == [200]
    [request] = received
    expected = base64.b64encode(hmac.new(VERIFIER.encode(), request.content, hashlib.sha256).digest()).decode()
    events = json.loads(request.content)
    assert request.headers["intuit-signature"] == expected
    assert [e["type"] for e in events] == ["qbo.customer.created.v1", "qbo.invoice.created.v1",
                                           "qbo.payment.created.v1", "qbo.invoice.updated.v1"]
    assert all(e["specversion"] == "1.0" and e["intuitaccountid"] == sandbox.realm_id and e["data"] == {}
               for e in events)
    assert await sandbox.deliver_webhooks() == []  # nothing left


async def test_failed_delivery_keeps_events_queued_in_order(raw, sandbox):
    answers = [500, 200, 200]
    sent: list[list[str]] = []

    def app(request: httpx.Request) -> httpx.Response:
        sent.append([e["intuitentityid"] for e in json.loads(request.content)])
        return httpx.Response(answers.pop(0))

    sandbox.outbox.url = "http://app.test/webhooks/quickbooks"
    sandbox.outbox.transport = httpx.MockTransport(app)
    first = await customer(raw)
    assert await sandbox.deliver_webhooks() == [500]
    second = await customer(raw, "Second")
    assert await sandbox.deliver_webhooks() == [200, 200]  # the first notification again, then the newer one
    assert sent == [[first["Id"]], [first["Id"]], [second["Id"]]]


async def test_the_console_lists_the_webhook_deliveries_after_one(raw, sandbox):
    """The console's delivery list called the kit's payload property (a list of CloudEvents) as a method:
    after the first webhook the console answered 500 (found in the browser flow test)."""
    sandbox.outbox.url = "http://app.test/webhooks/quickbooks"
    sandbox.outbox.transport = httpx.MockTransport(lambda request: httpx.Response(200))
    inv = await make_invoice(raw)
    sandbox.api.sales.pay_in_full(inv["Id"])
    assert await sandbox.deliver_webhooks() == [200]
    assert sandbox.outbox.deliveries == [{"status": 200, "events": 4}]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sandbox), base_url="http://qbo.test") as http:
        page = await http.get("/")
    assert page.status_code == 200 and "HTTP 200" in page.text
