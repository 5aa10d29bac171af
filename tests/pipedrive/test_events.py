"""Write-back on invoice events: the reminder activity and notes, never duplicated (KV and remote marker)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from invoicebridge.core.model import Invoice, InvoiceRecord
from invoicebridge.core.status import InvoiceStatus
from invoicebridge.plugins.pipedrive import hooks
from invoicebridge.plugins.pipedrive.backend import PipedriveSource

pytestmark = pytest.mark.anyio


def record(status=InvoiceStatus.AWAITING_PAYMENT, paid="0"):
    return InvoiceRecord(id=1, deal_id="1", backend="xero", remote_id="inv-uuid-1", number="INV-0042", status=status,
                         currency="GBP", total=Decimal("5400.60"), amount_paid=Decimal(paid),
                         amount_due=Decimal("5400.60") - Decimal(paid), contact_name="Acme Ltd",
                         updated_at="2026-11-20T09:30:00")


def invoice():
    return Invoice(remote_id="inv-uuid-1", number="INV-0042", status="AWAITING_PAYMENT", currency="GBP",
                   total=Decimal("5400.60"), contact_name="Acme Ltd", due_date=dt.date(2026, 12, 20))


async def test_invoice_created_adds_reminder_and_note_once(runtime, connection, sandbox, clock):
    deal = await PipedriveSource.open(connection, runtime).get_deal(deal_id="1")
    for _ in range(2):  # the same event handled twice
        await hooks.on_invoice_created(runtime=runtime, record=record(), deal=deal, invoice=invoice())
    activities = [a for a in sandbox.activities.values() if a["deal_id"] == 1]
    assert len(activities) == 1
    a = activities[0]
    assert (a["subject"], a["type"], a["done"]) == ("Send invoice INV-0042 to Acme Ltd", "task", False)
    assert a["due_date"] == (clock.now().date() + dt.timedelta(days=3)).isoformat()
    notes = [n for n in sandbox.notes.values() if n["deal_id"] == 1]
    assert len(notes) == 1 and "INV-0042 created" in notes[0]["content"]


async def test_crash_after_create_is_caught_by_the_remote_marker(runtime, connection, sandbox, store):
    args = dict(deal_id="2", subject="Send invoice INV-7", due_date=None, note="send it", dedupe_key="crash-key")
    first = await PipedriveSource.open(connection, runtime).add_activity(**args)
    store.conn.execute("DELETE FROM kv")  # as if we crashed before remembering it
    again = await PipedriveSource.open(connection, runtime).add_activity(**args)
    assert again == first and len(sandbox.activities) == 1
    note = await PipedriveSource.open(connection, runtime).add_note(deal_id="2", content="x", dedupe_key="n")
    store.conn.execute("DELETE FROM kv")
    assert await PipedriveSource.open(connection, runtime).add_note(deal_id="2", content="x",
                                    dedupe_key="n") == note
    assert len(sandbox.notes) == 1


async def test_settings_switch_reminder_and_notes_off(runtime, connection, sandbox, store):
    store.update_settings({"reminder_enabled": False, "note_on_create": False, "note_on_status_change": False,
                           "reminder_due_days": 7})
    deal = await PipedriveSource.open(connection, runtime).get_deal(deal_id="1")
    await hooks.on_invoice_created(runtime=runtime, record=record(), deal=deal, invoice=invoice())
    await hooks.on_invoice_status_changed(runtime=runtime, record=record(InvoiceStatus.PAID), previous=InvoiceStatus.AWAITING_PAYMENT,
                                          current=InvoiceStatus.PAID)
    assert sandbox.activities == {} and sandbox.notes == {}


async def test_reminder_due_days_setting_is_used(runtime, connection, sandbox, store, clock):
    store.update_settings({"reminder_due_days": 7, "note_on_create": False})
    deal = await PipedriveSource.open(connection, runtime).get_deal(deal_id="1")
    await hooks.on_invoice_created(runtime=runtime, record=record(), deal=deal, invoice=invoice())
    (a,) = sandbox.activities.values()
    assert a["due_date"] == (clock.now().date() + dt.timedelta(days=7)).isoformat()


async def test_status_change_adds_one_note_with_the_label(runtime, connection, sandbox):
    for _ in range(2):
        await hooks.on_invoice_status_changed(runtime=runtime, record=record(InvoiceStatus.AWAITING_PAYMENT, paid="100"),
                                              previous=InvoiceStatus.DRAFT, current=InvoiceStatus.AWAITING_PAYMENT)
    (note,) = sandbox.notes.values()
    assert "INV-0042 is now Partly paid (was Draft)" in note["content"]


async def test_no_crm_connection_means_nothing_happens(runtime, store, sandbox):
    assert store.active_connection("crm") is None
    deal = None
    assert await hooks.on_invoice_created(runtime=runtime, record=record(), deal=deal, invoice=invoice()) is None
    assert sandbox.requests == []


async def test_reminder_uses_an_activity_type_the_company_has(runtime, connection, sandbox):
    """Fact sheet §5.1: ``type`` must be a ``key_string`` from GET /v1/activityTypes, and companies edit their types,
    so the key is looked up rather than hard-coded: with "task" deactivated the reminder is still created."""
    sandbox.activity_types["task"] = False
    await PipedriveSource.open(connection, runtime).add_activity(deal_id="2", subject="Send invoice INV-8",
                                 due_date=None, note="send it", dedupe_key="no-task")
    [activity] = [a for a in sandbox.activities.values() if a["deal_id"] == 2]
    assert activity["type"] == "deadline"
