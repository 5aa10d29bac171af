import datetime as dt
import json
import re
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from memory_world import NOW, memory_world

from invoicebridge.core import (
    Deal,
    DealProduct,
    IllegalTransition,
    InvoiceStatus,
    MappingError,
    Organization,
    Person,
    ServerError,
    WebhookRejected,
    WebhookRequest,
)
from invoicebridge.core.errors import DuplicateOperation, ValidationProblem
from invoicebridge.core.opkeys import legacy_operation_keys
from invoicebridge.core.pipeline import operation_key

pytestmark = pytest.mark.anyio


@pytest.fixture
def world(store):
    org = Organization(id="5", name="Acme Ltd")
    return memory_world(store, deals=[
        Deal(id="1", title="Website", value=0, currency="GBP", organization=org,
             person=Person(id="9", name="Ann", emails=["ann@acme.test"]),
             products=[DealProduct(name="Consulting", quantity=10, item_price=120, tax_percent=20, code="CONSULT-HR")]),
        Deal(id="2", title="No org", value=100, currency="GBP"),
        Deal(id="3", title="Dollars", value=100, currency="USD", organization=org)])


async def test_create_records_the_invoice_audits_and_fires_created(world):
    pipeline, crm, acct, _ = world
    record = await pipeline.create_invoice("1", key="k1")
    assert record.number == "INV-0001" and record.status is InvoiceStatus.DRAFT
    assert record.total == Decimal("1440.00")
    assert pipeline.store.get_operation(operation_key("api", "k1"))["state"] == "done"
    assert [a["kind"] for a in pipeline.store.audit_entries(invoice_id=record.id)] == ["invoice_created"]
    assert crm.activities == {}  # a draft cannot be sent yet: no reminder
    assert list(crm.notes.values()) == [("1", "Invoice INV-0001 created (Draft), total £1,440.00, due Mar 27, 2026.")]


async def test_same_key_twice_gives_one_invoice(world):
    pipeline, _, acct, _ = world
    first = await pipeline.create_invoice("1", key="click")
    second = await pipeline.create_invoice("1", key="click")
    assert first.id == second.id
    assert len(acct.invoices) == 1 and pipeline.store.count_invoices() == 1


async def test_same_key_different_request_is_refused(world):
    pipeline, *_ = world
    await pipeline.create_invoice("1", key="k")
    with pytest.raises(DuplicateOperation):
        await pipeline.create_invoice("1", key="k", overrides={"reference": "other"})


async def test_crash_after_remote_create_is_recovered_without_a_second_invoice(world):
    pipeline, crm, acct, clock = world

    original = pipeline._record_created

    async def crash(*a, **kw):
        raise SystemExit("killed after the backend created the invoice")

    pipeline._record_created = crash
    with pytest.raises(SystemExit):
        await pipeline.create_invoice("1", key="crashy")
    pipeline._record_created = original
    assert len(acct.invoices) == 1 and pipeline.store.count_invoices() == 0
    clock["now"] = NOW + dt.timedelta(minutes=10)  # lease over, idempotency window long gone
    assert await pipeline.recover() == 1
    assert len(acct.invoices) == 1 and pipeline.store.count_invoices() == 1
    assert "find" in acct.calls and acct.calls.count("create") == 1
    assert "found after a restart" in pipeline.store.audit_entries(deal_id="1")[-1]["message"]


async def test_retryable_failure_is_kept_and_retried(world):
    pipeline, _, acct, _ = world
    acct.fail_next.append(ServerError("Xero is down", status=503))
    with pytest.raises(Exception, match="retried"):
        await pipeline.create_invoice("1", key="flaky")
    op = pipeline.store.get_operation(operation_key("api", "flaky"))
    assert op["state"] == "failed" and "Xero is down" in op["last_error"]
    item = await pipeline.retry_operation(operation_key("api", "flaky"))
    assert item.record is not None and len(acct.invoices) == 1


async def test_per_invoice_rejection_is_final_and_visible(world):
    pipeline, *_ = world
    with pytest.raises(Exception, match="REJECT is refused"):
        await pipeline.create_invoice("1", key="bad", overrides={"reference": "REJECT"})
    assert pipeline.store.get_operation(operation_key("api", "bad"))["state"] == "dead"
    assert pipeline.store.audit_entries(deal_id="1")[-1]["kind"] == "create_failed"


async def test_unmappable_deal_raises_mapping_error_and_writes_nothing(world):
    pipeline, _, acct, _ = world
    with pytest.raises(MappingError, match="Deal 2"):
        await pipeline.create_invoice("2", key="nomap")
    assert acct.invoices == {} and pipeline.store.operations() == []


