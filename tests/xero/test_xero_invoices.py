"""End to end through the hooks against the sandbox: catalog, customers, invoices, status, reads, links."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from invoicebridge.core.errors import IllegalTransition, RemoteValidationError
from invoicebridge.core.model import CreateRequest, Customer, InvoiceDraft, LineItem, TaxHandling
from invoicebridge.core.plugins import Plugins
from invoicebridge.core.status import InvoiceStatus
from invoicebridge.plugins.xero.backend import XeroBackend

pytestmark = pytest.mark.anyio


def make_draft(deal_id: str = "42", *, customer: Customer | None = None, **overrides) -> InvoiceDraft:
    values = dict(
        deal_id=deal_id,
        customer=customer or Customer(name="Acme Ltd", email="ap@acme.example", external_key="pd-org-1"),
        line_items=[LineItem(description="Consulting", quantity=Decimal("2"), unit_amount=Decimal("120"),
                             account_code="200", tax_type="OUTPUT2", tax_percent=Decimal(20)),
                    LineItem(description="Handbook", quantity=Decimal("3"), unit_amount=Decimal("35.005"),
                             item_code="BOOK", account_code="200", tax_type="ZERORATEDOUTPUT")],
        date=dt.date(2026, 11, 20), due_date=dt.date(2026, 11, 27), currency="GBP",
        reference=f"Deal {deal_id}", url=f"https://crm.example/deal/{deal_id}",
    )
    values.update(overrides)
    return InvoiceDraft(**values)


async def create(runtime, connection, *drafts: InvoiceDraft, keys=None):
    contact_ids = await XeroBackend.open(connection, runtime).find_or_create_customers(customers=[d.customer for d in drafts])
    keys = keys or [f"op-{d.deal_id}" for d in drafts]
    requests = [CreateRequest(operation_key=k, draft=d, contact_id=c) for k, d, c in zip(keys, drafts, contact_ids, strict=True)]
    return await XeroBackend.open(connection, runtime).create_invoices(requests=requests)


async def test_catalog_reads_the_organisation_lists(runtime, connection):
    catalog = await Plugins().catalog(runtime, connection=connection)
    assert catalog.base_currency == "GBP"
    assert set(catalog.currencies) == {"GBP", "USD", "EUR"}
    assert catalog.item("consult-h").unit_price == Decimal("120.0000")
    assert {t.tax_type: t.rate for t in catalog.tax_rates}["OUTPUT2"] == Decimal(20)
    assert "INPUT2" not in {t.tax_type for t in catalog.tax_rates}  # expenses only
    assert [a.code for a in catalog.accounts] == ["200", "260", "270"]  # revenue accounts only
    assert catalog.branding_themes[0].name == "Standard"
    # the ShortCode is remembered for deep links
    assert runtime.store.get_connection(connection.id).settings["short_code"] == "!dEm0k"


async def test_create_invoice_computes_totals_and_keeps_draft_fields(runtime, connection, sandbox, transport):
    [result] = await create(runtime, connection, make_draft())
    assert result.ok, result.error
    invoice = result.invoice
    # 2 x 120 at 20 % + 3 x 35.005 (unit amounts keep 4 dp) zero-rated
    assert (invoice.subtotal, invoice.tax, invoice.total) == (Decimal("345.02"), Decimal("48.00"), Decimal("393.02"))
    assert invoice.status is InvoiceStatus.DRAFT and invoice.number == "INV-0001"
    assert invoice.reference == "Deal 42" and invoice.url == "https://crm.example/deal/42"
    put = transport.api_calls("PUT", "/Invoices")[0]
    assert put.url.params["summarizeErrors"] == "false" and put.url.params["unitdp"] == "4"
    assert put.headers["Idempotency-Key"] == "op-42"
    assert b'"UnitAmount":35.005' in put.content and b'"Quantity":3.0' in put.content
    assert all(r.headers["xero-tenant-id"] == sandbox.tenant_id for r in transport.api_calls())
    stored = sandbox.state.invoices[invoice.remote_id]
    assert stored.created_by_app == "test-client" and stored.total == Decimal("393.02")


async def test_inclusive_and_no_tax_drafts(runtime, connection):
    line = LineItem(description="Licence", quantity=1, unit_amount="120", account_code="200", tax_type="OUTPUT2",
                    tax_percent=20)
    inclusive, no_tax = await create(runtime, connection,
                                     make_draft("1", line_items=[line], tax_handling=TaxHandling.INCLUSIVE),
                                     make_draft("2", line_items=[line], tax_handling=TaxHandling.NO_TAX))
    assert (inclusive.invoice.subtotal, inclusive.invoice.tax, inclusive.invoice.total) == (
        Decimal("100.00"), Decimal("20.00"), Decimal("120.00"))
    assert (no_tax.invoice.tax, no_tax.invoice.total) == (Decimal("0.00"), Decimal("120.00"))


async def test_customers_found_by_external_key_then_tax_number_email_name(runtime, connection, sandbox):
    state = sandbox.state
    by_key = state.create_contact({"Name": "Old Name Ltd", "ContactNumber": "pd-org-7"})
    by_tax = state.create_contact({"Name": "Taxed Ltd", "TaxNumber": "GB 123 456 789"})
    by_email = state.create_contact({"Name": "Mailed Ltd", "EmailAddress": "billing@mailed.example"})
    by_name = state.create_contact({"Name": "Named Ltd"})
    customers = [
        Customer(name="Renamed Ltd", external_key="pd-org-7"),
        Customer(name="Other", tax_number="gb 123 456 789", external_key="pd-org-8"),
        Customer(name="Other 2", email="BILLING@mailed.example", external_key="pd-org-9"),
        Customer(name="named ltd", external_key="pd-org-10"),
        Customer(name="Brand New Ltd", email="a@new.example", tax_number="GB999",
                 external_key="pd-org-11"),
        Customer(name="Brand New Ltd", external_key="pd-org-11"),  # same organisation twice: one contact
    ]
    ids = await XeroBackend.open(connection, runtime).find_or_create_customers(customers=customers)
    assert ids[:4] == [by_key.contact_id, by_tax.contact_id, by_email.contact_id, by_name.contact_id]
    assert ids[4] == ids[5]
    created = state.contacts[ids[4]]
    assert (created.name, created.contact_number, created.email, created.tax_number) == (
        "Brand New Ltd", "pd-org-11", "a@new.example", "GB999")


async def test_customer_name_taken_reuses_existing_contact(runtime, connection, sandbox, monkeypatch):
    existing = sandbox.state.create_contact({"Name": "Taken Ltd"})
    from invoicebridge.plugins.xero import operations

    monkeypatch.setattr(operations, "best_contact", lambda customer, found: None)  # as if search missed it
    [contact_id] = await XeroBackend.open(connection, runtime).find_or_create_customers(customers=[Customer(name="Taken Ltd", external_key="pd-org-3")])
    assert contact_id == existing.contact_id
    assert len(sandbox.state.contacts) == 1


async def test_customer_postal_address_is_sent(runtime, connection, sandbox):
    from invoicebridge.core.model import Address

    [cid] = await XeroBackend.open(connection, runtime).find_or_create_customers(customers=[
        Customer(name="Addressed Ltd", address=Address(line1="1 High St", city="Leeds", postal_code="LS1 1AA",
                                                      country="United Kingdom"))])
    [postal] = sandbox.state.contacts[cid].addresses
    assert postal["AddressType"] == "POBOX" and postal["City"] == "Leeds" and postal["AddressLine1"] == "1 High St"


async def test_status_commands_follow_xero_rules(runtime, connection, sandbox):
    [result] = await create(runtime, connection, make_draft())
    rid = result.invoice.remote_id
    change = lambda cmd, key: XeroBackend.open(connection, runtime).change_status(# noqa: E731
                                                             remote_id=rid, command=cmd, operation_key=key)
    assert (await change("submit", "k1")).status is InvoiceStatus.AWAITING_APPROVAL
    assert (await change("approve", "k2")).status is InvoiceStatus.AWAITING_PAYMENT
    emailed = await change("email", "k3")
    assert emailed.status is InvoiceStatus.AWAITING_PAYMENT and sandbox.state.emails == [rid]
    sandbox.state.add_payment(rid, "10.00")
    with pytest.raises(RemoteValidationError) as refused:
        await change("void", "k4")
    assert "payments or credit notes allocated" in str(refused.value)
    assert sandbox.state.invoices[rid].status == "AUTHORISED"


async def test_email_of_a_draft_is_refused(runtime, connection):
    [result] = await create(runtime, connection, make_draft())
    with pytest.raises(RemoteValidationError, match="valid Status for sending"):
        await XeroBackend.open(connection, runtime).change_status(remote_id=result.invoice.remote_id,
                                             command="email", operation_key="e1")


async def test_delete_and_void(runtime, connection, sandbox):
    a, b = await create(runtime, connection, make_draft("1"), make_draft("2", status="AWAITING_PAYMENT"))
    deleted = await XeroBackend.open(connection, runtime).change_status(remote_id=a.invoice.remote_id,
                                                   command="delete", operation_key="d1")
    voided = await XeroBackend.open(connection, runtime).change_status(remote_id=b.invoice.remote_id,
                                                  command="void", operation_key="v1")
    assert (deleted.status, voided.status) == (InvoiceStatus.DELETED, InvoiceStatus.VOIDED)
    with pytest.raises(RemoteValidationError, match="not of valid status"):
        await XeroBackend.open(connection, runtime).change_status(remote_id=b.invoice.remote_id,
                                             command="delete", operation_key="d2")


async def test_reads_by_id_and_modified_since_follow_payments(runtime, connection, sandbox, clock):
    a, b = await create(runtime, connection, make_draft("1", status="AWAITING_PAYMENT"), make_draft("2"))
    clock.advance(3600)
    since = clock.now()
    clock.advance(60)
    sandbox.state.add_payment(a.invoice.remote_id, "100.00")  # partial: stays AUTHORISED
    changed = await XeroBackend.open(connection, runtime).modified_since(since=since)
    assert [i.remote_id for i in changed] == [a.invoice.remote_id]
    assert changed[0].status is InvoiceStatus.AWAITING_PAYMENT and changed[0].amount_paid == Decimal("100.00")
    payment = sandbox.state.add_payment(a.invoice.remote_id)  # the rest: PAID
    [paid] = await XeroBackend.open(connection, runtime).get_invoices(remote_ids=[a.invoice.remote_id])
    assert paid.status is InvoiceStatus.PAID and paid.amount_due == Decimal("0.00")
    sandbox.state.remove_payment(payment.payment_id)
    got = await XeroBackend.open(connection, runtime).get_invoices(remote_ids=[b.invoice.remote_id, a.invoice.remote_id])
    assert [i.remote_id for i in got] == [b.invoice.remote_id, a.invoice.remote_id]
    assert got[1].status is InvoiceStatus.AWAITING_PAYMENT and got[1].amount_due == Decimal("293.02")
    everything = await XeroBackend.open(connection, runtime).modified_since(since=None)
    assert len(everything) == 2


async def test_modified_since_reads_every_page(runtime, connection, sandbox, transport, monkeypatch):
    from invoicebridge.plugins.xero import client

    monkeypatch.setattr(client, "PAGE_SIZE", 2)  # the sandbox serves the same pages at 1000
    results = await create(runtime, connection, *[make_draft(str(n)) for n in range(5)])
    everything = await XeroBackend.open(connection, runtime).modified_since(since=None)
    assert sorted(i.remote_id for i in everything) == sorted(r.invoice.remote_id for r in results)
    pages = [r.url.params["page"] for r in transport.api_calls("GET", "/Invoices")]
    assert pages == ["1", "2", "3"]


async def test_pdf_share_link_and_deep_link(runtime, connection, sandbox):
    draft_result, approved = await create(runtime, connection, make_draft("1"), make_draft("2", status="AWAITING_PAYMENT"))
    pdf = await XeroBackend.open(connection, runtime).invoice_pdf(remote_id=approved.invoice.remote_id)
    assert pdf.startswith(b"%PDF") and len(pdf) > 500
    link = await XeroBackend.open(connection, runtime).share_link(remote_id=approved.invoice.remote_id)
    assert link.startswith("http://xero.test/in/")
    with pytest.raises(IllegalTransition, match="no online invoice for drafts"):
        await XeroBackend.open(connection, runtime).share_link(remote_id=draft_result.invoice.remote_id)
    deep = await XeroBackend.open(connection, runtime).deep_link(remote_id=approved.invoice.remote_id)
    assert deep == ("http://xero.test/organisationlogin/default.aspx?shortcode=!dEm0k"
                    f"&redirecturl=/AccountsReceivable/View.aspx?InvoiceID={approved.invoice.remote_id}")


async def test_find_created_matches_by_content_after_keys_expired(runtime, connection, sandbox, clock):
    drafts = [make_draft("1"), make_draft("1"), make_draft("2")]  # two identical drafts of two operations
    results = await create(runtime, connection, *drafts, keys=["op-a", "op-b", "op-c"])
    clock.advance(3600)  # idempotency keys long expired
    cids = [r.invoice and sandbox.state.invoices[r.invoice.remote_id].contact_id for r in results]
    requests = [CreateRequest(operation_key=k, draft=d, contact_id=c)
                for k, d, c in zip(["op-a", "op-b", "op-c"], drafts, cids, strict=True)]
    requests.append(CreateRequest(operation_key="op-d", draft=make_draft("3"), contact_id=cids[0]))
    found = await XeroBackend.open(connection, runtime).find_created(requests=requests)
    assert set(found) == {"op-a", "op-b", "op-c"}
    assert {found["op-a"].remote_id, found["op-b"].remote_id} == {results[0].invoice.remote_id,
                                                                  results[1].invoice.remote_id}
    assert found["op-c"].remote_id == results[2].invoice.remote_id


async def test_core_dispatches_by_backend_so_xero_never_sees_another_connection(runtime, connection):
    """No guard in the plugin: the registry opens the backend the connection names, and refuses an unknown one."""
    from invoicebridge.core.errors import NotConnected

    plugins = Plugins()
    assert isinstance(plugins.open(runtime, connection), XeroBackend)
    other = type(connection)(id=99, backend="freshbooks", role="accounting")
    with pytest.raises(NotConnected, match="freshbooks"):
        await plugins.catalog(runtime, connection=other)
    assert plugins.registry.factory("pipedrive") is not XeroBackend


async def test_pages_smaller_than_asked_for_are_all_read(runtime, connection, sandbox, transport, store, clock):
    """Fact sheet §5.1, §14.5: a pageSize maximum of 1,000 is second-hand and open. If Xero serves fewer per page
    than we ask for, its ``pagination`` block still says how many pages there are: every page is read, of
    invoices and of contacts, instead of stopping after the first short page."""
    from invoicebridge.plugins.xero.client import XeroClient
    from invoicebridge.plugins.xero.contacts import ContactCache

    sandbox.max_page_size = 2
    results = await create(runtime, connection, *[make_draft(str(n), customer=Customer(name=f"Buyer {n}"))
                                                  for n in range(5)])
    everything = await XeroBackend.open(connection, runtime).modified_since(since=None)
    assert sorted(i.remote_id for i in everything) == sorted(r.invoice.remote_id for r in results)
    assert [r.url.params["page"] for r in transport.api_calls("GET", "/Invoices")] == ["1", "2", "3"]
    runtime.cache.clear()
    store.conn.execute("DELETE FROM kv")  # a cold contact copy: read every contact again
    async with XeroClient(runtime, connection) as xero:
        cache = ContactCache.for_tenant(runtime, xero.tenant_id)
        await cache.refresh(xero, force=True)
    assert len(cache.contacts) == len(sandbox.state.contacts) == 5
