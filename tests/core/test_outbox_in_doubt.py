"""What the outbox tells a CRM plugin about each write-back: whether an earlier attempt may have reached the CRM
(``in_doubt``), and, to close a reminder, the id the CRM gave it. The plugin keeps no state of its own for this."""

from __future__ import annotations

import datetime as dt

import pytest
from memory_world import NOW, memory_world

from invoicebridge.core import Deal, DealProduct, InvoiceStatus, Organization
from invoicebridge.core.outbox import NOTE

pytestmark = pytest.mark.anyio


@pytest.fixture
def world(store):
    deal = Deal(id="1", title="Website", value=0, currency="GBP", organization=Organization(id="5", name="Acme Ltd"),
                products=[DealProduct(name="Consulting", quantity=1, item_price=100, tax_percent=20, code="CONSULT-HR")])
    return memory_world(store, deals=[deal])


async def test_a_first_attempt_is_not_in_doubt_and_a_retry_after_a_sent_one_is(world):
    pipeline, crm, _acct, clock = world
    add_note = crm.add_note

    def lost_answer(deal_id, content, dedupe_key, **kwargs):
        add_note(deal_id, content, dedupe_key, **kwargs)  # the CRM made it; the answer never came back
        raise ConnectionError("connection reset")

    crm.add_note = lost_answer
    record = await pipeline.create_invoice("1", key="k1", overrides={"status": "AWAITING_PAYMENT"})
    crm.add_note = add_note
    clock["now"] = NOW + dt.timedelta(minutes=1)
    await pipeline.recover()
    notes = [(kind, doubt) for kind, _key, doubt in crm.sends if kind == "note"]
    assert notes == [("note", False), ("note", True)]  # the retry says it may exist already
    assert [(kind, doubt) for kind, _key, doubt in crm.sends if kind == "activity"] == [("activity", False)]
    assert [op["state"] for op in pipeline.store.operations(states=("done", "failed", "pending", "in_flight"), kinds=(NOTE,))] \
        == ["done"] and len(crm.notes) == 1 and record.id


async def test_closing_the_reminder_passes_the_id_the_crm_gave_it(world):
    pipeline, crm, acct, _clock = world
    record = await pipeline.create_invoice("1", key="k1", overrides={"status": "AWAITING_PAYMENT"})
    acct.set_status(record.remote_id, InvoiceStatus.PAID)
    await pipeline.sync_invoices([record.remote_id])
    [(kind, key, activity_id)] = [s for s in crm.sends if s[0] == "complete"]
    assert activity_id == key and key in crm.activities  # the id add_activity answered (the fake answers its key)
