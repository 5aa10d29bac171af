"""Benchmark 4: requests per second and p99 latency of the deal page and of GET /api/deals/{id}/invoices under
50 concurrent clients, as a ratio to a bare Starlette endpoint served the same way in the same run.

Both servers run as their own processes with uvicorn on 127.0.0.1 (the app is the demo: both sandboxes mounted,
connected, one invoice created on the deal first). The load generator is httpx.AsyncClient with 50 concurrent
workers, bounded by a request count and a time limit per target, on the same 2-core machine. Target: >= 0.5 of
the bare throughput.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from _common import ROOT, report


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def wait_up(url: str, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            try:
                await client.get(url)
                return
            except httpx.TransportError:
                await asyncio.sleep(0.2)
    raise RuntimeError(f"{url} did not come up in {seconds:.0f} s")


async def load(url: str, *, requests: int, concurrency: int, limit_s: float, headers=None, cookies=None) -> dict:
    latencies: list[float] = []
    errors = 0
    sent = 0
    deadline = time.monotonic() + limit_s
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(headers=headers, cookies=cookies, limits=limits, timeout=30.0) as client:
        async def worker() -> None:
            nonlocal sent, errors
            while sent < requests and time.monotonic() < deadline:
                sent += 1
                t = time.perf_counter()
                try:
                    response = await client.get(url)
                    ok = response.status_code == 200
                except httpx.HTTPError:
                    ok = False
                latencies.append(time.perf_counter() - t)
                errors += not ok

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return {"n": len(latencies), "rps": len(latencies) / elapsed, "p99": p99 * 1000,
            "median": statistics.median(latencies) * 1000, "errors": errors}


async def main(requests: int, concurrency: int, limit_s: float) -> None:
    procs = []
    with tempfile.TemporaryDirectory() as tmp:
        app_port, bare_port = free_port(), free_port()
        env = {**os.environ, "INVOICEBRIDGE_DATA_DIR": tmp}
        try:
            procs.append(subprocess.Popen([str(ROOT / ".venv/bin/invoicebridge"), "demo", "--port", str(app_port)],
                                          env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            procs.append(subprocess.Popen([sys.executable, str(ROOT / "bench/_bare_app.py"), str(bare_port)],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            base = f"http://127.0.0.1:{app_port}"
            await wait_up(f"{base}/login")
            await wait_up(f"http://127.0.0.1:{bare_port}/bare")
            info = json.loads((Path(tmp) / "demo.json").read_text())
            deal = info["suggested_deal"]
            api = {"Authorization": f"Bearer {info['api_key']}"}
            async with httpx.AsyncClient(base_url=base, headers=api, timeout=30.0) as client:
                created = await client.post(f"/api/deals/{deal}/invoices", json={})
                assert created.status_code == 201, created.text
                page = await client.get("/login")
                token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
                await client.post("/login", data={"password": info["admin_password"], "csrf_token": token})
                cookies = dict(client.cookies)
                check = await client.get(f"/deals/{deal}", headers={"Authorization": ""})
                assert check.status_code == 200 and created.json()["number"] in check.text, check.status_code
            targets = [("bare Starlette endpoint", f"http://127.0.0.1:{bare_port}/bare", None, None),
                       (f"deal page /deals/{deal}", f"{base}/deals/{deal}", None, cookies),
                       (f"GET /api/deals/{deal}/invoices", f"{base}/api/deals/{deal}/invoices", api, None)]
            results = {}
            for name, url, headers, jar in targets:
                await load(url, requests=min(200, requests), concurrency=concurrency, limit_s=5, headers=headers, cookies=jar)  # warm up
                results[name] = await load(url, requests=requests, concurrency=concurrency, limit_s=limit_s,
                                           headers=headers, cookies=jar)
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
    bare = results["bare Starlette endpoint"]["rps"]
    rows = []
    met = True
    for name, r in results.items():
        ratio = r["rps"] / bare
        if not name.startswith("bare"):
            met = met and ratio >= 0.5 and r["errors"] == 0
        rows.append((name, f"{r['rps']:.0f} req/s ({ratio:.2f} of bare), p99 {r['p99']:.0f} ms, median {r['median']:.0f} ms, "
                           f"{r['n']} requests, {r['errors']} errors"))
    rows.append(("load", f"{concurrency} concurrent httpx.AsyncClient workers, at most {requests} requests or {limit_s:.0f} s per target"))
    rows.append(("target", ">= 0.5 of bare throughput for both: " + ("MET" if met else "NOT MET")))
    report("Web: throughput and p99 under 50 concurrent clients", rows)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30.0, help="time limit per target")
    args = parser.parse_args()
    asyncio.run(main(args.requests, args.concurrency, args.seconds))
