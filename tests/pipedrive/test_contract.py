"""Contract: what our client sends and what the sandbox answers both validate against Pipedrive's specs."""

from __future__ import annotations

import datetime as dt
import json

import httpx
import pytest

from invoicebridge.plugins.pipedrive.backend import PipedriveSource
from invoicebridge.plugins.pipedrive.sandbox import create_sandbox

pytestmark = pytest.mark.anyio


async def test_every_call_of_a_full_read_and_write_back_validates(runtime, connection, transport):
    await PipedriveSource.open(connection, runtime).get_deal(deal_id="1")
    await PipedriveSource.open(connection, runtime).get_deals(deal_ids=["1", "2", "6"])
    await PipedriveSource.open(connection, runtime).list_fields()
    await PipedriveSource.open(connection, runtime).add_activity(deal_id="1", subject="Send invoice",
                                 due_date=dt.date(2026, 11, 23), note="Send it", dedupe_key="k1")
    await PipedriveSource.open(connection, runtime).add_note(deal_id="1", content="Created", dedupe_key="k2")
    # a retry in doubt: the marker search runs first
    await PipedriveSource.open(connection, runtime).add_note(deal_id="1", content="Created", dedupe_key="k3", in_doubt=True)
    await PipedriveSource.open(connection, runtime).check()
    notes = {note for _, _, note in transport.log}
    assert notes == {"validated"}
    seen = {(r.method, r.url.path) for r, _, _ in transport.log}
    assert {("GET", "/api/v2/deals/1"), ("GET", "/api/v2/deals/products"), ("GET", "/api/v2/organizations"),
            ("GET", "/api/v2/persons"), ("GET", "/api/v2/products"), ("GET", "/api/v2/deals/2/discounts"),  # deal 1 has none to read
            ("GET", "/api/v2/dealFields"), ("POST", "/api/v2/activities"), ("GET", "/api/v1/notes"),
            ("POST", "/api/v1/notes"), ("GET", "/api/v1/users/me")} <= seen
    assert not transport.problems


async def test_v1_paths_and_webhook_shapes_validate(sandbox_app, validating):
    t = validating(sandbox_app)
    headers = {"x-api-token": "sandbox-token"}
    async with httpx.AsyncClient(transport=t, base_url="https://acme-sandbox.pipedrive.com", headers=headers) as c:
        created = await c.post("/api/v1/webhooks", json={"subscription_url": "https://ib.example/webhooks/pipedrive",
                                                         "event_action": "change", "event_object": "deal",
                                                         "name": "x", "version": "2.0"})
        assert created.status_code == 201 and created.json()["data"]["type"] == "general"
        assert (await c.get("/v1/webhooks")).status_code == 200  # the /v1 alias
        assert (await c.get("/api/v1/currencies")).json()["data"][0]["code"] == "GBP"
        bad = await c.post("/api/v1/webhooks", json={"subscription_url": "not a url", "event_action": "change",
                                                     "event_object": "deal", "name": "x"})
        assert bad.status_code == 400 and bad.json()["errors"] == {"subscription_url": ["invalid or non-reachable URL"]}
        unauthorised = await c.get("/api/v1/users/me", headers={"x-api-token": "wrong"})
        assert unauthorised.status_code == 401
        assert unauthorised.json() == {"success": False, "error": "unauthorized access", "errorCode": 401,
                                       "error_info": "Please check developers.pipedrive.com"}
    assert not t.problems, t.problems
    assert [note for *_, note in t.log].count("validated") == 5


async def test_validator_catches_a_response_that_breaks_the_spec(sandbox_app, validating):
    state = sandbox_app.state.sandbox
    state.deals[1]["value"] = "12.50"  # v2 is strict: a string where a number belongs
    t = validating(sandbox_app)
    async with httpx.AsyncClient(transport=t, base_url="https://x.pipedrive.com") as c:
        await c.get("/api/v2/deals/1", headers={"x-api-token": "sandbox-token"})
        refused = await c.get("/api/v2/deals/1", params={"include_fields": "no_such_field"},
                              headers={"x-api-token": "sandbox-token"})
    assert refused.status_code == 400  # the sandbox refuses it as Pipedrive's strict v2 does (no deal to check)
    assert t.problems[0].startswith("response GET /api/v2/deals/1 200") and "'12.50' is not of type" in t.problems[0]
    assert [p for p in t.problems if p.startswith("request GET /api/v2/deals/1")]  # the unknown include_fields
    assert len(t.problems) == 2


