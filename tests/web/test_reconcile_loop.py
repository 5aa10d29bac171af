import asyncio

import pytest
from fakes import MemoryAccounting, MemoryCRM

from invoicebridge.adapters.app import _reconcile_forever
from invoicebridge.core import Deal, InvoiceStatus, Organization, ServerError
from invoicebridge.core.pipeline import Pipeline
from invoicebridge.core.plugins import Plugins, make_plugin_manager
from invoicebridge.core.runtime import Runtime

pytestmark = pytest.mark.anyio


async def test_the_background_loop_reconciles_on_its_interval_and_survives_a_failing_pass(store):
    crm, acct = MemoryCRM(), MemoryAccounting()
    waits: list[float] = []

    async def sleep(seconds):
        waits.append(seconds)
        if len(waits) > 3:
            raise asyncio.CancelledError  # stop the loop after three passes
    runtime = Runtime(store=store, sleep=sleep)
    pipeline = Pipeline(runtime, Plugins(make_plugin_manager(load_entry_points=False, extra=[crm, acct])))
    store.add_connection(backend="memcrm", role="crm")
    conn = store.add_connection(backend="memacct", role="accounting")
    crm.deals["1"] = Deal(id="1", title="T", value=100, currency="GBP", organization=Organization(id="1", name="Acme"))
    record = await pipeline.create_invoice("1", key="k")
    acct.set_status(record.remote_id, InvoiceStatus.PAID)
    acct.fail_sync.append(ServerError("Xero is down", status=503))  # the first pass fails; the loop goes on
    with pytest.raises(asyncio.CancelledError):
        await _reconcile_forever(pipeline, 300)
    assert waits == [300, 300, 300, 300] and acct.calls.count("modified") == 3
    assert store.get_invoice(record.id).status is InvoiceStatus.PAID
    assert store.connection_health(conn.id)["last_sync_at"]


async def test_start_up_survives_a_left_over_operation_that_crashes_the_plugin(store, caplog):
    """A left-over create that makes the plugin raise something unexpected must not keep the app from
    starting (the pages are where a person sees and retries it); it is logged, like a failing loop pass."""
    from invoicebridge.adapters.app import _start_up
    from invoicebridge.core.serde import dump_draft

    crm, acct = MemoryCRM(), MemoryAccounting()
    pipeline = Pipeline(Runtime(store=store), Plugins(make_plugin_manager(load_entry_points=False, extra=[crm, acct])))
    store.add_connection(backend="memcrm", role="crm")
    store.add_connection(backend="memacct", role="accounting")
    crm.deals["1"] = Deal(id="1", title="T", value=100, currency="GBP", organization=Organization(id="1", name="Acme"))
    draft = (await pipeline.preview("1")).draft
    store.put_operation("left-over", kind="create", deal_id="1", payload={"draft": dump_draft(draft), "source": "api"})
    acct.fail_next.append(KeyError("Invoices"))  # a plugin bug on an odd answer
    await _start_up(pipeline)
    assert "left-over operations" in caplog.text and "KeyError" in caplog.text
