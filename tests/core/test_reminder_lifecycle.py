"""The reminder's lifecycle and the CRM write-backs as outbox rows: one reminder per invoice, made when the invoice
can be sent, marked done when it is emailed (by us or in the accounting system), paid, voided or deleted; each
write-back survives a crash between its steps and is sent once."""

import datetime as dt

import attrs
import pytest
from memory_world import NOW, Crash, memory_world

from invoicebridge.core import InvoiceStatus
from invoicebridge.core.outbox import ACTIVITY, COMPLETE, NOTE

pytestmark = pytest.mark.anyio


@pytest.fixture
def world(store):
    pipeline, crm, acct, clock = memory_world(store)
    crm.completed = []
    return pipeline, crm, acct, clock


def reminder_key(record):
    return f"invoice:memacct:{record.remote_id}:reminder"


def rows(pipeline, kind):
    return [op for op in pipeline.store.operations(states=("pending", "in_flight", "done", "failed", "dead", "cancelled"),
                                                   kinds=(kind,))]


async def observe(pipeline, acct, record, status=None, **changes):
    key = acct.by_remote(record.remote_id)
    if status is not None:
        acct.set_status(record.remote_id, status)
    acct.invoices[key] = attrs.evolve(acct.invoices[key], **changes)
    await pipeline.sync_invoices([record.remote_id])
    return pipeline.store.get_invoice(record.id)


async def test_a_draft_gets_no_reminder_until_it_can_be_sent(world):
    pipeline, crm, acct, _ = world
    record = await pipeline.create_invoice("1", key="d1")
    assert record.status is InvoiceStatus.DRAFT and crm.activities == {}
    await observe(pipeline, acct, record, InvoiceStatus.AWAITING_APPROVAL)
    assert crm.activities == {}
    await observe(pipeline, acct, record, InvoiceStatus.AWAITING_PAYMENT)
    assert list(crm.activities) == [reminder_key(record)]
    assert crm.activities[reminder_key(record)][1] == "Send invoice INV-0001 to Acme Ltd"
    await pipeline.recover()
    assert len(crm.activities) == 1 and [op["state"] for op in rows(pipeline, ACTIVITY)] == ["done"]


async def test_an_invoice_created_awaiting_payment_gets_its_reminder_at_once(world):
    pipeline, crm, acct, clock = world
    record = await pipeline.create_invoice("1", key="a1", overrides={"status": "AWAITING_PAYMENT"})
    assert crm.activities[reminder_key(record)] == ("1", "Send invoice INV-0001 to Acme Ltd", NOW.date() + dt.timedelta(days=3))


async def test_emailing_through_invoicebridge_marks_the_reminder_done(world):
    pipeline, crm, acct, _ = world
    record = await pipeline.create_invoice("1", key="e1", overrides={"status": "AWAITING_PAYMENT"})
    updated = await pipeline.command(record.id, "email")
    assert updated.sent and crm.completed == [reminder_key(record)]
    await pipeline.command(record.id, "email")  # sent again: nothing more to close
    assert crm.completed == [reminder_key(record)] and len(rows(pipeline, COMPLETE)) == 1


async def test_an_invoice_emailed_in_the_accounting_system_marks_the_reminder_done(world):
    pipeline, crm, acct, _ = world
    record = await pipeline.create_invoice("1", key="s1", overrides={"status": "AWAITING_PAYMENT"})
    updated = await observe(pipeline, acct, record, sent=True)
    assert updated.sent and updated.status is InvoiceStatus.AWAITING_PAYMENT
    assert crm.completed == [reminder_key(record)]
    assert "emailed" in [e["kind"] for e in pipeline.store.audit_entries(invoice_id=record.id)]


@pytest.mark.parametrize("status", [InvoiceStatus.PAID, InvoiceStatus.VOIDED])
async def test_paid_or_voided_marks_the_reminder_done(world, status):
    pipeline, crm, acct, _ = world
    record = await pipeline.create_invoice("1", key="p1", overrides={"status": "AWAITING_PAYMENT"})
    await observe(pipeline, acct, record, status)
    assert crm.completed == [reminder_key(record)]


async def test_a_deleted_draft_never_had_a_reminder_and_gets_no_completion(world):
    pipeline, crm, acct, _ = world
    record = await pipeline.create_invoice("1", key="x1")
    await observe(pipeline, acct, record, InvoiceStatus.DELETED)
    assert crm.activities == {} and crm.completed == [] and rows(pipeline, COMPLETE) == []


