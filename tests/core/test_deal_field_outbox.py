"""The deal-field write-back (issue #11 item 4): the deal fields chosen in the settings get the invoice's number
and status on creation and on each change, through the outbox (kind ``crm_deal_field``): one row per invoice with
the latest values, so a later status replaces one not sent yet, and a crash between the steps neither loses the
latest value nor writes a stale one last."""

import datetime as dt

import pytest

from invoicebridge.core import InvoiceStatus, deal_fields
from invoicebridge.core.errors import ValidationProblem
from invoicebridge.core.outbox import DEAL_FIELDS

from test_reminder_lifecycle import NOW, Crash, observe, rows, world  # noqa: F401 (the fixture)

pytestmark = pytest.mark.anyio
NUMBER, STATUS = "n" * 40, "s" * 40


@pytest.fixture
def fields_world(world):  # noqa: F811
    pipeline = world[0]
    pipeline.store.update_settings({"reminder_enabled": False, "note_on_create": False, "note_on_status_change": False,
                                    "deal_field_invoice_number": NUMBER, "deal_field_invoice_status": STATUS})
    return world


async def test_nothing_is_written_into_deal_fields_unless_chosen(fields_world):
    pipeline, crm, acct, _ = fields_world
    pipeline.store.update_settings({"deal_field_invoice_number": "", "deal_field_invoice_status": ""})
    record = await pipeline.create_invoice("1", key="c0")
    await observe(pipeline, acct, record, InvoiceStatus.AWAITING_PAYMENT)
    assert getattr(crm, "field_writes", []) == [] and rows(pipeline, DEAL_FIELDS) == []


async def test_creation_and_each_status_change_write_number_and_status_label(fields_world):
    pipeline, crm, acct, _ = fields_world
    pipeline.store.update_settings({"language": "de"})
    record = await pipeline.create_invoice("1", key="c1")
    assert crm.deal_fields["1"] == {NUMBER: "INV-0001", STATUS: "Entwurf"}
    await observe(pipeline, acct, record, InvoiceStatus.AWAITING_PAYMENT)
    await pipeline.recover()
    assert crm.deal_fields["1"] == {NUMBER: "INV-0001", STATUS: "Warten auf Zahlung"}
    assert [op["state"] for op in rows(pipeline, DEAL_FIELDS)] == ["done"]  # one row per invoice


async def test_a_later_status_replaces_one_not_sent_yet(fields_world):
    pipeline, crm, acct, _ = fields_world
    record = await pipeline.create_invoice("1", key="c2")
    crm.set_deal_fields = lambda *a: (_ for _ in ()).throw(OSError("CRM away"))  # the write-backs fail for now
    await observe(pipeline, acct, record, InvoiceStatus.AWAITING_PAYMENT)
    await observe(pipeline, acct, record, InvoiceStatus.PAID)
    del crm.set_deal_fields
    crm.field_writes = []
    await pipeline.recover()
    assert crm.field_writes == [("1", {NUMBER: "INV-0001", STATUS: "Paid"})]  # the stale "Awaiting payment" never sent


async def test_a_crash_between_sending_and_recording_sends_the_latest_again(fields_world):
    """Killed after the CRM call, before the row is done: the next pass (after the lease) sends the values again."""
    pipeline, crm, acct, clock = fields_world
    finish = pipeline.store.finish_if_current

    def crash(key, payload):
        raise Crash(key)

    pipeline.store.finish_if_current = crash
    with pytest.raises(Crash):
        await pipeline.create_invoice("1", key="c3")
    pipeline.store.finish_if_current = finish
    assert [op["state"] for op in rows(pipeline, DEAL_FIELDS)] == ["in_flight"]
    clock["now"] = NOW + dt.timedelta(minutes=3)
    await pipeline.recover()
    assert crm.deal_fields["1"][STATUS] == "Draft"
    assert [op["state"] for op in rows(pipeline, DEAL_FIELDS)] == ["done"]


async def test_a_change_while_an_older_value_is_in_flight_is_sent_after_it(fields_world):
    """A status change lands while the previous values are on their way: the older send must not end the row,
    so the latest value is written last."""
    pipeline, crm, acct, _ = fields_world
    record = await pipeline.create_invoice("1", key="c4")
    sent = crm.set_deal_fields
    changed = []

    async def slow(deal_id, values):
        sent(deal_id, values)
        if not changed:  # the invoice is approved in the accounting system meanwhile
            changed.append(True)
            await observe(pipeline, acct, record, InvoiceStatus.AWAITING_PAYMENT)

    crm.set_deal_fields = slow
    pipeline.store.update_settings({"deal_field_invoice_number": NUMBER, "deal_field_invoice_status": STATUS,
                                    "language": "en"})
    await observe(pipeline, acct, record, InvoiceStatus.AWAITING_APPROVAL)
    await pipeline.recover()
    assert crm.field_writes[-1] == ("1", {NUMBER: "INV-0001", STATUS: "Awaiting payment"})
    assert [op["state"] for op in rows(pipeline, DEAL_FIELDS)] == ["done"]


async def test_the_choice_is_checked_against_the_crm_fields(fields_world):
    pipeline, *_ = fields_world
    assert [f.key for f in await deal_fields.choices(pipeline)] == [NUMBER, STATUS]
    with pytest.raises(ValidationProblem) as refused:
        await deal_fields.save(pipeline, {"invoice_status": "x" * 40})
    assert refused.value.status_code == 422 and "Invoice status" in refused.value.message
    assert pipeline.store.get_settings()["deal_field_invoice_status"] == STATUS  # nothing stored
    with pytest.raises(ValidationProblem):
        await deal_fields.save(pipeline, {"invoice_colour": NUMBER})
    assert await deal_fields.save(pipeline, {"invoice_number": None}) == {"invoice_number": None, "invoice_status": STATUS}
