"""Exactly-once creation under faults, crashes, restarts and races: the real Xero and Pipedrive plugins against
their sandboxes (see ``faultkit``). A seeded random run of 150 operations, then one test per crash window."""

from __future__ import annotations

import asyncio
import random

import pytest
from faultkit import CLIENT_ID, Crash, FaultPlan, World, run_soak

from invoicebridge.core.errors import InvoiceBridgeError
from invoicebridge.core.pipeline import LEASE_SECONDS, operation_key
from invoicebridge.plugins.pipedrive.writeback import marker

pytestmark = pytest.mark.anyio
SEED = 20261120

SENDABLE = {"status": "AWAITING_PAYMENT"}  # an invoice that can be sent gets its reminder at once


def quiet_world(tmp_path) -> World:
    """A world with no random faults; tests script their own kills with ``plan.rules``."""
    return World(seed=1, workdir=tmp_path, plan=FaultPlan(rng=random.Random(1), fault_rate=0.0, crash_rate=0.0))


def ours(world: World) -> list:
    return [i for i in world.xero.state.invoices.values() if i.created_by_app == CLIENT_ID]


def reminders(world: World, record) -> list:
    tag = marker(f"invoice:xero:{record.remote_id}:reminder")
    return [a for a in world.pipedrive.activities.values() if tag in (a.get("note") or "")]


def is_invoice_put(point, request) -> bool:
    return request is not None and request.method == "PUT" and request.url.path.endswith("/Invoices")


async def test_random_faults_and_crashes_leave_one_invoice_per_operation(tmp_path):
    world, report = await run_soak(SEED, 150, tmp_path)
    f = report.findings
    print("\n".join(report.lines()))
    assert report.operations >= 150
    # the run really was hostile: every kind of fault, several kinds of kill, forged webhooks
    kinds = {name.split(":", 1)[1] for name in report.faults}
    assert kinds == {"http_500", "timeout_before", "timeout_after_commit", "drop_after_commit", "rate_limit_429",
                     "token_expired"}
    assert report.crashes >= 10 and len(report.crash_points) >= 3
    assert report.webhooks_forged >= 1 and report.forged_accepted == 0
    # ... and yet: Xero invoices = our records = the operations asked for
    assert f["duplicates"] == 0 and f["orphans"] == [] and f["missing"] == [] and f["unasked"] == []
    assert f["xero_invoices"] == f["records"] == f["done"] == report.operations - report.already_invoiced
    assert f["status_mismatches"] == []
    assert f["reminder_problems"] == [] and f["reminders"] == f["reminders_made"] > 0
    assert f["invisible_failures"] == []
    assert f["unfinished_side_effects"] == []
    assert f["deal_field_mismatches"] == [] and f["records"] > 0


async def test_the_same_seed_gives_the_same_run(tmp_path):
    _, first = await run_soak(7, 25, tmp_path / "a")
    _, second = await run_soak(7, 25, tmp_path / "b")
    assert (first.faults, first.crash_points, first.operations) == (second.faults, second.crash_points, second.operations)


async def test_crash_after_xero_committed_is_recovered_after_the_idempotency_window(tmp_path):
    world = quiet_world(tmp_path)
    world.plan.rules.append(lambda point, request: point == "transport_after_commit" and is_invoice_put(point, request))
    worker = world.start_worker()
    with pytest.raises(Crash):
        await worker.create_invoice(world.deals[0], key="click-1", overrides=SENDABLE)
    assert len(ours(world)) == 1 and worker.store.count_invoices() == 0  # Xero has it, we do not know yet
    world.stop_worker(worker)
    world.clock.advance(LEASE_SECONDS + 7 * 60)  # lease over, and Xero has forgotten the idempotency key
    worker = world.start_worker()
    assert await worker.recover() == 1
    assert len(ours(world)) == 1
    [record] = worker.store.all_invoices()
    assert record.remote_id == ours(world)[0].invoice_id and record.operation_key == operation_key("api", "click-1")
    assert len(reminders(world, record)) == 1
    audit = [e["message"] for e in worker.store.audit_entries(invoice_id=record.id)]
    assert any("found after a restart" in m for m in audit)
    # the client sending the request again gets the same invoice
    again = await worker.create_invoice(world.deals[0], key="click-1", overrides=SENDABLE)
    assert again.id == record.id and len(ours(world)) == 1


async def test_two_operations_with_identical_drafts_each_get_their_own_invoice(tmp_path):
    """Two deliberate invoices for one deal (two keys): the second crashes after Xero made it; recovery
    must not adopt the first one's invoice (same contact, reference, date and total)."""
    world = quiet_world(tmp_path)
    worker = world.start_worker()
    first = await worker.create_invoice(world.deals[0], key="first")
    world.plan.rules.append(lambda point, request: point == "transport_after_commit" and is_invoice_put(point, request))
    with pytest.raises(Crash):
        await worker.create_invoice(world.deals[0], key="second")
    world.stop_worker(worker)
    world.clock.advance(LEASE_SECONDS + 7 * 60)
    worker = world.start_worker()
    await worker.recover()
    records = {r.operation_key: r for r in worker.store.all_invoices()}
    records = {k.split("~", 1)[1]: r for k, r in records.items()}
    assert set(records) == {"first", "second"} and records["first"].id == first.id
    assert len(ours(world)) == 2 and records["second"].remote_id != first.remote_id
    assert worker.store.get_operation(operation_key("api", "second"))["record_id"] == records["second"].id