async def test_a_reminder_not_sent_yet_is_cancelled_when_the_invoice_is_paid(world):
    pipeline, crm, acct, _ = world

    add_activity = crm.add_activity

    def down(deal_id, subject, due_date, note, dedupe_key, **kwargs):
        raise ConnectionError("the CRM is down")

    crm.add_activity = down
    record = await pipeline.create_invoice("1", key="c1", overrides={"status": "AWAITING_PAYMENT"})
    assert [op["state"] for op in rows(pipeline, ACTIVITY)] == ["failed"]
    crm.add_activity = add_activity
    await observe(pipeline, acct, record, InvoiceStatus.PAID)
    await pipeline.recover()
    assert [op["state"] for op in rows(pipeline, ACTIVITY)] == ["cancelled"]
    assert crm.activities == {} and crm.completed == []


async def test_a_crash_after_the_reminder_is_made_but_before_it_is_recorded_makes_it_once(world):
    """Killed between the CRM call and marking the outbox row done: the next pass after the lease sends it again
    with the same dedupe key (the plugin finds it), and the completion waits for it."""
    pipeline, crm, acct, clock = world
    calls = []

    finish = pipeline.store.finish_operation

    def crash_on_reminder(key, **kwargs):
        if key.endswith(":reminder") and not calls:
            calls.append(key)
            raise Crash(key)
        finish(key, **kwargs)

    pipeline.store.finish_operation = crash_on_reminder
    with pytest.raises(Crash):
        await pipeline.create_invoice("1", key="k1", overrides={"status": "AWAITING_PAYMENT"})
    record = pipeline.store.invoices_for_deal("1")[0]
    assert list(crm.activities) == [reminder_key(record)]
    assert [op["state"] for op in rows(pipeline, ACTIVITY)] == ["in_flight"]
    await observe(pipeline, acct, record, InvoiceStatus.PAID)  # settled while the reminder's row is in flight
    assert crm.completed == []  # waits for the reminder's row
    clock["now"] = NOW + dt.timedelta(minutes=3)  # the dead worker's lease is over
    await pipeline.recover()
    assert len(crm.activities) == 1 and crm.completed == [reminder_key(record)]
    assert [op["state"] for op in rows(pipeline, ACTIVITY) + rows(pipeline, COMPLETE)] == ["done", "done"]


async def test_a_crash_before_the_completion_is_recorded_completes_once(world):
    pipeline, crm, acct, clock = world
    record = await pipeline.create_invoice("1", key="k2", overrides={"status": "AWAITING_PAYMENT"})
    finish = pipeline.store.finish_operation

    def crash_on_done(key, **kwargs):
        if key.endswith(":reminder:done"):
            raise Crash(key)
        finish(key, **kwargs)

    pipeline.store.finish_operation = crash_on_done
    with pytest.raises(Crash):
        await observe(pipeline, acct, record, InvoiceStatus.PAID)
    pipeline.store.finish_operation = finish
    clock["now"] = NOW + dt.timedelta(minutes=3)
    await pipeline.recover()
    assert crm.completed == [reminder_key(record)]
    assert [op["state"] for op in rows(pipeline, COMPLETE)] == ["done"]


async def test_settings_choose_the_reminder_and_notes(world):
    pipeline, crm, acct, _ = world
    pipeline.store.update_settings({"reminder_enabled": False, "note_on_create": False, "note_on_status_change": False})
    record = await pipeline.create_invoice("1", key="n1", overrides={"status": "AWAITING_PAYMENT"})
    await observe(pipeline, acct, record, InvoiceStatus.PAID)
    assert crm.activities == {} and crm.notes == {} and rows(pipeline, NOTE) == []
    pipeline.store.update_settings({"reminder_enabled": True, "reminder_due_days": 7, "note_on_create": True})
    other = await pipeline.create_invoice("1", key="n2", overrides={"status": "AWAITING_PAYMENT"})
    assert crm.activities[reminder_key(other)][2] == NOW.date() + dt.timedelta(days=7)


async def test_a_status_change_adds_one_note_with_the_label_in_the_settings_language(world):
    pipeline, crm, acct, _ = world
    pipeline.store.update_settings({"language": "de"})
    record = await pipeline.create_invoice("1", key="l1")
    await observe(pipeline, acct, record, InvoiceStatus.AWAITING_PAYMENT)
    await pipeline.recover()
    status_notes = [content for _deal, content in crm.notes.values() if "(vorher " in content]
    assert len(status_notes) == 1 and "INV-0001" in status_notes[0] and "„Entwurf“" in status_notes[0]
    assert crm.activities[reminder_key(record)][1] == "Rechnung INV-0001 an Acme Ltd senden"
