"""The curve: what one organisation costs at 1,000, 10,000 and (with --long) 100,000 invoices.

For each size, in a process of its own (so peak memory is that size's): the invoices are created in Xero's
sandbox through the plugin's bulk path (batches of 50 for one customer, simulated time) and recorded in the
store; then, with the changed-since mark a first full pass leaves, 1 % of the invoices are approved in Xero and
the reconciliation runs (an If-Modified-Since read, then a status note and a reminder per changed invoice
written back to the Pipedrive sandbox); its wall time is given whole and less the time the in-process Xero
sandbox took to answer. Xero calls are counted where the sandbox receives them. ``--one N --profile`` prints
cProfile's view of the reconciliation and its SQL statements by time (how the 100,000 bend was found). Then the app is served by uvicorn on loopback over that store and wrk loads the
dashboard and a deal page (a deal with three of the invoices), 50 connections. Reported: calls and wall time of
both passes, peak RSS, dashboard and deal page p99 and req/s, and the database's size. ``bench/curve.png`` plots
each against the size on log-log axes beside a line of slope 1 (cost growing as fast as the work).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from _common import ROOT, machine, report

SIZES = (1_000, 10_000)
LONG = (100_000,)
PNG = ROOT / "bench" / "curve.png"


class SandboxTimer:
    """The Xero transport, timing how long the in-process sandbox takes to answer (its time, not ours)."""

    def __init__(self, inner) -> None:
        self.inner, self.seconds = inner, 0.0

    async def handle_async_request(self, request):
        started = time.perf_counter()
        try:
            return await self.inner.handle_async_request(request)
        finally:
            self.seconds += time.perf_counter() - started


class SqlTimer:
    """The store's connection, timing each statement by its text (``--profile`` only)."""

    def __init__(self, inner) -> None:
        self.inner, self.stats = inner, {}

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def execute(self, text, *args):
        started = time.perf_counter()
        try:
            return self.inner.execute(text, *args)
        finally:
            n, secs = self.stats.get(text, (0, 0.0))
            self.stats[text] = (n + 1, secs + time.perf_counter() - started)


