"""Status updates in a legal order when a webhook races the reconciliation: a stale read applied after a newer
one changes nothing and the timeline says why; an impossible transition is refused with its reason."""

from __future__ import annotations

import random

import pytest
from faultkit import FaultPlan, World

from invoicebridge.core.status import InvoiceStatus

pytestmark = pytest.mark.anyio


async def test_a_stale_read_finishing_after_a_newer_one_does_not_undo_a_payment(tmp_path):
    world = World(seed=3, workdir=tmp_path, plan=FaultPlan(rng=random.Random(3), fault_rate=0.0, crash_rate=0.0))
    worker = world.start_worker()
    record = await worker.create_invoice(world.deals[0], key="k1")
    xero = world.xero.state
    xero.set_status(record.remote_id, "AUTHORISED")
    world.clock.advance(5)
    # the reconciliation reads now (Awaiting payment) ...
    [stale] = await worker.plugins.get_invoices(worker.runtime, connection=worker.accounting, remote_ids=[record.remote_id])
    world.clock.advance(5)
    xero.add_payment(record.remote_id)
    # ... the payment's webhook is processed first ...
    report = await worker.sync_invoices([record.remote_id], source="webhook")
    assert report.changed == 1 and worker.store.get_invoice(record.id).status is InvoiceStatus.PAID
    # ... then the reconciliation applies what it read before the payment
    after = await worker.apply_remote(record, stale, source="reconciliation")
    assert after.status is InvoiceStatus.PAID and worker.store.get_invoice(record.id).status is InvoiceStatus.PAID
    [why] = [e for e in worker.store.audit_entries(invoice_id=record.id) if e["kind"] == "status_stale"]
    assert "older than the Paid already applied" in why["message"] and why["data"]["observed"] == "AWAITING_PAYMENT"
    # a payment really removed later (a newer observation) is applied
    world.clock.advance(5)
    payment = next(iter(xero.payments))
    xero.remove_payment(payment)
    await worker.sync_invoices([record.remote_id], source="webhook")
    assert worker.store.get_invoice(record.id).status is InvoiceStatus.AWAITING_PAYMENT


async def test_an_impossible_transition_is_refused_and_the_timeline_says_why(tmp_path):
    world = World(seed=4, workdir=tmp_path, plan=FaultPlan(rng=random.Random(4), fault_rate=0.0, crash_rate=0.0))
    worker = world.start_worker()
    record = await worker.create_invoice(world.deals[0], key="k1")
    world.xero.state.set_status(record.remote_id, "AUTHORISED")
    world.clock.advance(5)
    await worker.sync_invoices([record.remote_id])
    world.xero.state.invoices[record.remote_id].status = "DRAFT"  # what Xero never does: approved back to draft
    world.xero.state.invoices[record.remote_id].updated = world.clock.now()
    world.clock.advance(5)
    await worker.sync_invoices([record.remote_id])
    assert worker.store.get_invoice(record.id).status is InvoiceStatus.AWAITING_PAYMENT
    [why] = [e for e in worker.store.audit_entries(invoice_id=record.id) if e["kind"] == "status_rejected"]
    assert why["data"]["observed"] == "DRAFT" and "Draft" in why["message"]