async def test_sandbox_error_bodies_have_pipedrive_shapes(sandbox_app):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sandbox_app), base_url="https://x.pipedrive.com") as c:
        missing = await c.get("/api/v2/deals/404", headers={"x-api-token": "sandbox-token"})
        no_token = await c.get("/api/v2/deals/1")
        bad_limit = await c.get("/api/v2/deals", params={"limit": 501}, headers={"x-api-token": "sandbox-token"})
    assert missing.status_code == 404 and missing.json() == {
        "success": False, "error": "Deal not found", "error_info": "Object was not found.", "data": None,
        "additional_data": None}
    assert no_token.status_code == 401 and no_token.json()["error"] == "unauthorized access"
    assert bad_limit.status_code == 400 and "limit" in bad_limit.json()["error"]
    for r in (missing, no_token, bad_limit):
        assert {"x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"} <= set(r.headers)


async def test_custom_field_keys_differ_per_company_and_option_labels_can_be_included():
    one = create_sandbox(company_domain="alpha", seed=True).state.sandbox
    two = create_sandbox(company_domain="beta", seed=True).state.sandbox
    keys_one = {f["field_name"]: k for k, f in one.fields["organization"].items() if f["is_custom_field"]}
    keys_two = {f["field_name"]: k for k, f in two.fields["organization"].items() if f["is_custom_field"]}
    assert keys_one.keys() == keys_two.keys() and keys_one["VAT number"] != keys_two["VAT number"]
    app = create_sandbox(seed=True)
    tier = {f["field_name"]: k for k, f in app.state.sandbox.fields["organization"].items()}["Customer tier"]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://x.pipedrive.com") as c:
        body = (await c.get("/api/v2/organizations/1", params={"include_option_labels": "true", "custom_fields": tier},
                            headers={"x-api-token": "sandbox-token"})).json()
    assert body["data"]["custom_fields"] == {tier: {"id": app.state.sandbox.option_id("organization", tier, "Gold"),
                                                    "label": "Gold"}}
    assert json.dumps(body)  # plain JSON all the way down


async def test_completing_the_reminder_is_a_spec_valid_patch_sent_once(runtime, connection, transport):
    from invoicebridge.plugins.pipedrive import writeback

    made = await PipedriveSource.open(connection, runtime).add_activity(deal_id="1", subject="Send invoice",
                                 due_date=dt.date(2026, 11, 23), note="Send it", dedupe_key="inv-1:reminder")
    from invoicebridge.plugins.pipedrive.client import PipedriveClient

    async with PipedriveClient(runtime, connection) as client:
        first = await writeback.complete_activity_once(client, "1", "inv-1:reminder", activity_id=made)
        again = await writeback.complete_activity_once(client, "1", "inv-1:reminder")  # found by its marker
    assert first == made and first == again
    patches = [(r, resp) for r, resp, _ in transport.log if r.method == "PATCH"]
    assert len(patches) == 1
    request, _ = patches[0]
    assert request.url.path == f"/api/v2/activities/{first}" and json.loads(request.content) == {"done": True}
    assert {note for _, _, note in transport.log} == {"validated"} and not transport.problems


async def test_sandbox_update_activity_answers_like_pipedrive(sandbox_app, validating):
    t = validating(sandbox_app)
    headers = {"x-api-token": "sandbox-token"}
    async with httpx.AsyncClient(transport=t, base_url="https://acme-sandbox.pipedrive.com", headers=headers) as c:
        made = (await c.post("/api/v2/activities", json={"subject": "Send invoice", "type": "task", "deal_id": 1})).json()["data"]
        done = await c.patch(f"/api/v2/activities/{made['id']}", json={"done": True})
        assert done.status_code == 200 and done.json()["data"]["done"] is True and done.json()["data"]["marked_as_done_time"]
        assert (await c.get(f"/api/v2/activities/{made['id']}")).json()["data"]["done"] is True
        assert (await c.patch("/api/v2/activities/99999", json={"done": True})).status_code == 404
    assert not t.problems, t.problems
    # the spec documents only the 200 (its 404 has no schema to check)
    assert [note for *_, note in t.log] == ["validated"] * 3 + ["status not documented"]
    # what the spec cannot say: a done that is not a boolean is refused
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sandbox_app), base_url="https://x.pipedrive.com",
                                 headers=headers) as c:
        bad = await c.patch(f"/api/v2/activities/{made['id']}", json={"done": "yes"})
        assert bad.status_code == 400 and bad.json()["success"] is False
