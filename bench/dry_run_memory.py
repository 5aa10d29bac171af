"""Benchmark 5: peak memory of a bulk dry run over 10,000 won deals (read in batches from the Pipedrive
sandbox, mapped and checked against the Xero catalog, every draft and problem kept for the preview).

Peak resident memory (ru_maxrss) of this whole process, which also holds both sandboxes and the 10,000 seeded
deals, and the Python-heap peak of the dry run itself (tracemalloc). Target: < 300 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import tempfile
import time
import tracemalloc

from _common import report

from bulk_stack import build_stack


async def main(deals: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        stack = await build_stack(tmp, deals=deals)
        seeded_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        tracemalloc.start()
        started = time.perf_counter()
        items = await stack.pipeline.create_many(stack.deal_ids, run_id="dry", dry_run=True)
        wall = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        ready = sum(1 for i in items if i.draft is not None)
        problems = sum(1 for i in items if i.error)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        report("Bulk dry run: peak memory", [
            ("deals previewed", f"{len(items)} ({ready} ready, {problems} with problems)"),
            ("nothing created", f"{len(stack.xero.state.invoices)} invoices in Xero"),
            ("Pipedrive calls", stack.pipedrive_calls()),
            ("peak RSS of the process", f"{rss:.0f} MB (after seeding the sandboxes: {seeded_rss:.0f} MB)"),
            ("Python heap peak during the dry run", f"{peak / 2**20:.0f} MB"),
            ("wall time of the dry run", f"{wall:.1f} s (tracemalloc slows it)"),
            ("target", "< 300 MB peak RSS: " + ("MET" if rss < 300 else "NOT MET")),
        ])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deals", type=int, default=10000)
    args = parser.parse_args()
    asyncio.run(main(args.deals))