async def test_preview_finds_currency_not_enabled_and_bad_lines(world):
    pipeline, *_ = world
    preview = await pipeline.preview("3", {"line_items": [{"description": "X", "quantity": 1, "unit_amount": 5, "item_code": "NOPE", "tax_type": "ZZZ"}]})
    text = " ".join(preview.problems)
    assert "USD is not enabled" in text and "'NOPE'" in text and "'ZZZ'" in text
    with pytest.raises(ValidationProblem, match="quantity must be more than 0"):
        await pipeline.preview("1", {"line_items": [{"description": "X", "quantity": "-2", "unit_amount": 5}]})
    with pytest.raises(ValidationProblem, match="quantity must be a number"):
        await pipeline.preview("1", {"line_items": [{"description": "X", "quantity": "two", "unit_amount": 5}]})


async def test_item_code_fills_line_from_catalog(world):
    pipeline, *_ = world
    preview = await pipeline.preview("1", {"line_items": [{"item_code": "CONSULT-HR", "quantity": 2}]})
    line = preview.draft.line_items[0]
    assert (line.description, line.unit_amount, line.tax_type, line.tax_percent) == ("Consulting per hour", Decimal("120.0000"), "OUTPUT2", 20)
    assert preview.ok


async def test_commands_follow_the_status_machine(world):
    pipeline, _, acct, _ = world
    record = await pipeline.create_invoice("1", key="c")
    record = await pipeline.command(record.id, "submit")
    assert record.status is InvoiceStatus.AWAITING_APPROVAL
    with pytest.raises(IllegalTransition, match="may not approve invoices"):
        await pipeline.command(record.id, "approve")
    acct.role = "FINANCIALADVISER"
    record = await pipeline.command(record.id, "approve")
    assert record.status is InvoiceStatus.AWAITING_PAYMENT
    with pytest.raises(IllegalTransition, match="Awaiting payment"):
        await pipeline.command(record.id, "delete")


async def test_webhook_sync_applies_status_and_ignores_replays_and_foreign_invoices(world):
    pipeline, _, acct, _ = world
    record = await pipeline.create_invoice("1", key="w")
    acct.set_status(record.remote_id, InvoiceStatus.PAID)
    body = json.dumps([{"id": record.remote_id, "event": "e1"}, {"id": "foreign", "event": "e2"}]).encode()
    ids = await pipeline.accounting_webhook(WebhookRequest(body=body, headers={"X-Sig": "good"}))
    report = await pipeline.sync_invoices(ids)
    assert report.changed == 1
    updated = pipeline.store.get_invoice(record.id)
    assert updated.status is InvoiceStatus.PAID and updated.amount_due == 0
    assert await pipeline.accounting_webhook(WebhookRequest(body=body, headers={"x-sig": "good"})) == []
    with pytest.raises(WebhookRejected):
        await pipeline.accounting_webhook(WebhookRequest(body=body, headers={"x-sig": "forged"}))


async def test_reconciliation_rejects_impossible_changes_and_audits_why(world):
    pipeline, _, acct, _ = world
    record = await pipeline.create_invoice("1", key="r")
    await pipeline.command(record.id, "delete")
    acct.set_status(record.remote_id, InvoiceStatus.AWAITING_PAYMENT)  # a deleted invoice cannot come back
    report = await pipeline.reconcile()
    assert report.rejected == 1
    assert pipeline.store.get_invoice(record.id).status is InvoiceStatus.DELETED
    assert pipeline.store.audit_entries(invoice_id=record.id)[-1]["kind"] == "status_rejected"


async def test_partial_payment_shows_partly_paid(world):
    pipeline, _, acct, _ = world
    record = await pipeline.create_invoice("1", key="p", overrides={"status": "AWAITING_PAYMENT"})
    acct.set_status(record.remote_id, InvoiceStatus.AWAITING_PAYMENT, paid="100")
    await pipeline.reconcile()
    assert pipeline.store.get_invoice(record.id).status_label == "Partly paid"


async def test_deal_won_automation_creates_one_draft_only_when_enabled(world):
    pipeline, crm, acct, _ = world
    assert await pipeline.deal_won("1") is None and crm.won == ["1"]
    pipeline.store.update_settings({"automation_draft_when_won": True})
    record = await pipeline.deal_won("1")
    again = await pipeline.deal_won("1")
    assert record is not None and again is None and len(acct.invoices) == 1


