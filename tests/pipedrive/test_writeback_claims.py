"""Two workers sharing one database (the server and `invoicebridge sync`) must not both add the reminder."""

from __future__ import annotations


import pytest

from invoicebridge.core.errors import InvoiceBridgeError
from invoicebridge.core.runtime import Runtime
from invoicebridge.plugins.pipedrive.client import PipedriveClient
from invoicebridge.plugins.pipedrive.writeback import WritebackBusy, add_activity_once

pytestmark = pytest.mark.anyio


async def test_a_second_process_waits_while_the_first_holds_the_claim_then_finds_its_activity(runtime, connection, sandbox, clock, store):
    other = Runtime(store=store, transports=runtime.transports, sleep=runtime.sleep, now=clock.now,
                    public_url=runtime.public_url, config=runtime.config, cache={"pipedrive.jitter": lambda delay: 0.0})
    assert runtime.kv_claim("pipedrive.writeback", "claim:activity:k1")  # the first worker is mid-way
    async with PipedriveClient(other, connection) as client:
        with pytest.raises(WritebackBusy, match="Another invoicebridge worker"):
            await add_activity_once(client, "1", "Send invoice INV-1 to Acme", None, "", "k1")
    store.kv_set("pipedrive.writeback", "claim:activity:k1", None)  # (stands for the first worker's own call)
    async with PipedriveClient(runtime, connection) as client:
        first = await add_activity_once(client, "1", "Send invoice INV-1 to Acme", None, "", "k1")
    async with PipedriveClient(other, connection) as client:
        assert await add_activity_once(client, "1", "Send invoice INV-1 to Acme", None, "", "k1") == first
    assert [a["subject"] for a in sandbox.activities.values() if a.get("deal_id") == 1].count("Send invoice INV-1 to Acme") == 1


async def test_a_claim_left_by_a_crashed_worker_is_taken_over_after_its_ttl(runtime, connection, sandbox, clock, store):
    assert runtime.kv_claim("pipedrive.writeback", "claim:activity:k2")  # then the holder died
    async with PipedriveClient(runtime, connection) as client:
        with pytest.raises(WritebackBusy):
            await add_activity_once(client, "1", "Send invoice INV-2 to Acme", None, "", "k2")
        clock.advance(121)
        assert await add_activity_once(client, "1", "Send invoice INV-2 to Acme", None, "", "k2")
    assert not store.kv_claim("pipedrive.writeback", "claim:activity:k2", now=clock.now().timestamp(), ttl=120)


async def test_a_failed_create_frees_the_claim_for_an_immediate_retry(runtime, connection, sandbox):
    sandbox.rate.force_429 = 0
    async with PipedriveClient(runtime, connection) as client:
        with pytest.raises(InvoiceBridgeError):
            await add_activity_once(client, "999999", "Send invoice INV-3 to Nobody", None, "", "k3")  # no such deal
        with pytest.raises(Exception) as again:
            await add_activity_once(client, "999999", "Send invoice INV-3 to Nobody", None, "", "k3")
    assert not isinstance(again.value, WritebackBusy)
