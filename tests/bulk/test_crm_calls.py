"""CRM calls a page view and a bulk run cost, counted where the Pipedrive sandbox receives them (no timing)."""

import asyncio
from decimal import Decimal

import httpx
import pytest

from bulk_stack import build_stack

pytestmark = pytest.mark.anyio

WRITE_BACK = ("/api/v1/notes", "/api/v1/activities", "/api/v2/activities")  # a note and a reminder per invoice, and their checks


class Yielding(httpx.AsyncBaseTransport):
    """Lets other tasks run while a request is on its way, as a network does (the in-process sandbox would
    answer before any other view got a turn)."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0)
        return await self.inner.handle_async_request(request)


def _reads(requests) -> list:
    return [r for r in requests if not r[1].startswith(WRITE_BACK)]


async def test_a_warm_deal_page_view_costs_no_crm_call(tmp_path):
    stack = await build_stack(tmp_path, deals=1)
    deal = stack.deal_ids[0]
    await stack.pipeline.deal_for_display(deal)
    before = stack.pipedrive_calls()
    for _ in range(10):
        await stack.pipeline.deal_for_display(deal)
    assert stack.pipedrive_calls() == before


async def test_views_arriving_while_the_deal_is_read_share_that_one_read(tmp_path):
    stack = await build_stack(tmp_path, deals=1)
    stack.runtime.transports["pipedrive"] = Yielding(stack.runtime.transports["pipedrive"])
    deal = stack.deal_ids[0]
    await stack.pipeline.deal_for_display(deal)  # the first read also learns the CRM's fields (kept)
    stack.pipeline.forget_deal(deal)
    before = stack.pipedrive_calls()
    await stack.pipeline.deal_for_display(deal)
    one_read = stack.pipedrive_calls() - before
    stack.pipeline.forget_deal(deal)  # a CRM webhook said the deal changed: the next views read it again
    before = stack.pipedrive_calls()
    views = await asyncio.gather(*(stack.pipeline.deal_for_display(deal) for _ in range(20)))
    assert stack.pipedrive_calls() - before == one_read  # not 20 reads
    assert all(v is views[0] for v in views)


async def test_a_bulk_run_reads_the_crm_at_most_once_per_ten_invoices(tmp_path):
    stack = await build_stack(tmp_path, deals=200)
    before = len(stack.pipedrive.requests)
    items = await stack.pipeline.create_many(stack.deal_ids, run_id="calls")
    created = sum(1 for i in items if i.record)
    assert created == 200
    reads = _reads(stack.pipedrive.requests[before:])
    assert len(reads) / created <= 0.1, sorted({r[1] for r in reads})


async def test_a_deal_page_view_after_the_deal_changed_reads_the_deal_and_its_lines_only(tmp_path):
    """The organization, person and products' codes a page showed are kept for a few minutes (RELATED_TTL):
    a view after a CRM webhook dropped the deal's snapshot costs the deal and its lines (was six reads)."""
    stack = await build_stack(tmp_path, deals=1)
    deal = stack.deal_ids[0]
    await stack.pipeline.deal_for_display(deal)
    stack.pipeline.forget_deal(deal)
    before = len(stack.pipedrive.requests)
    await stack.pipeline.deal_for_display(deal)
    paths = sorted(path for _, path, _ in stack.pipedrive.requests[before:])
    assert paths == [f"/api/v2/deals/{deal}", f"/api/v2/deals/{deal}/products"], paths


async def test_previews_and_creates_read_the_customer_fresh_while_pages_reuse_it(tmp_path):
    stack = await build_stack(tmp_path, deals=1)
    deal = stack.deal_ids[0]
    shown = await stack.pipeline.deal_for_display(deal)
    org = stack.pipedrive.organizations[int(shown.organization.id)]
    org["name"] = "Renamed Ltd"  # edited in the CRM
    stack.pipeline.forget_deal(deal)
    assert (await stack.pipeline.deal_for_display(deal)).organization.name == shown.organization.name  # kept
    assert (await stack.pipeline.get_deal(deal)).organization.name == "Renamed Ltd"  # what previews and creates use


async def test_a_cold_page_view_of_a_deal_without_lines_costs_one_crm_call_and_a_warm_one_none(tmp_path):
    """Issue #15: a cold view (the snapshot dropped by a CRM webhook) of a deal without products was 2 calls (the
    deal, then its lines, which answered empty); getDeal's ``include_fields=products_count`` says there are none,
    so it is the deal only. The page shows what a fresh full read shows, to the cent."""
    stack = await build_stack(tmp_path)
    pd = stack.pipedrive
    org = pd.add_organization("Fjord Tjenester AS", address={"value": "Storgata 1, 0155 Oslo", "route": "Storgata",
                                                              "street_number": "1", "locality": "Oslo",
                                                              "postal_code": "0155", "country": "Norway"})
    person = pd.add_person("Kari Nordmann", ["kari@fjord.example"], org)
    deal = str(pd.add_deal("Fjord – retainer", "GBP", value="12345.67", org_id=org, person_id=person, status="won",
                           won_time=pd.now()))
    await stack.pipeline.deal_for_display(deal)  # the first view also learns the CRM's fields and the customer
    stack.pipeline.forget_deal(deal)
    before = len(stack.pipedrive.requests)
    cold = await stack.pipeline.deal_for_display(deal)
    assert [path for _, path, _ in stack.pipedrive.requests[before:]] == [f"/api/v2/deals/{deal}"]
    before = len(stack.pipedrive.requests)
    assert await stack.pipeline.deal_for_display(deal) is cold  # warm
    assert len(stack.pipedrive.requests) == before
    fresh = await stack.pipeline.get_deal(deal)
    assert cold == fresh and dict(cold.custom_fields) == dict(fresh.custom_fields)
    assert (cold.value, cold.currency, cold.products) == (Decimal("12345.67"), "GBP", ())
    assert (cold.organization.name, cold.organization.address.city, cold.organization.address.postal_code) == \
        ("Fjord Tjenester AS", "Oslo", "0155")
    assert (cold.person.name, cold.person.email) == ("Kari Nordmann", "kari@fjord.example")


async def test_a_cold_page_view_of_a_deal_with_lines_reads_them_and_shows_them(tmp_path):
    """A deal with products still costs 2 calls cold: no Pipedrive read returns a deal with its lines (see
    ``deals.may_have_lines``); the lines it shows are the CRM's current ones."""
    stack = await build_stack(tmp_path, deals=1)
    deal = stack.deal_ids[0]
    await stack.pipeline.deal_for_display(deal)
    line = stack.pipedrive.lines_of(int(deal))[0]
    line["quantity"] = 7  # edited in the CRM, then a webhook drops the snapshot
    stack.pipeline.forget_deal(deal)
    before = len(stack.pipedrive.requests)
    cold = await stack.pipeline.deal_for_display(deal)
    assert len(stack.pipedrive.requests) - before == 2
    assert [p.quantity for p in cold.products] == [Decimal(7)]
    assert cold == await stack.pipeline.get_deal(deal)
