"""Benchmark 3: invoices created per minute of simulated time under Xero's limits, as a share of the ceiling
(60 calls a minute x 50 invoices a call = 3,000 invoices a minute), and the 429s seen.

The Xero plugin's own calls (the ones the pipeline makes for a bulk run: contact lookup from the local cache,
contact creation, invoice batches of 50, and the catalog re-read every 5 minutes) run through the real client,
limiter and retry policy against the Xero sandbox, which enforces 60 a minute, 5 at once and 5,000 a day on the
same simulated clock. Simulated waits cost nothing, so a simulated hour takes about a minute of CPU (the sandbox
really builds every invoice). Two workloads: invoices for existing customers (the steady state), and
invoices for new customers (each needs its contact created first: about half the calls). Target: >= 90 %, 0 429s.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import tempfile
import time
from decimal import Decimal

from _common import report
from _report import share_of_ceiling, target_row, workload_rows

from bulk_stack import build_stack
from invoicebridge.core.model import CreateRequest, Customer, InvoiceDraft, LineItem, Role

CEILING = 60 * 50


def draft(n: int, customer: Customer) -> InvoiceDraft:
    return InvoiceDraft(
        deal_id=str(n), customer=customer, currency="GBP", date=dt.date(2026, 11, 20), due_date=dt.date(2026, 12, 4),
        reference=f"Deal {n}", url=f"https://acme-sandbox.pipedrive.com/deal/{n}",
        line_items=[LineItem(description="Consulting (hourly)", quantity=Decimal(1 + n % 3), unit_amount=Decimal("150"),
                             item_code="CONSULT-H", account_code="200", tax_type="OUTPUT2", tax_percent=Decimal(20))])


async def run(minutes: float, *, new_customers: bool, chunk: int = 250) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        stack = await build_stack(tmp)
        plugins, runtime = stack.pipeline.plugins, stack.runtime
        conn = runtime.connection(Role.ACCOUNTING)
        existing = [Customer(name=f"Existing {i:04d} Ltd", external_key=f"pd-org-{i}") for i in range(500)]
        for c in existing:
            stack.xero.state.create_contact({"Name": c.name, "ContactNumber": c.external_key})
        end = stack.clock.elapsed() + minutes * 60
        start_calls, start = stack.xero_calls(), stack.clock.elapsed()
        catalog_at = -1e9
        created = failed = n = 0
        wall = time.perf_counter()
        while stack.clock.elapsed() < end:
            if stack.clock.elapsed() - catalog_at >= 300:  # the pipeline's catalog cache lasts 5 minutes
                await plugins.catalog(runtime, connection=conn)
                catalog_at = stack.clock.elapsed()
            drafts = []
            for _ in range(chunk):
                n += 1
                customer = (Customer(name=f"New {n:07d} Ltd", external_key=f"pd-new-{n}") if new_customers
                            else existing[n % len(existing)])
                drafts.append(draft(n, customer))
            customers = list(dict.fromkeys(d.customer for d in drafts))
            ids = dict(zip(customers, await plugins.find_or_create_customers(runtime, connection=conn, customers=customers), strict=True))
            requests = [CreateRequest(operation_key=f"tp-{d.deal_id}", draft=d, contact_id=ids[d.customer]) for d in drafts]
            results = await plugins.create_invoices(runtime, connection=conn, requests=requests)
            created += sum(1 for r in results if r.ok)
            failed += sum(1 for r in results if not r.ok)
        elapsed = stack.clock.elapsed() - start
        state = stack.xero.state
        made = [c for c in state.contacts.values() if c.contact_number.startswith("pd-new-")]
        duplicates = (len(made) - len({c.contact_number for c in made})) + (len(state.invoices) - len(
            {i.reference for i in state.invoices.values()}))
        return {"duplicates": duplicates, "created": created, "failed": failed, "minutes": elapsed / 60, "calls": stack.xero_calls() - start_calls,
                "429": stack.xero_429s(), "wall": time.perf_counter() - wall,
                "max_in_flight": runtime.cache["connector"][("xero", conn.id)].limiter.max_in_flight}


async def main(minutes: float, new_minutes: float) -> None:
    rows = []
    met = True
    for label, new, span in (("existing customers", False, minutes), ("new customers", True, new_minutes)):
        r = await run(span, new_customers=new)
        met = met and share_of_ceiling(r, CEILING) >= 0.9 and r["429"] == 0 and r["failed"] == 0 and r["duplicates"] == 0
        rows += workload_rows(
            label, r, CEILING, throttled=("429s", r["429"]),
            calls=("Xero calls", f"{r['calls']} ({r['calls'] / r['minutes']:.1f} a minute, at most {r['max_in_flight']} in flight)"),
            extra=[("duplicates", f"{r['duplicates']} (contacts sharing a ContactNumber, invoices sharing a deal's Reference)")])
    rows.append(target_row(">= 90 % of the ceiling with zero 429s and zero duplicates, existing and new customers", met))
    report("Throughput under Xero's limits (simulated time)", rows)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0, help="simulated minutes of the existing-customers workload")
    parser.add_argument("--new-minutes", type=float, default=10.0,
                        help="simulated minutes of the new-customers workload (the sandbox checks every new contact's "
                             "name against all others, so it slows as contacts pile up)")
    args = parser.parse_args()
    asyncio.run(main(args.minutes, args.new_minutes))
