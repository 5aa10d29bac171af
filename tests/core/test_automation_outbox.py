"""The automation on won deals is an outbox kind: a typed row per deal (pending, in flight under a lease with its
holder, done, failed to retry, dead, cancelled), never a kv flag; a kill between any two of its steps neither
loses the draft nor makes a second one."""

import datetime as dt
import json

import pytest
from memory_world import NOW, Crash, memory_world

from invoicebridge.core import ServerError, WebhookRequest
from invoicebridge.core.automation import AUTOMATION

pytestmark = pytest.mark.anyio


@pytest.fixture
def world(store):
    return memory_world(store, settings={"automation_draft_when_won": True})


async def won(pipeline, deal="1", event="won-1"):
    body = json.dumps({"kind": "deal_won", "deal": deal, "id": event}).encode()
    return await pipeline.crm_webhook(WebhookRequest(body=body, headers={"x-secret": "s3cret"}))


def states(pipeline):
    return [op["state"] for op in pipeline.store.operations(
        states=("pending", "in_flight", "done", "failed", "dead", "cancelled"), kinds=(AUTOMATION,))]


async def test_a_won_deal_is_an_outbox_row_not_a_kv_flag(world):
    pipeline, _crm, acct, _ = world
    assert await won(pipeline) == ["1"]
    assert states(pipeline) == ["pending"]
    assert pipeline.store.kv_items("automation-pending") == {}
    record = await pipeline.deal_won("1")
    assert record is not None and len(acct.invoices) == 1
    op = pipeline.store.get_operation("automation:1")
    assert (op["state"], op["record_id"], op["attempts"]) == ("done", record.id, 1)
    assert await won(pipeline, event="won-again") == ["1"]  # won again: the deal has its draft, no second one
    await pipeline.recover()
    assert len(acct.invoices) == 1 and states(pipeline) == ["done"]


@pytest.mark.parametrize("step", ["create_invoices", "finish"])
async def test_a_kill_between_the_steps_makes_the_draft_once(world, step):
    """Killed while the draft is created (the backend got the request) or after it is recorded but before the
    automation's row is marked done: the row stays in flight; the next pass after the lease makes or finds the
    draft under the same create key, once."""
    pipeline, _crm, acct, clock = world
    await won(pipeline)
    real_create, real_finish = acct.create_invoices, pipeline.store.finish_operation

    async def create_then_die(requests):
        await real_create(requests)
        raise Crash("killed after the backend created the invoice")

    def finish_or_die(key, **kwargs):
        if key == "automation:1":
            raise Crash("killed before the automation's row was marked done")
        real_finish(key, **kwargs)

    if step == "create_invoices":
        acct.create_invoices = create_then_die
    else:
        pipeline.store.finish_operation = finish_or_die
    with pytest.raises(Crash):
        await pipeline.deal_won("1")
    acct.create_invoices, pipeline.store.finish_operation = real_create, real_finish
    assert states(pipeline) == ["in_flight"] and len(acct.invoices) == 1
    await pipeline.recover()  # the lease is not over and the holder (this process) is alive: left alone
    assert states(pipeline) == ["in_flight"]
    clock["now"] = NOW + dt.timedelta(minutes=7)
    await pipeline.recover()
    await pipeline.recover()
    assert len(acct.invoices) == 1 and len(pipeline.store.invoices_for_deal("1")) == 1
    assert states(pipeline) == ["done"]
    assert pipeline.store.get_operation("automation:1")["record_id"] == pipeline.store.invoices_for_deal("1")[0].id


async def test_a_failure_that_may_pass_waits_as_failed_then_is_retried(world):
    pipeline, _crm, acct, clock = world
    await won(pipeline)
    acct.fail_next.append(ServerError("down", status=503))
    assert await pipeline.deal_won("1") is None
    op = pipeline.store.get_operation("automation:1")
    assert (op["state"], op["attempts"]) == ("failed", 1) and "down" in op["last_error"]
    await pipeline.recover()
    assert states(pipeline) == ["done"] and len(acct.invoices) == 1


async def test_an_older_versions_kv_flag_is_adopted_once(world):
    pipeline, _crm, acct, _ = world
    pipeline.store.kv_set("automation-pending", "1", True)
    await pipeline.recover()
    await pipeline.recover()
    assert len(acct.invoices) == 1 and states(pipeline) == ["done"]
    assert pipeline.store.kv_items("automation-pending") == {}


async def test_turning_the_automation_off_cancels_the_waiting_rows(world):
    pipeline, _crm, acct, _ = world
    await won(pipeline)
    pipeline.store.update_settings({"automation_draft_when_won": False})
    await pipeline.recover()
    assert states(pipeline) == ["cancelled"] and acct.invoices == {}
