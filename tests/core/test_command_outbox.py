"""Status commands are outbox rows of kind ``command``: written before the accounting system is called, sent
under a lease, retried after a failure that may pass (a 429) or a crash, and never sent twice."""

import datetime as dt

import attrs
import pytest
from memory_world import NOW, Crash, memory_world

from invoicebridge.core import InvoiceStatus, RateLimited
from invoicebridge.core.commands import COMMAND
from invoicebridge.core.status import Command

pytestmark = pytest.mark.anyio


@pytest.fixture
def world(store):
    pipeline, _crm, acct, clock = memory_world(store)
    sent = []
    real = acct.change_status

    def change_status(remote_id, command, operation_key):
        sent.append((command, operation_key))
        if command is Command.EMAIL:  # the backend records that the invoice went to the customer
            key = acct.by_remote(remote_id)
            acct.invoices[key] = attrs.evolve(acct.invoices[key], sent=True)
        return real(remote_id, command, operation_key)

    acct.change_status = change_status
    return pipeline, acct, clock, sent


def rows(pipeline):
    return [(op["state"], op["attempts"]) for op in pipeline.store.operations(
        states=("pending", "in_flight", "done", "failed", "dead", "cancelled"), kinds=(COMMAND,))]


async def test_a_command_is_a_row_done_once_even_when_asked_twice(world):
    pipeline, _acct, _clock, sent = world
    record = await pipeline.create_invoice("1", key="c1")
    updated = await pipeline.command(record.id, "submit")
    assert updated.status is InvoiceStatus.AWAITING_APPROVAL and rows(pipeline) == [("done", 1)]
    op_key = sent[0][1]
    assert pipeline.store.get_operation(op_key)["kind"] == COMMAND
    # the same command on the same version (a double click that raced the first answer) is that row: not sent again
    again = await pipeline._run_command(pipeline.store.get_operation(op_key))
    assert again.status is InvoiceStatus.AWAITING_APPROVAL and len(sent) == 1


async def test_a_429_mid_command_is_retried_by_recover_not_lost(world):
    pipeline, acct, clock, sent = world
    record = await pipeline.create_invoice("1", key="c2")
    real = acct.change_status
    acct.change_status = lambda *a, **k: (_ for _ in ()).throw(RateLimited("too many requests", retry_after=30))
    with pytest.raises(RateLimited):
        await pipeline.command(record.id, "submit")
    assert rows(pipeline) == [("failed", 1)]
    acct.change_status = real
    await pipeline.recover()  # its next try (after Retry-After) has not come
    assert rows(pipeline) == [("failed", 1)] and sent == []
    clock["now"] = NOW + dt.timedelta(seconds=31)
    await pipeline.recover()
    assert rows(pipeline) == [("done", 2)] and len(sent) == 1
    assert pipeline.store.get_invoice(record.id).status is InvoiceStatus.AWAITING_APPROVAL


@pytest.mark.parametrize("command", ["submit", "email"])
async def test_a_kill_after_the_backend_did_it_is_recorded_not_sent_again(world, command):
    pipeline, acct, clock, sent = world
    record = await pipeline.create_invoice("1", key="c3", overrides={"status": "AWAITING_PAYMENT" if command == "email" else "DRAFT"})
    real = pipeline.apply_remote

    async def die(*a, **k):
        raise Crash("killed after the backend answered")

    pipeline.apply_remote = die
    with pytest.raises(Crash):
        await pipeline.command(record.id, command)
    pipeline.apply_remote = real
    assert rows(pipeline) == [("in_flight", 1)] and len(sent) == 1
    await pipeline.recover()  # the lease is not over and its holder is alive: left alone
    assert rows(pipeline) == [("in_flight", 1)]
    clock["now"] = NOW + dt.timedelta(minutes=6)
    await pipeline.recover()
    assert rows(pipeline) == [("done", 2)] and len(sent) == 1  # looked, found it done, recorded it
    after = pipeline.store.get_invoice(record.id)
    assert after.status is InvoiceStatus.AWAITING_APPROVAL if command == "submit" else after.sent


async def test_a_kill_before_the_call_sends_it_once_on_the_next_pass(world):
    pipeline, _acct, clock, sent = world
    record = await pipeline.create_invoice("1", key="c4")
    real = pipeline.plugins.change_status

    async def die(*a, **k):
        raise Crash("killed before the call")

    pipeline.plugins.change_status = die
    with pytest.raises(Crash):
        await pipeline.command(record.id, "submit")
    pipeline.plugins.change_status = real
    clock["now"] = NOW + dt.timedelta(minutes=6)
    await pipeline.recover()
    await pipeline.recover()
    assert rows(pipeline) == [("done", 2)] and len(sent) == 1
    assert pipeline.store.get_invoice(record.id).status is InvoiceStatus.AWAITING_APPROVAL


async def test_a_queued_command_whose_invoice_moved_on_is_cancelled_unsent(world):
    pipeline, acct, _clock, sent = world
    record = await pipeline.create_invoice("1", key="c5")
    await pipeline.queue_command(record, Command.SUBMIT)  # written, then the process died before claiming it
    acct.set_status(record.remote_id, InvoiceStatus.DELETED)
    await pipeline.sync_invoices([record.remote_id])
    await pipeline.recover()
    assert rows(pipeline) == [("cancelled", 1)] and sent == []