async def test_bulk_creates_in_one_batch_with_per_deal_results(world):
    pipeline, crm, acct, _ = world
    items = await pipeline.create_many(["1", "2", "404"], run_id="run1")
    assert items[0].record is not None
    assert "Deal 2" in items[1].error and "not found" in items[2].error
    assert acct.calls.count("create") == 1
    again = await pipeline.create_many(["1"], run_id="run1")
    assert again[0].record.id == items[0].record.id and len(acct.invoices) == 1


KEY_TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=300) | st.text(alphabet="ab~:-_.%/ #", max_size=140)
SOURCES = st.sampled_from(["api", "page", "bulk", "cli", "automation", "command"])


@settings(max_examples=300, deadline=None)
@given(a=st.tuples(SOURCES, st.lists(KEY_TEXT, min_size=1, max_size=3)),
       b=st.tuples(SOURCES, st.lists(KEY_TEXT, min_size=1, max_size=3)))
def test_operation_keys_are_injective_safe_idempotency_keys(a, b):
    """``ord 42``, ``ord/42`` and ``ord#42`` were all folded to ``ord-42``; and a bulk run's key could equal an
    API key. Now distinct (source, parts) give distinct keys, each printable ASCII within 128 characters, never
    one that an earlier version could have stored (those have no ``~``)."""
    key_a, key_b = operation_key(a[0], *a[1]), operation_key(b[0], *b[1])
    assert (key_a == key_b) == (a == b)
    for key in (key_a, key_b):
        assert len(key) <= 128 and re.fullmatch(r"[A-Za-z0-9._:~-]+", key)
    for old in legacy_operation_keys(a[0], *a[1]):
        assert "~" not in old and old != key_a


def test_operation_keys_of_the_issue_are_all_different():
    keys = {operation_key("api", k) for k in ("ord 42", "ord/42", "ord#42", "ord-42", "ord~2042", "ord~20" + "42")}
    assert len(keys) == 5  # the last two are the same string
    assert operation_key("api", "K-2") != operation_key("bulk", "api-K", "2")
    assert operation_key("automation", "5") != operation_key("bulk", "won", "5")
    assert len({operation_key("api", "x" * n) for n in range(90, 140)}) == 50
    with pytest.raises(ValueError):
        operation_key("API", "k")


async def test_an_operation_written_before_keys_were_namespaced_is_found_on_replay(world):
    """Upgrade: the previous version stored Idempotency-Key "ord-42" as "api-ord-42" and crashed before the
    invoice was made. The client replaying "ord-42" after the upgrade must finish that operation, not make a
    second invoice; another source or another deal never takes it over."""
    pipeline, crm, acct, clock = world
    from invoicebridge.core.serde import dump_draft
    from invoicebridge.core.pipeline import request_hash

    draft = (await pipeline.preview("1")).draft
    pipeline.store.put_operation("api-ord-42", kind="create", deal_id="1", payload={"draft": dump_draft(draft), "source": "api"},
                                 request_hash=request_hash({"deal_id": "1", "overrides": {}}))
    assert pipeline.stored_key("bulk", "api-ord", "42", deal_id="1") == operation_key("bulk", "api-ord", "42")
    assert pipeline.stored_key("api", "ord-42", deal_id="2") == operation_key("api", "ord-42")
    record = await pipeline.create_invoice("1", key="ord-42")
    assert record.operation_key == "api-ord-42" and len(acct.invoices) == 1
    again = await pipeline.create_invoice("1", key="ord-42")
    assert again.id == record.id and len(acct.invoices) == 1
    # a bulk run of the old version ("r1-1") is found by the same run id too
    pipeline.store.put_operation("r1-3", kind="create", deal_id="3", payload={"draft": dump_draft(draft), "source": "bulk"})
    assert pipeline.stored_key("bulk", "r1", "3", deal_id="3") == "r1-3"
    assert pipeline.stored_key("cli", "r1", "3", deal_id="3") == "r1-3"
    assert pipeline.stored_key("api", "r1-3", deal_id="3") == operation_key("api", "r1-3")


async def test_deal_page_snapshot_saves_crm_calls_and_a_crm_webhook_drops_it(world):
    pipeline, crm, _, clock = world
    await pipeline.deal_for_display("1")
    await pipeline.deal_for_display("1")
    assert crm.reads == 1
    body = json.dumps({"kind": "deal_changed", "deal": "1", "id": "ev-1"}).encode()
    await pipeline.crm_webhook(WebhookRequest(body=body, headers={"x-secret": "s3cret"}))
    await pipeline.deal_for_display("1")
    assert crm.reads == 2
    clock["now"] = NOW + dt.timedelta(seconds=31)
    await pipeline.deal_for_display("1")
    assert crm.reads == 3
    await pipeline.preview("1")  # previews and creates always read the CRM
    assert crm.reads == 4


