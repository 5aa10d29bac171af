"""Bulk invoicing and sync at Xero's limits, through the real plugins and both sandboxes on simulated time."""

from __future__ import annotations

from collections import Counter

import pytest

from bulk_stack import build_stack
from invoicebridge.core.status import InvoiceStatus

pytestmark = pytest.mark.anyio

CATALOG_CALLS = 6  # Organisation, Items, TaxRates, Accounts, Currencies, BrandingThemes (cached for 5 minutes)


def xero_counts(stack) -> Counter:
    return Counter(f"{method} {path.rsplit('/', 1)[-1]}" for method, path in stack.xero.requests)


async def test_bulk_of_120_new_customers_costs_10_xero_calls(tmp_path):
    stack = await build_stack(tmp_path, deals=120)
    items = await stack.pipeline.create_many(stack.deal_ids, run_id="r1")
    assert [i.deal_id for i in items] == stack.deal_ids
    assert all(i.record is not None for i in items), [i.error for i in items if i.error][:3]
    # one page of changed contacts, 3 batches of invoices that create their new contacts, plus the catalog
    assert xero_counts(stack) == Counter({"GET Contacts": 1, "PUT Invoices": 3, "GET Organisation": 1,
                                          "GET Items": 1, "GET TaxRates": 1, "GET Accounts": 1, "GET Currencies": 1,
                                          "GET BrandingThemes": 1})
    assert stack.xero_calls() == 4 + CATALOG_CALLS and stack.xero_429s() == 0
    assert len(stack.xero.state.invoices) == 120 and len({i.contact_id for i in stack.xero.state.invoices.values()}) == 120
    assert len(stack.xero.state.contacts) == 120  # one contact per organisation, none twice
    made = next(iter(stack.xero.state.contacts.values()))
    assert made.contact_number.startswith("pipedrive-organization-") and made.email  # the whole contact, not just its name
    # every deal got its note (the write-back goes to Pipedrive, after the Xero work)
    reminded = {str(n["deal_id"]) for n in stack.pipedrive.notes.values()}  # drafts: a note each, no reminder yet
    assert reminded == set(stack.deal_ids)


async def test_rerun_and_new_run_never_invoice_a_deal_twice(tmp_path):
    stack = await build_stack(tmp_path, deals=60)
    first = await stack.pipeline.create_many(stack.deal_ids, run_id="r1")
    calls = stack.xero_calls()
    again = await stack.pipeline.create_many(stack.deal_ids, run_id="r1")
    other = await stack.pipeline.create_many(stack.deal_ids, run_id="r2")
    assert [i.record.id for i in again] == [i.record.id for i in first] == [i.record.id for i in other]
    assert all(i.problems == (f"already invoiced ({i.record.number})",) for i in other)
    assert stack.xero_calls() == calls and len(stack.xero.state.invoices) == 60
    assert len(list(stack.store.all_invoices())) == 60
    assert len(stack.pipedrive.notes) == 60 and stack.pipedrive.activities == {}  # one note each, not three


async def test_existing_customers_come_from_the_contact_cache(tmp_path):
    stack = await build_stack(tmp_path)
    first = stack.add_deals(100)
    await stack.pipeline.create_many(first, run_id="a")
    orgs = sorted({stack.pipedrive.deals[int(d)]["org_id"] for d in first})
    repeat = stack.add_deals(100, existing_orgs=orgs)
    stack.clock.advance(120)  # past the cache's freshness window: one If-Modified-Since read
    before = xero_counts(stack)
    items = await stack.pipeline.create_many(repeat, run_id="b")
    assert all(i.record for i in items)
    spent = xero_counts(stack) - before
    assert spent == Counter({"GET Contacts": 1, "PUT Invoices": 2})
    assert xero_counts(stack)["GET Contacts"] == 2 and len(stack.xero.state.contacts) == 100


async def test_contact_added_in_xero_is_seen_through_if_modified_since(tmp_path):
    stack = await build_stack(tmp_path)
    first = stack.add_deals(1)
    await stack.pipeline.create_many(first, run_id="a")
    stack.clock.advance(120)
    made = stack.xero.state.create_contact({"Name": "Walk In 00002 Ltd", "ContactNumber": ""})
    [deal] = stack.add_deals(1, org_prefix="Walk In")
    [item] = await stack.pipeline.create_many([deal], run_id="b")
    assert item.record is not None
    assert stack.xero.state.invoices[item.record.remote_id].contact_id == made.contact_id
    assert ("PUT", "/api.xro/2.0/Contacts") not in stack.xero.requests[-3:]


