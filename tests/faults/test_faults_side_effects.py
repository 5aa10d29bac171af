"""Exactly once under faults for the outbox's other kinds: status commands (``command``) and the automation on
won deals (``automation``), against the real Xero and Pipedrive plugins and their sandboxes (see ``faultkit``).
A kill after the remote side acted, or a dropped answer, neither loses the side effect nor does it twice."""

from __future__ import annotations

import random

import pytest
from faultkit import CLIENT_ID, Crash, FaultPlan, World, unfinished_side_effects

from invoicebridge.core.automation import AUTOMATION_LEASE, automation_key
from invoicebridge.core.errors import InvoiceBridgeError
from invoicebridge.core.commands import COMMAND, COMMAND_LEASE
from invoicebridge.core.status import InvoiceStatus

pytestmark = pytest.mark.anyio


def quiet_world(tmp_path) -> World:
    return World(seed=1, workdir=tmp_path, plan=FaultPlan(rng=random.Random(1), fault_rate=0.0, crash_rate=0.0))


def ours(world: World) -> list:
    return [i for i in world.xero.state.invoices.values() if i.created_by_app == CLIENT_ID]


def command_rows(worker) -> list[tuple[str, int]]:
    return [(op["state"], op["attempts"]) for op in worker.store.operations(
        states=("pending", "in_flight", "done", "failed", "dead", "cancelled"), kinds=(COMMAND,))]


def is_email(request) -> bool:
    return request is not None and request.method == "POST" and request.url.path.endswith("/Email")


async def test_an_email_killed_after_xero_sent_it_is_recorded_and_never_sent_twice(tmp_path):
    world = quiet_world(tmp_path)
    worker = world.start_worker()
    record = await worker.create_invoice(world.deals[0], key="e1", overrides={"status": "AWAITING_PAYMENT"})
    world.plan.rules.append(lambda point, request: point == "transport_after_commit" and is_email(request))
    with pytest.raises(Crash):
        await worker.command(record.id, "email")
    assert world.xero.state.emails == [record.remote_id] and command_rows(worker) == [("in_flight", 1)]
    world.stop_worker(worker)
    world.clock.advance(COMMAND_LEASE + 1)
    worker = world.start_worker()
    await worker.recover()
    await worker.recover()
    assert world.xero.state.emails == [record.remote_id]  # once
    assert command_rows(worker) == [("done", 2)] and worker.store.get_invoice(record.id).sent
    assert unfinished_side_effects(worker) == []


async def test_a_status_command_whose_answer_was_dropped_changes_the_status_once(tmp_path):
    world = quiet_world(tmp_path)
    worker = world.start_worker()
    record = await worker.create_invoice(world.deals[0], key="s1")
    posts = []

    def drop(backend, request):
        if backend == "xero" and request.method == "POST" and request.url.path.endswith(f"/Invoices/{record.remote_id}"):
            posts.append(request)
            return "drop_after_commit" if len(posts) <= 4 else None  # every try of the plugin loses its answer
        return None

    world.plan.fault_rules += [drop] * 4  # a rule is used up by the fault it gives
    with pytest.raises(InvoiceBridgeError):  # the plugin gave up: the answers never came
        await worker.command(record.id, "submit")
    assert command_rows(worker) and command_rows(worker)[0][0] == "failed"
    world.plan.fault_rules.clear()
    world.clock.advance(COMMAND_LEASE + 1)
    await worker.recover()
    [invoice] = ours(world)
    assert invoice.status == "SUBMITTED" and worker.store.get_invoice(record.id).status is InvoiceStatus.AWAITING_APPROVAL
    assert command_rows(worker)[0][0] == "done"
    # the recovery looked before sending: no fifth POST, and Xero changed the status once
    assert len(posts) == 4 and [h["Changes"] for h in invoice.history] == ["Created", "Submitted"]
    assert unfinished_side_effects(worker) == []


async def test_the_automation_killed_after_xero_made_the_draft_makes_one(tmp_path):
    world = quiet_world(tmp_path)
    worker = world.start_worker()
    worker.store.update_settings({"automation_draft_when_won": True})
    deal = world.deals[0]
    world.plan.rules.append(lambda point, request: point == "transport_after_commit" and request is not None
                            and request.method == "PUT" and request.url.path.endswith("/Invoices"))
    with pytest.raises(Crash):
        await worker.deal_won(deal, fire=False)
    assert len(ours(world)) == 1 and worker.store.count_invoices() == 0
    assert worker.store.get_operation(automation_key(deal))["state"] == "in_flight"
    world.stop_worker(worker)
    world.clock.advance(AUTOMATION_LEASE + 7 * 60)  # lease over, and Xero has forgotten the idempotency key
    worker = world.start_worker()
    await worker.recover()
    await worker.recover()
    assert len(ours(world)) == 1 and len(worker.store.invoices_for_deal(deal)) == 1
    assert worker.store.get_operation(automation_key(deal))["state"] == "done"
    assert unfinished_side_effects(worker) == []