async def one(size: int, seconds: float, profile: bool = False, web: bool = True) -> dict:
    import httpx
    import uvicorn
    from _wrk import free_port, wrk

    from bulk_stack import add_won_deals, build_stack
    from invoicebridge.adapters.app import create_app
    from invoicebridge.adapters.config import AppConfig
    from invoicebridge.core.model import CreateRequest, Customer, InvoiceDraft, LineItem, Role

    out: dict = {"size": size}
    with tempfile.TemporaryDirectory() as tmp:
        stack = await build_stack(tmp)
        plugins, runtime, store = stack.pipeline.plugins, stack.runtime, stack.store
        # Timed from the start: the connector kit keeps the transport it was opened with (a wrapper put in later
        # would never see a request); only the reconciliation's share is kept below.
        timer = SandboxTimer(runtime.transports["xero"])
        runtime.transports["xero"] = timer
        conn = runtime.connection(Role.ACCOUNTING)
        deal = add_won_deals(stack.pipedrive, 1, org_prefix="Curve")[0]
        others = add_won_deals(stack.pipedrive, 100, org_prefix="Other")  # real deals: the write-backs land
        customer = Customer(name="Curve Org Ltd", external_key="pd-org-curve")
        [contact] = await plugins.find_or_create_customers(runtime, connection=conn, customers=[customer])
        started = time.perf_counter()
        for first in range(0, size, 50):
            requests = []
            for n in range(first, min(size, first + 50)):
                deal_id = deal if n < 3 else others[n % len(others)]
                requests.append(CreateRequest(operation_key=f"curve-{n}", contact_id=contact, draft=InvoiceDraft(
                    deal_id=deal_id, customer=customer, currency="GBP", date=dt.date(2026, 11, 20),
                    due_date=dt.date(2026, 12, 4), reference=f"Deal {deal_id}",
                    line_items=[LineItem(description="Consulting (hourly)", quantity=Decimal(1 + n % 3),
                                         unit_amount=Decimal("150"), item_code="CONSULT-H", account_code="200",
                                         tax_type="OUTPUT2", tax_percent=Decimal(20))])))
            results = await plugins.create_invoices(runtime, connection=conn, requests=requests)
            with store.transaction():
                for request, result in zip(requests, results, strict=True):
                    assert result.ok, result.error
                    inv = result.invoice
                    store.insert_invoice(deal_id=request.draft.deal_id, backend=conn.backend, remote_id=inv.remote_id,
                                         number=inv.number, status=inv.status.value, currency=inv.currency, total=inv.total,
                                         amount_paid=inv.amount_paid, amount_due=inv.amount_due, date=inv.date,
                                         due_date=inv.due_date, contact_name=customer.name, reference=request.draft.reference,
                                         operation_key=request.operation_key)
        out["seed_s"] = time.perf_counter() - started
        stack.clock.advance(600)
        # The changed-since mark a first full pass leaves (that pass reads every invoice once, at connection).
        store.kv_set("sync", f"last-sync-{conn.id}", stack.clock.now().isoformat())
        for rid in list(stack.xero.state.invoices)[:max(1, size // 100)]:
            stack.xero.state.set_status(rid, "AUTHORISED")
        stack.clock.advance(120)
        before, started, timer.seconds = stack.xero_calls(), time.perf_counter(), 0.0
        if profile:
            import cProfile
            import pstats

            sql = SqlTimer(store.conn)
            store.conn = sql
            profiler = cProfile.Profile()
            profiler.enable()
        sync = await stack.pipeline.reconcile()
        if profile:
            profiler.disable()
            pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(40)
            pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(25)
            store.conn = sql.inner
            for text, (n, secs) in sorted(sql.stats.items(), key=lambda kv: -kv[1][1])[:15]:
                sys.stderr.write(f"SQL {secs:8.3f} s {n:6d}x {text[:160]}\n")
        out["incremental_calls"] = stack.xero_calls() - before
        out["incremental_s"] = time.perf_counter() - started
        out["incremental_ours_s"] = out["incremental_s"] - timer.seconds
        out["incremental_changed"] = sync.changed
        out["db_mb"] = sum(Path(f"{store.path}{s}").stat().st_size for s in ("", "-wal") if Path(f"{store.path}{s}").exists()) / 2**20
        out["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

        if not web:
            return out
        # The web app over this store: same runtime wiring (sandboxes in-process, simulated clock).
        port = free_port()
        config = AppConfig(data_dir=Path(tmp) / "web", port=port, sync_interval=0, admin_password="curve-password")
        app = create_app(config, store=store, plugins=plugins, transports=runtime.transports,
                         runtime_options={"now": stack.clock.now, "sleep": stack.clock.sleep})
        app.state.runtime.config.update(runtime.config)
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
        serving = asyncio.create_task(server.serve())
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base, timeout=60) as client:
            while not server.started:
                await asyncio.sleep(0.05)
            page = await client.get("/login")
            token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
            await client.post("/login", data={"password": "curve-password", "csrf_token": token})
            cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
            for name, path in (("dashboard", "/"), ("deal", f"/deals/{deal}")):
                check = await client.get(path)
                assert check.status_code == 200, (path, check.status_code)
                figures = await asyncio.to_thread(wrk, base + path, seconds=seconds, headers={"Cookie": cookie}, pid=os.getpid())
                out[f"{name}_p99"], out[f"{name}_rps"] = figures["p99"], figures["rps"]
                out[f"{name}_cpu_ms"], out[f"{name}_errors"] = figures["cpu_ms"], figures["errors"]
                # wrk mostly meets the kept page; a write moves the store's generation, so each of these is drawn
                # afresh (one request at a time: the time to draw the page at this size, not a load figure)
                drawn = []
                for n in range(20):
                    store.kv_set("bench", "curve-tick", str(n))
                    started = time.perf_counter()
                    answer = await client.get(path)
                    drawn.append((time.perf_counter() - started) * 1000)
                    assert answer.status_code == 200, (path, answer.status_code)
                out[f"{name}_drawn_ms"] = statistics.median(drawn)
        server.should_exit = True
        await serving
    return out


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = [r["size"] for r in rows]
    panels = [("Xero calls to reconcile, 1 % changed", [("calls", "incremental_calls")]),
              ("Wall time to reconcile, 1 % changed (s)", [("all", "incremental_s"), ("ours (less the sandbox)", "incremental_ours_s")]),
              ("Peak RSS (MB)", [("process", "rss_mb")]),
              ("p99 at 50 connections (ms)", [("dashboard", "dashboard_p99"), ("deal page", "deal_p99")]),
              ("Per request (ms): server CPU under load; one page drawn afresh", [("dashboard", "dashboard_cpu_ms"), ("deal page", "deal_cpu_ms"),
                                               ("dashboard drawn afresh", "dashboard_drawn_ms"),
                                               ("deal page drawn afresh", "deal_drawn_ms")]),
              ("Database size (MB)", [("file + WAL", "db_mb")])]
    fig, axes = plt.subplots(2, 3, figsize=(13, 7.5))
    for ax, (title, series) in zip(axes.flat, panels, strict=True):
        for label, key in series:
            values = [max(r[key], 1e-3) for r in rows]
            ax.plot(sizes, values, marker="o", label=label)
        first = max(rows[0][series[0][1]], 1e-3)
        ax.plot(sizes, [first * s / sizes[0] for s in sizes], ls=":", color="grey", label="grows as the work")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("invoices on one organisation")
        ax.legend(fontsize=8)
    fig.suptitle("invoicebridge: cost against the number of invoices (bench/curve.py)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def main(sizes: list[int], seconds: float, png: Path) -> None:
    rows = []
    for size in sizes:
        done = subprocess.run([sys.executable, __file__, "--one", str(size), "--seconds", str(seconds)],
                              capture_output=True, text=True)
        if done.returncode:
            sys.stderr.write(done.stderr)
            raise SystemExit(f"size {size} failed")
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), flush=True)  # each size's figures as soon as they are known
    lines = []
    for r in rows:
        lines.append((f"{r['size']:,} invoices",
                      f"reconcile with 1 % changed: {r['incremental_calls']} Xero calls, {r['incremental_s']:.2f} s "
                      f"({r['incremental_ours_s']:.2f} s ours, the rest the sandbox; {r['incremental_changed']} changed); "
                      f"peak RSS {r['rss_mb']:.0f} MB; "
                      f"dashboard p99 {r['dashboard_p99']:.0f} ms ({r['dashboard_rps']:.0f} req/s, {r['dashboard_cpu_ms']:.2f} CPU ms); "
                      f"deal page p99 {r['deal_p99']:.0f} ms ({r['deal_rps']:.0f} req/s, {r['deal_cpu_ms']:.2f} CPU ms); "
                      f"drawn afresh (median of 20): dashboard {r['dashboard_drawn_ms']:.1f} ms, deal page {r['deal_drawn_ms']:.1f} ms; "
                      f"database {r['db_mb']:.1f} MB; seeding {r['seed_s']:.0f} s"))
    lines += [("plot", os.path.relpath(png, ROOT)), ("machine", machine())]
    report("The curve: one organisation at growing sizes", lines)
    plot(rows, png)  # after the figures are printed: a plotting failure loses no measurement


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--long", action="store_true", help="add 100,000 invoices (about 15 minutes)")
    parser.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")], help="sizes instead of the defaults")
    parser.add_argument("--seconds", type=float, default=5.0, help="wrk duration per page")
    parser.add_argument("--png", type=Path, default=PNG)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--profile", action="store_true", help="with --one N: cProfile of the reconciliation to stderr")
    parser.add_argument("--no-web", action="store_true", help="with --one N: skip the pages")
    args = parser.parse_args()
    if args.one:
        print(json.dumps(asyncio.run(one(args.one, args.seconds, args.profile, not args.no_web))))
    else:
        main(args.sizes or [*SIZES, *(LONG if args.long else ())], args.seconds, args.png)
