"""Issue #14, Pipedrive: the sandbox serves the v1 field lists, the v2 deal list's sorting, time window and
include_fields, answers unknown routes in Pipedrive's JSON error envelope, and every operation of the specs for the
emulated resources is served or listed as not emulated (501, with the reason). Exchanges that the specs describe go
through the validating transport."""

from __future__ import annotations

import re

import httpx
import pytest
import yaml
from pipedrive_support import SPECS
from starlette.routing import Match

from invoicebridge.plugins.pipedrive.sandbox_resources import NOT_EMULATED, not_emulated_reason

pytestmark = pytest.mark.anyio
TOKEN = {"x-api-token": "sandbox-token"}
RESOURCES = ("deals", "organizations", "persons", "products", "dealFields", "organizationFields", "personFields",
             "productFields", "activityFields", "users", "activities", "activityTypes", "notes", "webhooks",
             "currencies")


@pytest.fixture
async def api(transport):
    async with httpx.AsyncClient(transport=transport, base_url="https://acme-sandbox.pipedrive.com",
                                 headers=TOKEN) as client:
        yield client


async def test_v1_deal_and_organization_fields_are_served(api, sandbox):
    """v1 spec: getDealFields GET /dealFields, getOrganizationFields GET /organizationFields (start/limit)."""
    deals = (await api.get("/v1/dealFields", params={"limit": 3})).json()
    orgs = (await api.get("/api/v1/organizationFields")).json()
    assert deals["success"] and len(deals["data"]) == 3
    assert deals["additional_data"]["pagination"]["more_items_in_collection"] is True
    assert {"id", "key", "name", "field_type", "order_nr"} <= set(deals["data"][0])
    assert "name" in {f["key"] for f in orgs["data"]}
    one = (await api.get(f"/v1/dealFields/{deals['data'][0]['id']}")).json()
    assert one["data"]["key"] == deals["data"][0]["key"]


def _deal_ids(body: dict) -> list[int]:
    return [d["id"] for d in body["data"]]


async def test_v2_deals_sort_window_and_include_fields(api, sandbox, clock):
    """v2 spec getDeals: sort_by (id, update_time, add_time), sort_direction, updated_until, include_fields."""
    ids = sorted(d["id"] for d in sandbox.deals.values() if not d["is_deleted"] and not d["is_archived"])
    assert len(ids) >= 3
    clock.advance(3600)
    sandbox.update_deal(ids[0], {"title": "Touched later"})
    by_update = (await api.get("/api/v2/deals", params={"sort_by": "update_time", "sort_direction": "desc"})).json()
    assert _deal_ids(by_update)[0] == ids[0]
    desc = (await api.get("/api/v2/deals", params={"sort_direction": "desc", "limit": 2})).json()
    assert _deal_ids(desc) == sorted(ids, reverse=True)[:2]
    rest = (await api.get("/api/v2/deals", params={"sort_direction": "desc", "limit": 500,
                                                   "cursor": desc["additional_data"]["next_cursor"]})).json()
    assert _deal_ids(desc) + _deal_ids(rest) == sorted(ids, reverse=True)
    until = clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")
    before = (await api.get("/api/v2/deals", params={"updated_until": until})).json()
    assert ids[0] not in _deal_ids(before) and set(_deal_ids(before)) == set(ids[1:])
    extra = (await api.get("/api/v2/deals", params={"include_fields": "products_count"})).json()
    assert all("products_count" in d and "activities_count" not in d for d in extra["data"])
    assert any(d["products_count"] > 0 for d in extra["data"])
    plain = (await api.get("/api/v2/deals")).json()
    assert "products_count" not in plain["data"][0]


async def test_v2_deal_include_fields(api, sandbox, sandbox_app):
    """v2 spec getDeal: include_fields (the same enum as getDeals) adds the named extras and nothing else; the
    products count counts disabled lines too (a deal without lines answers 0)."""
    with_lines = next(d["id"] for d in sandbox.deals.values() if any(not x["is_enabled"] for x in sandbox.lines_of(d["id"])))
    without = next(d["id"] for d in sandbox.deals.values() if not sandbox.lines_of(d["id"]))
    one = (await api.get(f"/api/v2/deals/{with_lines}", params={"include_fields": "products_count"})).json()["data"]
    assert one["products_count"] == len(sandbox.lines_of(with_lines)) >= 2 and "notes_count" not in one
    none = (await api.get(f"/api/v2/deals/{without}", params={"include_fields": "products_count"})).json()["data"]
    assert none["products_count"] == 0
    plain = (await api.get(f"/api/v2/deals/{with_lines}")).json()["data"]
    assert "products_count" not in plain and {k: v for k, v in one.items() if k != "products_count"} == plain
    counts = (await api.get(f"/api/v2/deals/{with_lines}", params={"include_fields": "activities_count"})).json()["data"]
    assert counts["activities_count"] == 0 and "products_count" not in counts
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sandbox_app), base_url="http://pd.test",
                                 headers=TOKEN) as plain_client:  # a value the spec's enum refuses: not sent through it
        refused = await plain_client.get(f"/api/v2/deals/{with_lines}", params={"include_fields": "products"})
    assert refused.status_code == 400 and refused.json()["success"] is False


