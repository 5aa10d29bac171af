"""Benchmark 2: Xero calls to sync the status of 10,000 invoices of which 500 changed.

10,000 invoices are created through the bulk path (real plugins, both sandboxes, simulated time) and one
reconciliation sets the changed-since mark. Then 500 of them are approved or paid in Xero; the sandbox delivers
its signed webhooks to the pipeline (the first path), and afterwards the reconciliation poll runs (the safety
net). Calls are counted where Xero receives them. Target: <= 3.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time

import httpx
from _common import report

from bulk_stack import build_stack
from invoicebridge.core.model import WebhookRequest


async def main(invoices: int, changed: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        stack = await build_stack(tmp, deals=invoices)
        items = await stack.pipeline.create_many(stack.deal_ids, run_id="sync-bench")
        assert all(i.record for i in items), "bulk create failed"
        await stack.pipeline.reconcile()
        stack.clock.advance(600)
        rng = random.Random(7)
        picked = rng.sample([i.record.remote_id for i in items], changed)
        state = stack.xero.state
        state.events.clear()
        for n, rid in enumerate(picked):
            state.set_status(rid, "AUTHORISED")
            if n % 2:
                state.add_payment(rid)  # paid in full
        stack.clock.advance(5)

        received: list[WebhookRequest] = []

        async def receiver(request: httpx.Request) -> httpx.Response:
            received.append(WebhookRequest(body=request.content, headers=dict(request.headers)))
            return httpx.Response(200)

        stack.xero.webhook_url = "http://app.test/webhooks/xero"
        stack.xero.webhook_transport = httpx.MockTransport(receiver)
        stack.runtime.config["xero"]["webhook_key"] = stack.xero.webhook_key
        await stack.xero.deliver_webhooks()
        started = time.perf_counter()
        before = stack.xero_calls()
        ids: list[str] = []
        for request in received:
            ids.extend(await stack.pipeline.accounting_webhook(request))
        webhook = await stack.pipeline.sync_invoices(ids)
        webhook_calls = stack.xero_calls() - before
        before = stack.xero_calls()
        poll = await stack.pipeline.reconcile()
        poll_calls = stack.xero_calls() - before
        wall = time.perf_counter() - started
    report("Sync: Xero calls for 10,000 invoices of which 500 changed", [
        ("invoices followed", invoices),
        ("changed in Xero", f"{changed} (approved; half of them also paid)"),
        ("webhook events received", f"{len(ids)} invoice ids in {len(received)} signed deliveries"),
        ("webhook path: Xero calls", f"{webhook_calls} (changed {webhook.changed}, checked {webhook.checked})"),
        ("reconciliation poll afterwards: Xero calls", f"{poll_calls} (changed {poll.changed}: nothing left)"),
        ("wall time of both", f"{wall:.1f} s"),
        ("target", "<= 3 calls: " + ("MET" if webhook_calls <= 3 and poll_calls <= 3 and webhook.changed == changed else "NOT MET")),
    ])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invoices", type=int, default=10000)
    parser.add_argument("--changed", type=int, default=500)
    args = parser.parse_args()
    asyncio.run(main(args.invoices, args.changed))