@pytest.mark.parametrize("point", ["store_after_record", "store_after_finish", "hook_before_reminder"])
async def test_crash_between_invoice_and_reminder_still_gives_one_reminder(tmp_path, point):
    world = quiet_world(tmp_path)
    world.plan.rules.append(lambda p, request: p == point)
    worker = world.start_worker()
    with pytest.raises(Crash):
        await worker.create_invoice(world.deals[0], key="k1", overrides=SENDABLE)
    world.stop_worker(worker)
    world.clock.advance(LEASE_SECONDS + 1)
    worker = world.start_worker()
    await worker.recover()
    await worker.recover()  # a second pass changes nothing
    [record] = worker.store.all_invoices()
    assert len(ours(world)) == 1 and len(reminders(world, record)) == 1
    assert worker.store.get_operation(operation_key("api", "k1"))["state"] == "done"


async def test_write_back_failure_is_shown_and_retried_by_the_next_sync_even_with_nothing_else_to_do(tmp_path):
    world = quiet_world(tmp_path)
    world.plan.rules.append(lambda point, request: point == "transport_before_send" and request.method == "POST"
                            and request.url.path.endswith("/activities"))
    worker = world.start_worker()
    with pytest.raises(Crash):
        await worker.create_invoice(world.deals[0], key="k1", overrides=SENDABLE)
    world.stop_worker(worker)
    worker = world.start_worker()
    [record] = worker.store.all_invoices()
    assert reminders(world, record) == []
    await worker.recover()  # the dead worker's claim on the reminder still stands: nothing is sent yet
    assert reminders(world, record) == [] and worker._pending_writebacks()
    world.clock.advance(121)  # the claim of a worker that died runs out after two minutes
    await worker.recover()  # no operation is left over; the pending write-back alone is redone
    assert len(reminders(world, record)) == 1


@pytest.mark.parametrize("path", ["/activities", "/notes"])
async def test_crash_after_the_crm_made_the_write_back_gives_no_second_one(tmp_path, path):
    """The CRM made the reminder (or note) and the worker died before recording the answer. The next run's attempt
    is in doubt (the outbox recorded the send before it left), so the plugin finds it by its marker instead of
    making it again; a plugin or outbox that skipped that look would make a second one."""
    world = quiet_world(tmp_path)
    world.plan.rules.append(lambda point, request: point == "transport_after_commit" and request.method == "POST"
                            and request.url.path.endswith(path))
    worker = world.start_worker()
    with pytest.raises(Crash):
        await worker.create_invoice(world.deals[0], key="k1", overrides=SENDABLE)
    world.stop_worker(worker)
    world.plan.rules.clear()
    world.clock.advance(121)  # the dead worker's lease on the write-back runs out
    worker = world.start_worker()
    [record] = worker.store.all_invoices()
    await worker.recover()
    await worker.recover()  # a second pass changes nothing
    assert len(reminders(world, record)) == 1
    assert len([n for n in world.pipedrive.notes.values() if n["deal_id"] == int(record.deal_id)]) == 1
    assert not worker._pending_writebacks()


async def test_bulk_batches_whose_lease_was_taken_over_are_not_sent_twice(tmp_path):
    """Worker A claims a bulk run and stalls; its lease runs out; worker B (recover) finishes the operations;
    when A resumes it must not send them again under its own batch key."""
    world = quiet_world(tmp_path)
    a, b = world.start_worker(), world.start_worker()
    stalled = asyncio.Event()
    resume = asyncio.Event()
    original = a.plugins.find_or_create_customers

    async def stall(*args, **kwargs):
        result = await original(*args, **kwargs)
        stalled.set()
        await resume.wait()
        return result

    a.plugins.find_or_create_customers = stall  # type: ignore[method-assign]
    run = asyncio.create_task(a.create_many(world.deals[:3], run_id="bulk"))
    await stalled.wait()
    world.clock.advance(LEASE_SECONDS + 1)
    assert await b.recover() == 3
    resume.set()
    items = await run
    assert len(ours(world)) == 3 and b.store.count_invoices() == 3
    assert all(i.error and "took it over" in i.error for i in items)


async def test_two_processes_same_key_at_once_make_one_invoice(tmp_path):
    world = quiet_world(tmp_path)
    a, b = world.start_worker(), world.start_worker()
    results = await asyncio.gather(a.create_invoice(world.deals[1], key="same"), b.create_invoice(world.deals[1], key="same"),
                                   return_exceptions=True)
    made = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, InvoiceBridgeError)]
    assert len(made) + len(refused) == 2 and made
    assert len(ours(world)) == 1 and a.store.count_invoices() == 1
    assert all(r.status_code == 409 or "being created" in str(r) for r in refused)