async def test_bad_sort_answers_400_in_the_envelope(sandbox_app):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sandbox_app), base_url="http://pd.test",
                                 headers=TOKEN) as plain:  # values the spec's enum refuses: not sent through it
        response = await plain.get("/api/v2/deals", params={"sort_by": "title"})
    assert response.status_code == 400 and response.json()["success"] is False


async def test_unknown_routes_answer_in_pipedrive_json_envelope(sandbox_app):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sandbox_app), base_url="http://pd.test",
                                 headers=TOKEN) as plain:
        unknown = await plain.get("/api/v2/nothing-here")
        wrong_method = await plain.put("/api/v2/deals/1/discounts")
        not_emulated = await plain.get("/api/v2/deals/1/followers")
    assert unknown.status_code == 404 and unknown.json() == {
        "success": False, "error": "Unknown method or resource", "error_info": "Please check developers.pipedrive.com",
        "data": None, "additional_data": None}
    assert wrong_method.status_code == 405 and wrong_method.json()["success"] is False
    assert not_emulated.status_code == 501 and "does not emulate" in not_emulated.json()["error"]


def spec_operations() -> list[tuple[str, str, str]]:
    out = []
    for version, name in (("v1", "openapi-v1.yaml"), ("v2", "openapi-v2.yaml")):
        spec = yaml.load((SPECS / name).read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        for path, ops in spec["paths"].items():
            if path.strip("/").split("/")[0] in RESOURCES:
                out += [(version, m.upper(), path) for m, op in ops.items()
                        if m in ("get", "put", "post", "delete", "patch") and not op.get("deprecated")]
    return out


def test_every_operation_is_served_or_listed_as_not_emulated(sandbox_app):
    ops = spec_operations()
    assert len(ops) > 150
    unaccounted, both = [], []
    for version, method, path in ops:
        concrete = re.sub(r"\{[^}]+\}", "1", path)
        concrete = f"/api/v2{concrete}" if version == "v2" else f"/v1{concrete}"
        scope = {"type": "http", "method": method, "path": concrete, "root_path": "", "headers": []}
        served = any(route.matches(scope)[0] == Match.FULL for route in sandbox_app.routes)
        listed = not_emulated_reason(method, path) is not None
        if not served and not listed:
            unaccounted.append(f"{version} {method} {path}")
        if served and listed:
            both.append(f"{version} {method} {path}")
    assert unaccounted == [], unaccounted
    assert both == [], both
    assert all(reason for _, _, reason in NOT_EMULATED)


async def test_deal_product_update_and_delete(api, sandbox, sandbox_app):
    """v2 spec updateDealProduct / deleteDealProduct: the line changes or goes and the deal's value follows."""
    deal_id = next(d for d in sorted(sandbox.deals) if len(sandbox.lines_of(d)) >= 2)
    first, second = sandbox.lines_of(deal_id)[:2]
    patched = await api.patch(f"/api/v2/deals/{deal_id}/products/{first['id']}",
                              json={"quantity": 7, "item_price": 10, "discount": 0})
    assert patched.status_code == 200 and patched.json()["data"]["quantity"] == 7
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sandbox_app), base_url="http://pd.test",
                                 headers=TOKEN) as plain:  # a body the spec refuses: not sent through it
        refused = await plain.patch(f"/api/v2/deals/{deal_id}/products/{first['id']}", json={"quantity": True})
    assert refused.status_code == 400 and refused.json()["success"] is False
    value_before = sandbox.deals[deal_id]["value"]
    deleted = await api.delete(f"/api/v2/deals/{deal_id}/products/{second['id']}")
    assert deleted.json() == {"success": True, "data": {"id": second["id"]}}
    assert [line["id"] for line in sandbox.lines_of(deal_id)].count(second["id"]) == 0
    assert sandbox.deals[deal_id]["value"] < value_before
    missing = await api.delete(f"/api/v2/deals/{deal_id}/products/{second['id']}")
    assert missing.status_code == 404


async def test_error_envelope_also_when_mounted(sandbox_app):
    """The demo mounts the sandbox at /sandbox/pipedrive: the envelope must not depend on the mount."""
    from starlette.applications import Starlette
    from starlette.routing import Mount

    outer = Starlette(routes=[Mount("/sandbox/pipedrive", app=sandbox_app)])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=outer), base_url="http://pd.test",
                                 headers=TOKEN) as plain:
        unknown = await plain.get("/sandbox/pipedrive/api/v2/nothing-here")
        not_emulated = await plain.post("/sandbox/pipedrive/api/v2/deals", json={})
    assert unknown.status_code == 404 and unknown.json()["error"] == "Unknown method or resource"
    assert not_emulated.status_code == 501 and not_emulated.json()["success"] is False
