"""Finding deals: the sandbox's search endpoints against the v2 spec, and the plugin's search and deal-link hooks."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest

from invoicebridge.core.errors import NotConnected, NotFound
from invoicebridge.core.plugins import Plugins
from invoicebridge.core.model import DealSummary
from invoicebridge.plugins.pipedrive.backend import PipedriveSource

pytestmark = pytest.mark.anyio
TOKEN = {"x-api-token": "sandbox-token"}


@pytest.fixture
async def api(sandbox_app, validating):
    t = validating(sandbox_app)
    async with httpx.AsyncClient(transport=t, base_url="https://acme-sandbox.pipedrive.com", headers=TOKEN) as c:
        yield c, t
    assert not t.problems, "\n".join(t.problems)


async def test_deal_search_finds_titles_and_answers_in_the_spec_shape(api, sandbox):
    c, t = api
    body = (await c.get("/api/v2/deals/search", params={"term": "acme"})).json()
    items = body["data"]["items"]
    assert body["success"] is True and body["additional_data"]["next_cursor"] is None
    assert sorted(i["item"]["id"] for i in items) == [1, 4]
    first = next(i["item"] for i in items if i["item"]["id"] == 1)
    assert first["type"] == "deal" and first["organization"] == {"id": 1, "name": "Acme Ltd"}
    assert first["person"]["name"] == "Jane Doe" and first["value"] == sandbox.deals[1]["value"]
    assert first["status"] == "won" and first["currency"] == "GBP" and first["is_archived"] is False
    assert all(isinstance(i["result_score"], float) for i in items)
    assert [note for *_, note in t.log] == ["validated"]


async def test_deal_search_matches_custom_fields_and_filters_by_status_and_organization(api):
    c, _ = api
    po = (await c.get("/api/v2/deals/search", params={"term": "PO-7781"})).json()["data"]["items"]
    assert [i["item"]["id"] for i in po] == [1] and po[0]["item"]["custom_fields"] == ["PO-7781"]
    open_only = (await c.get("/api/v2/deals/search", params={"term": "acme", "status": "open"})).json()["data"]["items"]
    assert [i["item"]["id"] for i in open_only] == [4]
    by_org = (await c.get("/api/v2/deals/search", params={"term": "ac", "organization_id": 1})).json()["data"]["items"]
    assert sorted(i["item"]["id"] for i in by_org) == [1, 4]
    only_titles = (await c.get("/api/v2/deals/search", params={"term": "PO-7781", "fields": "title"})).json()
    assert only_titles["data"]["items"] == []


async def test_deal_search_pages_with_a_cursor(api):
    c, _ = api
    first = (await c.get("/api/v2/deals/search", params={"term": "ac", "limit": 1})).json()
    cursor = first["additional_data"]["next_cursor"]
    assert len(first["data"]["items"]) == 1 and cursor
    second = (await c.get("/api/v2/deals/search", params={"term": "ac", "limit": 1, "cursor": cursor})).json()
    assert second["data"]["items"][0]["item"]["id"] != first["data"]["items"][0]["item"]["id"]


async def test_a_short_or_missing_term_is_a_400_and_exact_match_takes_one_character(api):
    c, _ = api
    short = await c.get("/api/v2/deals/search", params={"term": "a"})
    assert short.status_code == 400 and short.json()["success"] is False and "term" in short.json()["error"]
    exact = await c.get("/api/v2/deals/search", params={"term": "acme ltd", "exact_match": "true"})
    assert exact.status_code == 200 and exact.json()["data"]["items"] == []  # no deal is titled exactly that


async def test_a_search_without_a_term_is_a_400(sandbox_app):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sandbox_app), base_url="https://x.pipedrive.com",
                                 headers=TOKEN) as c:  # not validated: the request itself breaks the spec on purpose
        missing = await c.get("/api/v2/organizations/search")
    assert missing.status_code == 400 and missing.json()["error"] == "Validation failed: term: is required"


async def test_organization_search_finds_names_and_answers_in_the_spec_shape(api):
    c, t = api
    body = (await c.get("/api/v2/organizations/search", params={"term": "corporation"})).json()
    assert [i["item"]["name"] for i in body["data"]["items"]] == ["Globex Corporation"]
    item = body["data"]["items"][0]["item"]
    assert item["type"] == "organization" and item["address"].startswith("350 Fifth Avenue")
    assert [note for *_, note in t.log] == ["validated"]


async def test_search_costs_twenty_tokens(sandbox_app, sandbox):
    sandbox.rate.daily_budget = 1000
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sandbox_app), base_url="https://x.pipedrive.com",
                                 headers=TOKEN) as c:
        await c.get("/api/v2/deals/search", params={"term": "acme"})
    assert sandbox.rate.spent_today == 20


# ---- the plugin ------------------------------------------------------------------------------------------------


async def test_search_hook_finds_deals_by_title(runtime, connection, sandbox):
    found = await PipedriveSource.open(connection, runtime).search_deals(term="nordlicht", limit=10)
    assert [d.id for d in found] == ["2"]
    deal = found[0]
    assert isinstance(deal, DealSummary)
    assert (deal.title, deal.organization, deal.currency, deal.status) == (
        "Nordlicht – training programme", "Nordlicht GmbH", "EUR", "won")
    assert deal.value == Decimal(str(sandbox.deals[2]["value"]))


async def test_search_hook_finds_deals_by_their_organizations_name(runtime, connection, transport):
    # no deal title says "Corporation": the deal is found through its organization, Globex Corporation
    found = await PipedriveSource.open(connection, runtime).search_deals(term="Corporation", limit=10)
    assert [(d.id, d.organization) for d in found] == [("3", "Globex Corporation")]
    assert found[0].value == Decimal("7250") and found[0].currency == "USD"
    paths = [r.url.path for r in transport.api_calls("GET")]
    assert "/api/v2/deals/search" in paths and "/api/v2/organizations/search" in paths


async def test_search_hook_with_no_match_is_an_empty_list(runtime, connection):
    assert await PipedriveSource.open(connection, runtime).search_deals(term="zzzz nothing", limit=10) == []


def test_a_deal_link_of_the_connected_company_gives_its_id(runtime, connection):
    for url in ("https://acme-sandbox.pipedrive.com/deal/5", "acme-sandbox.pipedrive.com/deal/5/",
                "https://acme-sandbox.pipedrive.com/deal/5?tab=products#notes"):
        assert PipedriveSource.open(connection, runtime).deal_id_from_url(url=url) == "5", url


def test_a_deal_link_of_another_company_or_with_a_bad_id_says_what_is_wrong(runtime, connection):
    with pytest.raises(NotFound) as other:
        PipedriveSource.open(connection, runtime).deal_id_from_url(url="https://globex.pipedrive.com/deal/5")
    assert "globex.pipedrive.com" in other.value.message and "acme-sandbox.pipedrive.com" in other.value.message
    with pytest.raises(NotFound) as bad:
        PipedriveSource.open(connection, runtime).deal_id_from_url(url="https://acme-sandbox.pipedrive.com/deal/five")
    assert "'five'" in bad.value.message and "number" in bad.value.message
    with pytest.raises(NotFound) as not_a_deal:
        PipedriveSource.open(connection, runtime).deal_id_from_url(url="https://acme-sandbox.pipedrive.com/person/5")
    assert "not a link to a deal" in not_a_deal.value.message


def test_a_link_elsewhere_is_not_the_plugins_business(runtime, connection):
    assert PipedriveSource.open(connection, runtime).deal_id_from_url(url="https://example.com/deal/5") is None
    other = connection.__class__(id=99, backend="other", role=connection.role, label="", settings={})
    with pytest.raises(NotConnected, match="other"):  # core dispatches by backend: never Pipedrive's business
        Plugins().open(runtime, other)


async def test_the_search_apis_own_burst_limit_is_emulated(sandbox_app, sandbox):
    sandbox.rate.search_burst_limit = 10  # on every plan (fact sheet §7.1)
    sandbox.rate.block_after_429 = False
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sandbox_app), base_url="https://x.pipedrive.com",
                                 headers=TOKEN) as c:
        codes = [(await c.get("/api/v2/deals/search", params={"term": "acme"})).status_code for _ in range(11)]
        other = await c.get("/api/v2/deals/1")
    assert codes == [200] * 10 + [429]
    assert other.status_code == 200  # other endpoints are not held back by the search limit


async def test_the_search_hook_waits_out_the_search_limit(runtime, connection, sandbox, sleeps):
    sandbox.rate.search_burst_limit = 1
    found = await PipedriveSource.open(connection, runtime).search_deals(term="Corporation", limit=10)
    assert [d.id for d in found] == ["3"]
    assert sleeps and sandbox.rate.blocked == 0  # it waited instead of hammering (no firewall block)