async def test_dry_run_previews_every_invoice_and_problem_and_creates_nothing(tmp_path):
    stack = await build_stack(tmp_path, deals=30)
    bad = stack.pipedrive.add_deal("No customer at all", "GBP", value=100, status="won")
    items = await stack.pipeline.create_many(stack.deal_ids + [str(bad), "999999"], run_id="dry", dry_run=True)
    ready = [i for i in items if i.draft is not None]
    assert len(ready) == 30 and all(i.draft.totals.total > 0 for i in ready)
    assert "999999 was not found" in items[-1].error and items[-2].error
    assert not stack.xero.state.invoices and not list(stack.store.all_invoices())
    assert not any(m == "PUT" for m, _ in stack.xero.requests)


async def test_xero_refusing_some_invoices_fails_only_those_deals_and_a_rerun_retries_them(tmp_path):
    stack = await build_stack(tmp_path, deals=60)
    await stack.pipeline.create_many(stack.deal_ids, run_id="warm", dry_run=True)  # catalog cached with LIC-PRO
    items_before = list(stack.xero.state.items)
    stack.xero.state.items = [i for i in items_before if i["Code"] != "LIC-PRO"]  # removed in Xero meanwhile
    seen = []
    items = await stack.pipeline.create_many(stack.deal_ids, run_id="r1", progress=lambda d, t: seen.append((d, t)))
    failed = [i for i in items if i.error]
    assert seen[-1] == (60, 60)
    assert len(failed) == 20 and all("Item code 'LIC-PRO' is not valid" in i.error for i in failed)
    assert len(stack.xero.state.invoices) == 40
    stack.xero.state.items = items_before  # put back; the same run again retries only the failed ones
    retried = await stack.pipeline.create_many(stack.deal_ids, run_id="r1")
    assert all(i.record for i in retried)
    assert len(stack.xero.state.invoices) == 60 and len(list(stack.store.all_invoices())) == 60


async def test_server_errors_leave_deals_retryable_and_a_new_run_finishes_them_once(tmp_path):
    stack = await build_stack(tmp_path)
    warm = stack.add_deals(10)
    await stack.pipeline.create_many(warm, run_id="warm")
    orgs = sorted({stack.pipedrive.deals[int(d)]["org_id"] for d in warm})
    deals = stack.add_deals(100, existing_orgs=orgs)
    stack.xero.fail_next = [503] * 8  # both invoice batches fail all four attempts
    items = await stack.pipeline.create_many(deals, run_id="r1")
    assert all(i.error and i.retryable for i in items) and len(stack.xero.state.invoices) == 10
    finished = await stack.pipeline.create_many(deals, run_id="r2")  # a new run finishes r1's operations
    assert all(i.record for i in finished) and {i.operation_key for i in finished} == {i.operation_key for i in items}
    assert len(stack.xero.state.invoices) == 110 and len(list(stack.store.all_invoices())) == 110


async def test_limiter_keeps_a_long_run_under_the_limits_without_429s(tmp_path):
    stack = await build_stack(tmp_path, deals=600)
    stack.clock.advance(1)
    items = await stack.pipeline.create_many(stack.deal_ids, run_id="big")
    assert all(i.record for i in items)
    assert stack.xero_429s() == 0
    assert stack.xero_calls() <= 1 + 12 + 12 + CATALOG_CALLS


async def test_sync_of_many_changed_invoices_costs_one_call(tmp_path):
    stack = await build_stack(tmp_path, deals=150)
    items = await stack.pipeline.create_many(stack.deal_ids, run_id="r1")
    await stack.pipeline.reconcile()  # establishes the changed-since mark
    stack.clock.advance(300)
    changed = [i.record.remote_id for i in items[:90]]
    for rid in changed:
        stack.xero.state.set_status(rid, "AUTHORISED")
    before = stack.xero_calls()
    report = await stack.pipeline.sync_invoices(changed)
    assert report.changed == 90 and stack.xero_calls() - before == 1
    assert all(r.status is InvoiceStatus.AWAITING_PAYMENT for r in (stack.store.invoice_by_remote("xero", x) for x in changed))
    before = stack.xero_calls()
    again = await stack.pipeline.reconcile()
    assert again.changed == 0 and stack.xero_calls() - before == 1


async def test_new_customers_with_several_deals_get_one_contact_each_across_batches(tmp_path):
    stack = await build_stack(tmp_path)
    orgs = [stack.pipedrive.add_organization(f"Twice {n:03d} Ltd") for n in range(60)]
    deals = stack.add_deals(120, existing_orgs=orgs)  # deal n and n + 60 share an organisation: different batches
    items = await stack.pipeline.create_many(deals, run_id="twice")
    assert all(i.record is not None for i in items), [i.error for i in items if i.error][:3]
    state = stack.xero.state
    assert len(state.contacts) == 60  # the second batch named the contact the first one made, never a second one
    by_org = {}
    for invoice in state.invoices.values():
        by_org.setdefault(state.contacts[invoice.contact_id].name, set()).add(invoice.contact_id)
    assert len(by_org) == 60 and all(len(ids) == 1 for ids in by_org.values())
    assert xero_counts(stack)["PUT Contacts"] == 0 and stack.xero_429s() == 0
