"""Benchmark 4: requests a second and p50/p99 latency of the deal page, the dashboard and
GET /api/deals/{id}/invoices under 50 connections, as a ratio to a bare Starlette endpoint in the same run.

The load generator is wrk (``.ci/install-wrk`` installs Debian's package), one thread, keep-alive connections.
Both servers run as their own processes with uvicorn on 127.0.0.1 (the app is the demo: both sandboxes mounted,
connected, one invoice created on the deal first). Each round loads every app target right after a bare run of its
own, each for the same time, so each ratio compares two figures taken moments apart
on the same machine (the load of a shared machine drifts within seconds); the report gives every round and the
median ratio. Targets: >= 0.8 of bare for the API, >= 0.6 for the deal page, p99 < 50 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

import httpx
from _common import ROOT, machine, report
from _wrk import bare_server, demo_info, free_port, serve, sign_in, wrk

TARGETS = {"api": 0.8, "deal": 0.6, "dashboard": None}  # the ratio each must reach (the dashboard: reported)
P99_MS = 50.0


def prepare(base: str, info: dict) -> tuple[str, dict[str, tuple[str, dict]]]:
    deal = info["suggested_deal"]
    api = {"Authorization": f"Bearer {info['api_key']}"}
    with httpx.Client(base_url=base, headers=api, timeout=60) as client:
        created = client.post(f"/api/deals/{deal}/invoices", json={})
        assert created.status_code == 201, created.text
    cookie = {"Cookie": sign_in(base, info["admin_password"])}
    check = httpx.get(f"{base}/deals/{deal}", headers=cookie, timeout=60)
    assert check.status_code == 200 and created.json()["number"] in check.text, check.status_code
    return deal, {"deal": (f"{base}/deals/{deal}", cookie), "dashboard": (f"{base}/", cookie),
                  "api": (f"{base}/api/deals/{deal}/invoices", api)}


def measure(rounds: int, seconds: float, connections: int, threads: int, loop: str = "auto", http: str = "auto",
            ports: tuple[int, int] | None = None) -> dict:
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    with tempfile.TemporaryDirectory() as tmp:
        app_port, bare_port = ports or (free_port(), free_port())
        env = {**os.environ, "INVOICEBRIDGE_DATA_DIR": tmp}
        app = [str(ROOT / ".venv/bin/invoicebridge"), "demo", "--port", str(app_port), "--loop", loop, "--http", http]
        with serve(app, env=env, ready=f"http://127.0.0.1:{app_port}/health") as app_proc, \
                bare_server(bare_port, loop, http) as bare_proc:
            base = f"http://127.0.0.1:{app_port}"
            deal, targets = prepare(base, demo_info(Path(tmp)))
            bare_url = f"http://127.0.0.1:{bare_port}/bare"
            for url, headers in [(bare_url, {}), *targets.values()]:  # warm up: imports, templates, caches
                wrk(url, connections=connections, seconds=2, threads=threads, headers=headers)
            runs: list[dict] = []
            for _ in range(rounds):
                one: dict = {"bare_for": {}}
                for name, (url, headers) in targets.items():  # each target right after its own bare run
                    one["bare_for"][name] = wrk(bare_url, connections=connections, seconds=seconds, threads=threads,
                                                pid=bare_proc.pid)
                    one[name] = wrk(url, connections=connections, seconds=seconds, threads=threads, headers=headers,
                                    pid=app_proc.pid)
                one["bare"] = {k: statistics.median(b[k] for b in one["bare_for"].values())
                               for k in ("rps", "p50", "p99", "cpu_ms", "errors")}
                runs.append(one)
    return {"deal_id": deal, "runs": runs, "server": server_settings(loop, http), "load": load}


def server_settings(loop: str, http: str) -> str:
    """What uvicorn ran both servers with ("auto" takes uvloop and httptools when they are installed)."""
    import importlib.util

    def pick(choice: str, fast: str, plain: str) -> str:
        return choice if choice != "auto" else (fast if importlib.util.find_spec(fast) else plain)
    return f"uvicorn --loop {pick(loop, 'uvloop', 'asyncio')} --http {pick(http, 'httptools', 'h11')}"


def summarise(result: dict) -> tuple[list[tuple[str, object]], dict]:
    runs, deal = result["runs"], result["deal_id"]
    names = {"deal": f"deal page /deals/{deal}", "dashboard": "dashboard /", "api": f"GET /api/deals/{deal}/invoices"}
    rows: list[tuple[str, object]] = []
    summary: dict = {}
    met = True
    for i, one in enumerate(runs, 1):
        b = one["bare"]
        rows.append((f"round {i}: bare Starlette endpoint (median of its runs)", f"{b['rps']:.0f} req/s, p50 {b['p50']:.1f} ms, p99 {b['p99']:.1f} ms, "
                                                          f"{b['cpu_ms']:.2f} CPU ms a request, {b['errors']} errors"))
        for key, name in names.items():
            r, b = one[key], one["bare_for"][key]
            rows.append((f"round {i}: {name}", f"{r['rps']:.0f} req/s ({r['rps'] / b['rps']:.2f} of bare's {b['rps']:.0f}), "
                                               f"p50 {r['p50']:.1f} ms, "
                                               f"p99 {r['p99']:.1f} ms, {r['cpu_ms']:.2f} CPU ms a request, {r['errors']} errors"))
    for key, name in names.items():
        ratio = statistics.median(one[key]["rps"] / one["bare_for"][key]["rps"] for one in runs)
        p99 = statistics.median(one[key]["p99"] for one in runs)
        errors = sum(one[key]["errors"] for one in runs)
        cpu = statistics.median(one[key]["cpu_ms"] for one in runs)
        summary[key] = {"ratio": ratio, "p99": p99, "cpu_ms": cpu, "rps": statistics.median(one[key]["rps"] for one in runs), "errors": errors}
        goal = TARGETS[key]
        ok = (goal is None or ratio >= goal) and p99 < P99_MS and errors == 0
        if goal is not None:
            met = met and ok
        cpu_ratio = statistics.median(one["bare_for"][key]["cpu_ms"] / one[key]["cpu_ms"] for one in runs)
        summary[key]["cpu_ratio"] = cpu_ratio
        rows.append((f"median: {name}", f"{ratio:.2f} of bare, p99 {p99:.1f} ms, {cpu:.2f} CPU ms a request "
                                        f"(bare's CPU per request / this one's: {cpu_ratio:.2f})"
                                        + (f" (target >= {goal} and p99 < {P99_MS:.0f} ms: {'met' if ok else 'NOT met'})" if goal else "")))
    rows.append(("median: bare", f"{statistics.median(one['bare']['rps'] for one in runs):.0f} req/s, "
                                 f"p99 {statistics.median(one['bare']['p99'] for one in runs):.1f} ms, "
                                 f"{statistics.median(one['bare']['cpu_ms'] for one in runs):.2f} CPU ms a request"))
    rows.append(("wrk", runs[0]["api"]["command"].replace(runs[0]["api"]["command"].split()[-1], "<url>")
                 + " (-H Cookie / Authorization for the app's targets)"))
    rows.append(("target", f">= {TARGETS['api']} of bare for the API, >= {TARGETS['deal']} for the deal page, p99 < {P99_MS:.0f} ms: "
                           + ("MET" if met else "NOT MET")))
    rows.append(("servers", f"{result['server']}, one process each, 127.0.0.1"))
    rows.append(("load average before", result.get("load", "")))
    rows.append(("machine", machine()))
    return rows, summary


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds of bare + every target (median ratio reported)")
    parser.add_argument("--seconds", type=float, default=10.0, help="wrk duration per target and round")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (1 leaves the other core to the server)")
    parser.add_argument("--loop", choices=("auto", "asyncio", "uvloop"), default="auto", help="uvicorn's loop, both servers")
    parser.add_argument("--http", choices=("auto", "h11", "httptools"), default="auto", help="uvicorn's HTTP parser, both servers")
    parser.add_argument("--ports", type=lambda s: tuple(int(p) for p in s.split(",")), default=None,
                        help="APP,BARE: the two servers' ports (default: any free ones)")
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    args = parser.parse_args()
    result = measure(args.rounds, args.seconds, args.connections, args.threads, args.loop, args.http, args.ports)
    rows, summary = summarise(result)
    report("Web: wrk, 50 connections, ratio to bare Starlette in the same run", rows)
    if args.json:
        args.json.write_text(json.dumps({**result, "summary": summary}, indent=2))
    sys.exit(0)