async def test_dead_operation_that_reached_xero_is_found_by_the_next_sync(tmp_path):
    """The request was committed, the answer lost, and the retry then failed for good (a refused token)."""
    world = quiet_world(tmp_path)
    worker = world.start_worker()
    world.plan.rules.append(lambda point, request: point == "transport_after_commit" and is_invoice_put(point, request))
    with pytest.raises(Crash):
        await worker.create_invoice(world.deals[0], key="k1", overrides=SENDABLE)
    worker.store.fail_operation(operation_key("api", "k1"), "Xero refused the connection's credentials", final=True)
    world.stop_worker(worker)
    worker = world.start_worker()
    assert await worker.recover() == 1
    [record] = worker.store.all_invoices()
    assert record.operation_key == operation_key("api", "k1") and len(ours(world)) == 1 and len(reminders(world, record)) == 1


async def test_refresh_cut_short_is_finished_on_restart_within_the_grace_period(tmp_path):
    """Xero said the access token expired, we refreshed, Xero rotated the refresh token, and the process died
    before saving the answer. The old access token still looks valid for half an hour; by then the old
    refresh token's 30-minute grace is over. The restarted process must finish the refresh at once."""
    world = quiet_world(tmp_path)
    worker = world.start_worker()
    world.clock.advance(100)
    world.plan.fault_rules.append(lambda backend, request: "token_expired" if "/api.xro/" in request.url.path else None)
    world.plan.rules.append(lambda point, request: point == "transport_after_commit" and request is not None
                            and request.url.path.endswith("/connect/token"))
    with pytest.raises(Crash):
        await worker.catalog(refresh=True)
    world.stop_worker(worker)
    world.clock.advance(60)
    worker = world.start_worker()
    await worker.catalog(refresh=True)  # with the old refresh token, inside its grace
    world.clock.advance(1800)  # the access token of that refresh expires; the one lost in the crash is long dead
    await worker.catalog(refresh=True)
    assert "refresh_started_at" not in worker.store.get_secrets(worker.accounting.id)


def is_activity_patch(point, request) -> bool:
    return request is not None and request.method == "PATCH" and "/api/v2/activities/" in request.url.path


@pytest.mark.parametrize("point", ["transport_before_send", "transport_after_commit"])
async def test_crash_between_paid_and_reminder_done_is_completed_once_by_the_next_run(tmp_path, point):
    """The invoice is paid in the accounting system and seen by the reconciliation poll; the worker dies before
    (or just after) the CRM marks the reminder done. The next run completes it, and never a second time."""
    world = quiet_world(tmp_path)
    worker = world.start_worker()
    record = await worker.create_invoice(world.deals[0], key="k1", overrides={"status": "AWAITING_PAYMENT"})
    [activity] = reminders(world, record)
    assert activity["done"] is False
    world.xero.state.add_payment(record.remote_id, None)  # paid in full in Xero
    world.plan.rules.append(lambda p, request: p == point and is_activity_patch(p, request))
    with pytest.raises(Crash):
        await worker.reconcile()
    assert worker.store.get_invoice(record.id).status.value == "PAID"
    world.stop_worker(worker)
    assert world.pipedrive.activities[activity["id"]]["done"] is (point == "transport_after_commit")
    world.plan.rules.clear()
    world.clock.advance(121)  # the dead worker's claim on the completion runs out
    worker = world.start_worker()
    await worker.recover()
    await worker.recover()  # a second pass changes nothing
    assert world.pipedrive.activities[activity["id"]]["done"] is True
    assert [aid for aid, _ in world.pipedrive.activity_updates] == [activity["id"]]  # marked done exactly once
    assert not worker._pending_writebacks()


async def test_a_reminder_for_an_invoice_paid_before_its_write_back_is_made_then_closed(tmp_path):
    """The reminder's creation failed (CRM down), then the invoice was paid: the next run makes the late
    write-back without leaving an open reminder for a paid invoice."""
    world = quiet_world(tmp_path)
    world.plan.rules.append(lambda p, request: p == "transport_before_send" and request.method == "POST"
                            and request.url.path.endswith("/activities"))
    worker = world.start_worker()
    with pytest.raises(Crash):
        await worker.create_invoice(world.deals[0], key="k1", overrides={"status": "AWAITING_PAYMENT"})
    world.stop_worker(worker)
    world.plan.rules.clear()
    world.clock.advance(121)
    worker = world.start_worker()
    [record] = worker.store.all_invoices()
    world.xero.state.add_payment(record.remote_id, None)
    await worker.sync_invoices([record.remote_id], source="webhook")
    await worker.recover()
    await worker.recover()
    assert not [a for a in reminders(world, record) if not a["done"]]
    assert not worker._pending_writebacks()