async def test_a_won_deal_whose_draft_failed_is_retried_by_recover(world):
    pipeline, crm, acct, clock = world
    pipeline.store.update_settings({"automation_draft_when_won": True})
    body = json.dumps({"kind": "deal_won", "deal": "1", "id": "won-ev"}).encode()
    assert await pipeline.crm_webhook(WebhookRequest(body=body, headers={"x-secret": "s3cret"})) == ["1"]
    acct.fail_next.append(ServerError("Xero is down", status=503))
    assert await pipeline.deal_won("1") is None and acct.invoices == {}
    assert "will be retried" in pipeline.store.audit_entries(deal_id="1")[-1]["message"]
    clock["now"] = NOW + dt.timedelta(minutes=10)
    await pipeline.recover()
    assert len(acct.invoices) == 1 and len(pipeline.store.invoices_for_deal("1")) == 1
    await pipeline.recover()  # nothing left to do: still one
    assert len(acct.invoices) == 1


async def test_a_won_deal_that_cannot_be_mapped_is_not_retried_forever(world):
    pipeline, crm, acct, _ = world
    pipeline.store.update_settings({"automation_draft_when_won": True})
    body = json.dumps({"kind": "deal_won", "deal": "2", "id": "won-2"}).encode()
    await pipeline.crm_webhook(WebhookRequest(body=body, headers={"x-secret": "s3cret"}))
    assert await pipeline.deal_won("2") is None
    assert "no organization" in pipeline.store.audit_entries(deal_id="2")[-1]["message"]
    assert pipeline.store.get_operation("automation:2")["state"] == "dead"  # a person must fix the deal


async def test_a_sync_pass_while_a_create_writes_back_does_not_write_back_to_the_deal_twice(world):
    """The record commits with its write-back marked pending, then the reminder and note are written. A
    reconciliation (loop, POST /api/sync) running meanwhile finishes pending write-backs: it must leave one
    that is being written alone, or the deal gets two reminders (the CRM plugin's dedupe reads, then writes)."""
    import anyio

    pipeline, crm, acct, _ = world
    calls, gate, inside = [], anyio.Event(), anyio.Event()
    add_note = crm.add_note

    async def slow_note(deal_id, content, dedupe_key, **kwargs):
        calls.append(dedupe_key)
        inside.set()
        await gate.wait()  # then the CRM adds it
        return add_note(deal_id, content, dedupe_key, **kwargs)

    crm.add_note = slow_note
    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: pipeline.create_invoice("1", key="slow"))
        await inside.wait()  # (not wait_all_tasks_blocked: a task awaiting the store's writer thread counts as blocked)
        assert len(calls) == 1  # the create is inside its write-back
        await pipeline.recover()  # a whole pass while the note is being written
        gate.set()
    assert len(calls) == 1
    assert not pipeline._pending_writebacks()


async def test_dashboard_deal_list_is_a_snapshot_dropped_by_crm_webhooks(world):
    pipeline, crm, _, clock = world

    calls = []
    original = crm.get_deals

    async def counting(deal_ids):
        calls.append(list(deal_ids))
        return await original(deal_ids)

    crm.find_deals = lambda query: sorted(crm.deals)
    crm.get_deals = counting
    first = await pipeline.recent_deals()
    await pipeline.recent_deals()
    assert [d.id for d in first] == ["1", "2", "3"] and len(calls) == 1
    body = json.dumps({"kind": "deal_changed", "deal": "2", "id": "ev-9"}).encode()
    await pipeline.crm_webhook(WebhookRequest(body=body, headers={"x-secret": "s3cret"}))
    await pipeline.recent_deals()
    clock["now"] = NOW + dt.timedelta(seconds=31)
    await pipeline.recent_deals()
    assert len(calls) == 3


async def test_capabilities_are_kept_by_the_registry_until_the_connection_changes(world, monkeypatch):
    """Pages ask for the accounting backend's capabilities several times a request: the registry keeps them per
    connection instead of asking the plugin each time, and another connection is looked up afresh."""
    pipeline, _, acct, _ = world
    reads = []
    real = type(acct).info
    monkeypatch.setattr(type(acct), "info", property(lambda self: reads.append(1) or real.fget(self)))
    first = pipeline.capabilities()
    reads.clear()
    assert pipeline.capabilities() is first and pipeline.capabilities() is first and reads == []
    pipeline.store.add_connection(backend="memacct", role="accounting", label="Other books")
    assert pipeline.capabilities() == first and len(reads) == 1
