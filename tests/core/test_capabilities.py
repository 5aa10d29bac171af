"""Each capability a backend declares changes what core does: the in-memory backend with one switched."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import attrs
import pytest
from memory_world import NOW, memory_world

from invoicebridge.core import Deal, DealProduct, IllegalTransition, InvoiceStatus, Organization, Person, ServerError
from invoicebridge.core.pipeline import operation_key

pytestmark = pytest.mark.anyio


@pytest.fixture
def make_world(store):
    org, person = Organization(id="5", name="Acme Ltd"), Person(id="9", name="Ann", emails=["ann@acme.test"])
    deals = [Deal(id=d, title=f"Website {d}", value=0, currency="GBP", organization=org, person=person,
                  products=[DealProduct(name="Consulting", quantity=10, item_price=120, tax_percent=20, code="CONSULT-HR")])
             for d in ("1", "2", "3")]
    return lambda **capabilities: memory_world(store, deals=deals, capabilities=capabilities)


# ---- change_feed ------------------------------------------------------------------------------------------


def record_reads(acct) -> list[list[str]]:
    """The ids of each ``get_invoices`` call the backend gets from now on."""
    asked: list[list[str]] = []
    original = acct.get_invoices

    def get_invoices(remote_ids):
        asked.append(list(remote_ids))
        return original(remote_ids)

    acct.get_invoices = get_invoices
    return asked


async def test_without_a_change_feed_sync_reads_the_open_invoices_by_id_in_batches(make_world):
    pipeline, _crm, acct, _clock = make_world(change_feed=False, batch_size=2)
    records = [await pipeline.create_invoice(d, key=f"k{d}", overrides={"status": "AWAITING_PAYMENT"}) for d in ("1", "2", "3")]
    acct.set_status(records[0].remote_id, InvoiceStatus.PAID)
    acct.set_status(records[2].remote_id, InvoiceStatus.VOIDED)
    asked = record_reads(acct)
    acct.calls.clear()
    report = await pipeline.reconcile()
    assert "modified" not in acct.calls
    assert asked == [[records[0].remote_id, records[1].remote_id], [records[2].remote_id]]  # batches of batch_size
    assert report.changed == 2
    assert pipeline.store.get_invoice(records[0].id).status is InvoiceStatus.PAID
    assert pipeline.store.get_invoice(records[2].id).status is InvoiceStatus.VOIDED
    asked.clear()
    await pipeline.reconcile()
    assert asked == [[records[0].remote_id, records[1].remote_id]]  # the voided one is final: not read again


async def test_without_a_change_feed_a_paid_invoice_is_not_read_again_once_its_recheck_window_is_over(make_world):
    from invoicebridge.core.sync import PAID_RECHECK

    pipeline, _crm, acct, clock = make_world(change_feed=False, batch_size=5)
    records = [await pipeline.create_invoice(d, key=f"k{d}", overrides={"status": "AWAITING_PAYMENT"}) for d in ("1", "2")]
    acct.set_status(records[0].remote_id, InvoiceStatus.PAID)
    await pipeline.reconcile()
    assert pipeline.store.get_invoice(records[0].id).status is InvoiceStatus.PAID
    asked = record_reads(acct)
    clock["now"] = NOW + PAID_RECHECK - dt.timedelta(hours=1)  # paid recently: a removed payment is still seen
    await pipeline.reconcile()
    assert asked == [[records[0].remote_id, records[1].remote_id]]
    asked.clear()
    clock["now"] = NOW + PAID_RECHECK + dt.timedelta(hours=1)
    await pipeline.reconcile()
    assert asked == [[records[1].remote_id]]  # only the one still awaiting payment


async def test_with_a_change_feed_sync_asks_for_the_changes(make_world):
    pipeline, _crm, acct, _clock = make_world()
    await pipeline.create_invoice("1", key="k1")
    acct.calls.clear()
    await pipeline.reconcile()
    assert "modified" in acct.calls and "get" not in acct.calls


# ---- approval_roles ---------------------------------------------------------------------------------------


async def test_without_approval_roles_everyone_may_approve_and_the_user_is_not_asked(make_world):
    pipeline, _crm, acct, _clock = make_world(approval_roles=False)
    acct.role = "STANDARD"  # a role that could not approve, were roles meaningful
    record = await pipeline.create_invoice("1", key="k1")
    acct.calls.clear()
    updated = await pipeline.command(record.id, "approve")
    assert updated.status is InvoiceStatus.AWAITING_PAYMENT
    assert "user" not in acct.calls and await pipeline.may_approve()


async def test_with_approval_roles_a_user_who_may_not_approve_is_refused_in_words(make_world):
    pipeline, _crm, acct, _clock = make_world(approval_roles=True)
    acct.role = "STANDARD"
    record = await pipeline.create_invoice("1", key="k1")
    with pytest.raises(IllegalTransition, match="may not approve invoices: approve it in the accounting system") as refused:
        await pipeline.command(record.id, "approve")
    assert refused.value.status_code == 409
    assert pipeline.store.get_invoice(record.id).status is InvoiceStatus.DRAFT
    from invoicebridge.core.i18n import use_locale

    with use_locale("de"), pytest.raises(IllegalTransition, match="darf keine Rechnungen bestätigen: Bestätigen Sie sie"):
        await pipeline.command(record.id, "approve")
    acct.role = "FINANCIALADVISER"
    assert (await pipeline.command(record.id, "approve")).status is InvoiceStatus.AWAITING_PAYMENT


# ---- default_tax_handling ---------------------------------------------------------------------------------


async def test_a_deal_that_names_no_tax_handling_gets_the_backends_default_on_the_preview_and_the_invoice(make_world):
    pipeline, crm, _acct, _clock = make_world(default_tax_handling="Inclusive")
    crm.deals["2"] = attrs.evolve(crm.deals["2"], tax_method="exclusive")  # this one names its own
    preview = await pipeline.preview("1")
    assert preview.draft.tax_handling.value == "Inclusive"
    assert (preview.draft.totals.subtotal, preview.draft.totals.tax, preview.draft.totals.total) == \
        (Decimal("1000.00"), Decimal("200.00"), Decimal("1200.00"))  # 10 × 120 with 20 % included
    record = await pipeline.create_invoice("1", key="k1")
    assert record.total == preview.draft.totals.total
    assert (await pipeline.preview("2")).draft.tax_handling.value == "Exclusive"
    assert (await pipeline.create_invoice("2", key="k2")).total == Decimal("1440.00")


def test_a_default_tax_handling_that_is_none_of_the_three_is_refused_when_the_backend_is_declared():
    from invoicebridge.core import Capabilities

    assert Capabilities(default_tax_handling="NoTax").default_tax_handling == "NoTax"
    with pytest.raises(ValueError, match="unknown tax handling"):
        Capabilities(default_tax_handling="Gross")


# ---- idempotency_window and find_created ------------------------------------------------------------------


async def _crash_after_the_remote_create(pipeline, acct, key: str) -> str:
    original = pipeline._record_created

    async def crash(*a, **kw):
        raise SystemExit("killed after the backend created the invoice")

    pipeline._record_created = crash
    with pytest.raises(SystemExit):
        await pipeline.create_invoice("1", key=key)
    pipeline._record_created = original
    assert len(acct.invoices) == 1 and pipeline.store.count_invoices() == 0
    acct.calls.clear()
    return operation_key("api", key)


async def test_without_find_created_a_retry_inside_the_idempotency_window_is_sent_again_and_replayed(make_world):
    pipeline, _crm, acct, clock = make_world(find_created=False, idempotency_window=dt.timedelta(minutes=6))
    await _crash_after_the_remote_create(pipeline, acct, "crashy")
    clock["now"] = NOW + dt.timedelta(minutes=5, seconds=30)  # the lease is over, the key still remembered
    assert await pipeline.recover() == 1
    assert "find" not in acct.calls and acct.calls.count("create") == 1  # not asked what it cannot answer
    assert len(acct.invoices) == 1 and pipeline.store.count_invoices() == 1


async def test_without_find_created_a_retry_past_the_window_waits_for_a_person_instead_of_risking_a_duplicate(make_world):
    pipeline, _crm, acct, clock = make_world(find_created=False, idempotency_window=dt.timedelta(minutes=6))
    key = await _crash_after_the_remote_create(pipeline, acct, "crashy")
    clock["now"] = NOW + dt.timedelta(minutes=10)
    assert await pipeline.recover() == 0
    assert "find" not in acct.calls and "create" not in acct.calls
    op = pipeline.store.get_operation(key)
    assert op["state"] == "dead" and "It may already exist in Memory accounting" in op["last_error"]
    assert "Retry sends it" in op["last_error"]
    assert [o["key"] for o in pipeline.store.operations(states=("dead",))] == [key]  # the dashboard's failed requests
    await pipeline.recover()  # a later pass leaves it to the person
    assert "create" not in acct.calls and pipeline.store.get_operation(key)["state"] == "dead"
    item = await pipeline.retry_operation(key)  # the person checked: not there
    assert item.record is not None and acct.calls.count("create") == 1 and pipeline.store.count_invoices() == 1


async def test_with_find_created_a_retry_past_the_window_looks_first_and_sends_only_what_it_did_not_find(make_world):
    pipeline, _crm, acct, clock = make_world(find_created=True, idempotency_window=dt.timedelta(minutes=6))
    await _crash_after_the_remote_create(pipeline, acct, "crashy")
    clock["now"] = NOW + dt.timedelta(minutes=10)
    assert await pipeline.recover() == 1
    assert "find" in acct.calls and "create" not in acct.calls and pipeline.store.count_invoices() == 1


async def test_a_backend_that_honours_no_key_is_never_sent_a_retry_in_doubt_without_a_look(make_world):
    pipeline, _crm, acct, clock = make_world(find_created=False, idempotency=False)
    key = await _crash_after_the_remote_create(pipeline, acct, "crashy")
    clock["now"] = NOW + dt.timedelta(minutes=5, seconds=30)
    await pipeline.recover()
    assert "create" not in acct.calls and pipeline.store.get_operation(key)["state"] == "dead"


async def test_an_attempt_that_failed_before_sending_is_not_in_doubt(make_world):
    pipeline, _crm, acct, _clock = make_world(find_created=False, idempotency=False)

    def contacts_down(customers):
        raise ServerError("contacts are down", status=503)

    acct.find_or_create_customers, working = contacts_down, acct.find_or_create_customers
    with pytest.raises(Exception, match="retried"):
        await pipeline.create_invoice("1", key="early")
    acct.find_or_create_customers = working
    item = await pipeline.retry_operation(operation_key("api", "early"))  # nothing was sent: simply sent now
    assert item.record is not None and acct.calls.count("create") == 1


# ---- the default revenue account ----------------------------------------------------------------------------


async def test_the_create_form_preselects_the_backends_catalog_default_account(make_world):
    """One source for a line's default account: the backend's catalog (``Capabilities`` names none)."""
    from invoicebridge.core.catalog import Account

    pipeline, crm, acct, _clock = make_world()
    acct.catalog = attrs.evolve(acct.catalog, accounts=[*acct.catalog.accounts, Account(code="4000", name="Revenue")],
                                default_account_code="4000")
    crm.deals["2"] = attrs.evolve(crm.deals["2"], products=[DealProduct(name="Design", quantity=1, item_price=500)])
    preview = await pipeline.preview("2")
    assert [line.account_code for line in preview.draft.line_items] == ["4000"]
    assert not hasattr(acct.capabilities, "default_account_code")
