"""Benchmark: invoices created per minute of simulated time under QuickBooks Online's limits, as a share of the
ceiling (40 batch calls a minute x 30 invoices a call = 1,200 invoices a minute per company), calls per invoice
and the throttling faults seen.

The plugin's own calls for a bulk run (catalog every 5 minutes, customer lookups by DisplayName, customer creates,
invoice batches of 30) go through the real client, connector kit and limiters against the QBO sandbox, which
enforces 500 a minute, 10 a second, 10 at once and 40 batch calls a minute on the same simulated clock. Two
workloads: invoices for existing customers, and for new customers (whose creates also spend batch calls).
Target: >= 90 % of the ceiling with zero throttling faults (existing customers).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from _common import report
from _report import share_of_ceiling, target_row, workload_rows

import httpx

from invoicebridge.core.model import CreateRequest, Customer, InvoiceDraft, LineItem, Role
from invoicebridge.core.runtime import Runtime
from invoicebridge.core.store import Store
from invoicebridge.plugins.quickbooks.backend import QuickBooksBackend
from invoicebridge.plugins.quickbooks.config import sandbox_config
from invoicebridge.plugins.quickbooks.sandbox import create_sandbox
from invoicebridge.sandbox_kit import SimulatedClock

CEILING = 40 * 30
BASE = "http://qbo.bench"


def draft(n: int, customer: Customer) -> InvoiceDraft:
    return InvoiceDraft(
        deal_id=str(n), customer=customer, currency="GBP", date=dt.date(2026, 11, 20), due_date=dt.date(2026, 12, 4),
        reference=f"Deal {n}", url=f"https://acme-sandbox.pipedrive.com/deal/{n}",
        line_items=[LineItem(description="Consulting (hourly)", quantity=Decimal(1 + n % 3), unit_amount=Decimal("120"),
                             item_code="CONSULT-H", tax_percent=Decimal(20))])


async def run(minutes: float, *, new_customers: bool, chunk: int = 300) -> dict:
    clock = SimulatedClock()
    sandbox = create_sandbox(clock=clock.now, client_id="bench", client_secret="bench-secret")
    calls: list[int] = []

    class Counting(httpx.AsyncBaseTransport):
        def __init__(self) -> None:
            self.inner = httpx.ASGITransport(app=sandbox)

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            if "/v3/company/" in request.url.path:
                calls.append(1)
            return await self.inner.handle_async_request(request)

    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(Path(tmp) / "bench.db")
        runtime = Runtime(store=store, transports={"quickbooks": Counting()}, sleep=clock.sleep, now=clock.now,
                          config={"quickbooks": sandbox_config(BASE, client_id="bench", client_secret="bench-secret")})
        tokens = sandbox.issue_tokens()
        conn = store.add_connection(backend="quickbooks", role=Role.ACCOUNTING, settings={"realm_id": sandbox.realm_id},
                                    secrets={"access_token": tokens["access_token"], "refresh_token": tokens["refresh_token"],
                                             "expires_at": clock.now().timestamp() + tokens["expires_in"]})
        backend = QuickBooksBackend.open(conn, runtime)
        existing = [Customer(name=f"Existing {i:04d} Ltd") for i in range(500)]
        for c in existing:
            sandbox.api.write("Customer", {"DisplayName": c.name})
        end = clock.elapsed() + minutes * 60
        start = clock.elapsed()
        catalog_at = -1e9
        created = failed = n = 0
        wall = time.perf_counter()
        while clock.elapsed() < end:
            if clock.elapsed() - catalog_at >= 300:  # the catalog is kept 5 minutes
                await backend.catalog()
                catalog_at = clock.elapsed()
            drafts = []
            for _ in range(chunk):
                n += 1
                drafts.append(draft(n, Customer(name=f"New {n:07d} Ltd") if new_customers else existing[n % len(existing)]))
            customers = list(dict.fromkeys(d.customer for d in drafts))
            ids = dict(zip(customers, await backend.find_or_create_customers(customers), strict=True))
            requests = [CreateRequest(operation_key=f"qb-{d.deal_id}", draft=d, contact_id=ids[d.customer]) for d in drafts]
            results = await backend.create_invoices(requests)
            created += sum(1 for r in results if r.ok)
            failed += sum(1 for r in results if not r.ok)
        elapsed = clock.elapsed() - start
        store.close()
        return {"created": created, "failed": failed, "minutes": elapsed / 60, "calls": len(calls),
                "throttled": len(sandbox.limits.rejected), "wall": time.perf_counter() - wall}


async def main(minutes: float, new_minutes: float) -> None:
    rows = []
    met = True
    for label, new, span in (("existing customers", False, minutes), ("new customers", True, new_minutes)):
        r = await run(span, new_customers=new)
        if not new:
            met = share_of_ceiling(r, CEILING) >= 0.9 and r["throttled"] == 0 and r["failed"] == 0
        rows += workload_rows(label, r, CEILING, throttled=("throttling faults", r["throttled"]),
                              calls=("QBO calls", f"{r['calls']} ({r['calls'] / max(1, r['created']):.3f} per invoice)"))
    rows.append(target_row(">= 90 % of the ceiling with zero throttling faults (existing customers)", met))
    report("Throughput under QuickBooks Online's limits (simulated time)", rows)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0, help="simulated minutes, existing customers")
    parser.add_argument("--new-minutes", type=float, default=3.0, help="simulated minutes, new customers")
    args = parser.parse_args()
    asyncio.run(main(args.minutes, args.new_minutes))
