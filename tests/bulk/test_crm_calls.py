"""CRM calls a page view and a bulk run cost, counted where the Pipedrive sandbox receives them (no timing)."""

import asyncio

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
