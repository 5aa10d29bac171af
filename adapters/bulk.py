"""``invoicebridge bulk``: invoice many deals at once with a progress bar and a per-deal report."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt

from tqdm import tqdm

from invoicebridge.core.errors import InvoiceBridgeError
from invoicebridge.core.crm_ids import id_rule
from invoicebridge.core.model import DealQuery

from .bulk_jobs import run_deals


def run_bulk(args: argparse.Namespace, pipeline) -> int:
    try:
        return asyncio.run(_run(args, pipeline))
    except InvoiceBridgeError as exc:
        print(f"bulk failed: {exc}")
        return 1


async def _run(args: argparse.Namespace, pipeline) -> int:
    ids = [str(i) for i in args.deal_ids]
    rule = id_rule(pipeline.runtime, pipeline.plugins)
    if not ids:
        query = DealQuery(
            status="won",
            won_from=dt.date.fromisoformat(args.won_from) if args.won_from else None,
            won_to=dt.date.fromisoformat(args.won_to) if args.won_to else None,
            pipeline_id=rule.check(args.pipeline, "--pipeline") if args.pipeline else "",
            stage_id=rule.check(args.stage, "--stage") if args.stage else "",
        )
        ids = [str(i) for i in await pipeline.plugins.find_deals(pipeline.runtime, connection=pipeline.crm, query=query)]
    if not ids:
        print("no deals match")
        return 0
    run_id = args.run_id or f"bulk-{pipeline.runtime.now():%Y%m%d%H%M%S}"
    bar = tqdm(total=len(ids), unit="deal", desc="dry run" if args.dry_run else "invoicing")

    def progress(done: int, total: int) -> None:
        bar.n = done
        bar.refresh()

    items = await run_deals(pipeline, ids, run_id=run_id, dry_run=args.dry_run, source="cli", progress=progress)
    bar.n = len(ids)
    bar.close()
    failed = 0
    for item in items:
        note = f" ({'; '.join(item.problems)})" if item.problems else ""
        if item.record is not None:
            print(f"deal {item.deal_id}: {item.record.number} {item.record.status_label} {item.record.total} {item.record.currency}{note}")
        elif item.error:
            failed += 1
            again = " (retryable: run again with --run-id " + run_id + ")" if item.retryable else ""
            print(f"deal {item.deal_id}: FAILED {item.error}{again}")
        elif item.draft is not None:
            d = item.draft
            print(f"deal {item.deal_id}: ready: {d.customer.name}, {len(d.line_items)} line(s), {d.totals.total} {d.currency}{note}")
        else:
            print(f"deal {item.deal_id}: ready{note}")
    print(f"run {run_id}: {len(items) - failed} ok, {failed} failed" + (" (dry run: nothing created)" if args.dry_run else ""))
    return 1 if failed else 0
