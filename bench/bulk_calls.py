"""Benchmark 1: Xero calls per invoice when bulk-creating invoices for won deals with new customers, against
creating them one at a time (the single-invoice path: deal page or API) in the same run.

Both runs use the real plugins against the Xero and Pipedrive sandboxes on simulated time (the limiter's waits
cost nothing real); calls are counted where Xero receives them. Target: <= 0.1 calls per invoice, >= 30x fewer.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time

from _common import report

from bulk_stack import build_stack


async def main(deals: int, baseline: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        stack = await build_stack(tmp, deals=deals)
        started = time.perf_counter()
        items = await stack.pipeline.create_many(stack.deal_ids, run_id="bench")
        bulk_wall = time.perf_counter() - started
        created = sum(1 for i in items if i.record)
        bulk_calls, bulk_429 = stack.xero_calls(), stack.xero_429s()
        bulk_sim = stack.clock.elapsed()

        # the baseline: as many more won deals with new customers, each invoiced on its own
        singles = stack.add_deals(baseline, org_prefix="Single")
        stack.clock.advance(300)  # a later moment: the catalog is read again, as the first bulk read it
        before = stack.xero_calls()
        for deal_id in singles:
            await stack.pipeline.create_invoice(deal_id, key=f"single-{deal_id}")
            stack.clock.advance(61)  # a person invoicing one deal after another, a minute apart
        single_calls = stack.xero_calls() - before
    per_bulk = bulk_calls / created
    per_single = single_calls / baseline
    report("Bulk create: Xero calls per invoice", [
        ("bulk invoices created", f"{created} of {deals} (new customers, one each)"),
        ("bulk Xero calls", f"{bulk_calls} (429s: {bulk_429}; 6 of them read the catalog)"),
        ("bulk calls per invoice", f"{per_bulk:.4f}"),
        ("bulk simulated time", f"{bulk_sim:.0f} s (wall {bulk_wall:.1f} s, incl. Pipedrive reads and write-backs)"),
        ("one-at-a-time invoices", baseline),
        ("one-at-a-time Xero calls", single_calls),
        ("one-at-a-time calls per invoice", f"{per_single:.4f}"),
        ("ratio", f"{per_single / per_bulk:.1f}x fewer calls in bulk"),
        ("target", "<= 0.1 calls per invoice and >= 30x fewer: " + ("MET" if per_bulk <= 0.1 and per_single / per_bulk >= 30 else "NOT MET")),
    ])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deals", type=int, default=1000)
    parser.add_argument("--baseline", type=int, default=200, help="deals invoiced one at a time (same run)")
    args = parser.parse_args()
    asyncio.run(main(args.deals, args.baseline))
