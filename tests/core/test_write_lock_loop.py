"""Store writes from async code run on the store's one writer thread: while another connection (another process)
holds SQLite's write lock, the event loop keeps serving other coroutines, and the write completes once the lock
is released (before, the loop itself sat in SQLite's busy wait for up to the busy timeout)."""

import asyncio
import datetime as dt
import json
import sqlite3
import threading

import pytest
from fakes import MemoryAccounting, MemoryCRM

from invoicebridge.core import Deal, DealProduct, Organization, WebhookRequest
from invoicebridge.core.pipeline import Pipeline
from invoicebridge.core.plugins import Plugins, make_plugin_manager
from invoicebridge.core.runtime import Runtime

pytestmark = pytest.mark.anyio
NOW = dt.datetime(2026, 3, 13, 9, 0, tzinfo=dt.timezone.utc)
TICKS = 5  # the loop must run this many other steps while the lock is held


@pytest.fixture
def pipeline(store):
    crm, acct = MemoryCRM(), MemoryAccounting()
    plugins = Plugins(make_plugin_manager(load_entry_points=False, extra=[crm, acct]))
    runtime = Runtime(store=store, now=lambda: NOW)
    store.add_connection(backend="memcrm", role="crm", label="CRM")
    store.add_connection(backend="memacct", role="accounting", label="Books", secrets={"token": "t"})
    crm.deals["1"] = Deal(id="1", title="Website", value=0, currency="GBP", organization=Organization(id="5", name="Acme Ltd"),
                          products=[DealProduct(name="Consulting", quantity=1, item_price=120, tax_percent=20)])
    return Pipeline(runtime, plugins)


async def _while_locked(path: str, write) -> tuple[int, bool]:
    """Hold the write lock from another connection, start ``write`` and tick on the loop meanwhile; the lock is
    released after :data:`TICKS` ticks (or after 3 s when the loop never ticks). Returns the ticks seen while the
    lock was held and whether the write had finished before the lock was released."""
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    ticked, released = threading.Event(), threading.Event()
    seen = {"ticks": 0, "done_before_release": None}
    task = asyncio.ensure_future(write())

    def release() -> None:
        ticked.wait(timeout=3)
        seen["done_before_release"] = task.done()
        other.execute("ROLLBACK")
        released.set()

    releaser = threading.Thread(target=release)
    releaser.start()
    try:
        while not task.done():
            await asyncio.sleep(0.001)  # another coroutine's step
            if not released.is_set():
                seen["ticks"] += 1
                if seen["ticks"] >= TICKS:
                    ticked.set()
        await task
    finally:
        ticked.set()
        releaser.join()
        other.close()
    return seen["ticks"], seen["done_before_release"]


async def test_a_create_waits_for_the_write_lock_off_the_loop(pipeline, store):
    ticks, done_early = await _while_locked(store.path, lambda: pipeline.create_invoice("1", key="k1"))
    assert ticks >= TICKS  # the loop ran while the create waited for the lock
    assert done_early is False  # and the create finished only after the lock was released
    assert store.invoices_for_deal("1")[0].number == "INV-0001"


async def test_a_webhook_receipt_waits_for_the_write_lock_off_the_loop(pipeline, store):
    body = json.dumps({"kind": "deal_won", "deal": "1", "id": "won-1"}).encode()
    ticks, done_early = await _while_locked(
        store.path, lambda: pipeline.crm_webhook(WebhookRequest(body=body, headers={"x-secret": "s3cret"})))
    assert ticks >= TICKS and done_early is False
    assert not store.first_receipt("memcrm", "won-1")  # recorded once the lock came free


async def test_a_writer_that_cannot_open_its_database_fails_each_write_instead_of_hanging(tmp_path):
    from invoicebridge.core.store import StoreWriteError
    from invoicebridge.core.store_writer import Writer

    inline = sqlite3.connect(":memory:")
    writer = Writer(str(tmp_path / "missing" / "ib.db"), inline)
    with pytest.raises(sqlite3.OperationalError):
        await writer.run(lambda: None)
    writer.submit("UPDATE t SET x = 1")
    with pytest.raises(StoreWriteError):
        writer.flush()
    writer.close()
    inline.close()


async def test_a_write_handed_over_runs_to_its_end_when_its_caller_is_cancelled(store):
    blocker = sqlite3.connect(store.path, isolation_level=None, check_same_thread=False)
    blocker.execute("BEGIN IMMEDIATE")  # keeps the write queued on the thread until released below
    task = asyncio.ensure_future(store.writes.audit("note", "kept", deal_id="c"))
    await asyncio.sleep(0)  # handed over
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    blocker.execute("ROLLBACK")
    blocker.close()
    store.writer.flush()
    assert [e["message"] for e in store.audit_entries(deal_id="c")] == ["kept"]


async def test_a_kept_read_sees_an_awaited_write_at_once(store):
    """The writer thread's commits move the kept reads' generation before the awaited write returns (not only
    when the next data_version check comes round)."""
    assert store.get_settings()["note_on_create"] is True
    store._generation_at = float("inf")  # no data_version check from here on: only the change counts move it
    await store.writes.update_settings({"note_on_create": False})
    assert store.get_settings()["note_on_create"] is False
    await store.writes.add_connection(backend="crm-x", role="crm")
    assert store.active_connection("crm").backend == "crm-x"


async def test_a_plugins_own_writes_wait_for_the_write_lock_off_the_loop(pipeline, store):
    """What a backend writes through its context (tokens, settings, its key-value space) goes the same way:
    a token refresh saving the rotated refresh token no longer holds the loop while another process writes."""
    from invoicebridge.core.context import context_for

    context = context_for(pipeline.runtime)
    conn = store.active_connection("accounting")

    async def writes() -> None:
        await context.save_secrets(conn, {"token": "rotated"})
        await context.update_settings(conn, {"tenant": "t-2"})
        await context.kv_set("memacct", "cursor", {"since": "2026-03-13"})

    ticks, done_early = await _while_locked(store.path, writes)
    assert ticks >= TICKS and done_early is False
    assert store.get_secrets(conn.id) == {"token": "rotated"}
    assert store.active_connection("accounting").settings["tenant"] == "t-2"
    assert store.kv_get("memacct", "cursor") == {"since": "2026-03-13"}


async def test_a_bulk_runs_progress_is_handed_to_the_writer_thread_not_written_on_the_loop(store):
    """The progress callback of a bulk run is called from the event loop after each chunk: it hands the write over
    and returns at once, even while another connection holds the write lock; it lands once the lock is free."""
    store.start_job("run-1", kind="bulk", request={}, total=10, holder="me")
    other = sqlite3.connect(store.path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    try:
        store.note_progress("run-1", done=5, total=10)  # would sit in SQLite's busy wait here if written inline
        assert store.get_job("run-1", kind="bulk")["done"] == 0  # not applied yet: the lock is still held
    finally:
        other.execute("ROLLBACK")
        other.close()
    store.writer.flush()
    assert store.get_job("run-1", kind="bulk")["done"] == 5
