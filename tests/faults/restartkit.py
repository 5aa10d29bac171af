"""A real ``invoicebridge serve`` process killed with SIGKILL in the middle of a bulk run, then started again on the
same data folder (used by tests/faults/test_restart_after_kill.py and bench/restart.py).

The sandboxes must outlive the killed process, so they run in this process: the demo app (``serve_demo``) on a
loopback port, its Xero and Pipedrive sandboxes mounted there. The data folder for ``serve`` is a copy of the
demo's database and key, taken once the demo has connected: its connections, mapping and API key point at those
sandboxes. ``serve`` reaches them over loopback as it would reach the real APIs.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import attrs
import httpx
from bulk_stack import add_won_deals
from live_server import serve_demo

from invoicebridge.plugins.pipedrive.writeback import marker

BIN = Path(sys.executable).with_name("invoicebridge")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@attrs.define
class Scene:
    demo_app: Any
    info: dict[str, Any]
    data_dir: Path
    deal_ids: list[str]
    port: int = attrs.field(factory=free_port)
    log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def xero(self) -> Any:
        return self.demo_app.state.sandboxes["xero"][1]

    @property
    def pipedrive(self) -> Any:
        return self.demo_app.state.sandboxes["pipedrive"][1].state.sandbox

    def xero_invoices(self) -> list[Any]:
        return [i for i in list(self.xero.state.invoices.values()) if i.created_by_app]

    def start_serve(self) -> subprocess.Popen:
        env = {k: v for k, v in os.environ.items() if not k.startswith("INVOICEBRIDGE_")}
        env["INVOICEBRIDGE_SYNC_INTERVAL"] = "0"  # only the start-up pass: what it leaves undone stays undone
        self.log_path = self.data_dir.parent / "serve.log"
        with open(self.log_path, "ab") as log:  # the child keeps its own descriptor
            return subprocess.Popen([str(BIN), "serve", "--data-dir", str(self.data_dir), "--port", str(self.port)],
                                    stdout=log, stderr=subprocess.STDOUT, env=env)

    def first_answer(self, process: subprocess.Popen, *, timeout: float = 600) -> float:
        """Seconds from now until ``serve`` answers an HTTP request (any status). Connection refusals are
        retried at once: the server is not listening yet."""
        started = time.monotonic()
        with httpx.Client(timeout=timeout) as client:
            while time.monotonic() - started < timeout:
                if process.poll() is not None:
                    raise AssertionError(f"serve exited with {process.returncode}:\n{self.log_path.read_text()[-3000:]}")
                try:
                    client.get(f"{self.url}/login")
                    return time.monotonic() - started
                except httpx.ConnectError:
                    time.sleep(0.01)
        raise AssertionError(f"serve did not answer within {timeout} s")

    def db(self) -> sqlite3.Connection:
        return sqlite3.connect(f"file:{self.data_dir / 'invoicebridge.db'}?mode=ro", uri=True, timeout=30)

    def left_over(self) -> dict[str, int]:
        """What the data folder says is unfinished: create operations not done, write-backs pending."""
        with contextlib.closing(self.db()) as db:
            ops = db.execute("SELECT count(*) FROM operations WHERE kind = 'create' AND state != 'done'").fetchone()[0]
            writebacks = db.execute("SELECT count(*) FROM operations WHERE kind LIKE 'crm_%' AND state NOT IN ('done', 'cancelled')").fetchone()[0]
            records = db.execute("SELECT count(*) FROM invoices").fetchone()[0]
        return {"operations": ops, "writebacks": writebacks, "records": records}

    def findings(self) -> dict[str, Any]:
        with contextlib.closing(self.db()) as db:
            records = db.execute("SELECT deal_id, remote_id FROM invoices").fetchall()
            states = dict(db.execute("SELECT state, count(*) FROM operations WHERE kind = 'create' GROUP BY state").fetchall())
            reminder_rows = dict(db.execute("SELECT key, state FROM operations WHERE kind = 'crm_activity'").fetchall())
        remote = {i.invoice_id for i in self.xero_invoices()}
        ours = {r for _, r in records}
        deals = [d for d, _ in records]
        reminders, expected = {}, {}
        for _, remote_id in records:
            tag = marker(f"invoice:xero:{remote_id}:reminder")
            reminders[remote_id] = sum(1 for a in list(self.pipedrive.activities.values()) if tag in (a.get("note") or ""))
            # one reminder where the outbox made one (an invoice that could be sent), none otherwise
            expected[remote_id] = 1 if reminder_rows.get(f"crm:invoice:xero:{remote_id}:reminder") == "done" else 0
        return {
            "xero_invoices": len(remote),
            "records": len(records),
            "duplicates": (len(remote) - len(set(deals))) + (len(deals) - len(set(deals))),  # at Xero, and ours
            "orphans": sorted(remote - ours),  # at Xero but not ours: a lost record or a duplicate
            "missing": sorted(set(self.deal_ids) - set(deals)),  # asked for, never invoiced
            "operations": states,
            "reminders_not_one": {k: v for k, v in reminders.items() if v != expected[k]},
        }


@contextlib.contextmanager
def scene(workdir: Path, deals: int) -> Iterator[Scene]:
    """The demo (sandboxes) on loopback with ``deals`` more won deals, and a data folder for ``serve``."""
    with serve_demo(workdir / "demo") as (app, info):
        httpx.get(f"{info['app_url']}/login", timeout=120)  # answered once the demo has connected both sandboxes
        ids = add_won_deals(app.state.sandboxes["pipedrive"][1].state.sandbox, deals)
        data = workdir / "serve-data"
        data.mkdir(mode=0o700)
        store = app.state.runtime.store
        with contextlib.closing(sqlite3.connect(data / "invoicebridge.db")) as copy:
            store.conn.backup(copy)
        shutil.copy(Path(info["data_dir"]) / "secret.key", data / "secret.key")
        yield Scene(demo_app=app, info=info, data_dir=data, deal_ids=ids)


def start_bulk(s: Scene, process: subprocess.Popen, run_id: str = "restart") -> float:
    """Start a bulk run of every deal once ``serve`` answers; return how long that first answer took (a cold
    start with nothing left over: the baseline on this machine at this moment)."""
    cold = s.first_answer(process)
    answer = httpx.post(f"{s.url}/api/bulk", json={"deal_ids": s.deal_ids, "run_id": run_id}, timeout=60,
                        headers={"Authorization": f"Bearer {s.info['api_key']}"})
    assert answer.status_code == 202, answer.text
    return cold


def kill_mid_bulk(s: Scene, process: subprocess.Popen, *, after_invoices: int = 0, after_records: int = 0,
                  timeout: float = 300) -> None:
    """SIGKILL ``serve`` as soon as Xero holds ``after_invoices`` of its invoices and its data folder records
    ``after_records``."""
    started = time.monotonic()
    while len(s.xero_invoices()) < after_invoices or (after_records and s.left_over()["records"] < after_records):
        assert process.poll() is None, s.log_path.read_text()[-3000:]
        assert time.monotonic() - started < timeout, "the bulk run did not get going"
        time.sleep(0.002)
    process.send_signal(signal.SIGKILL)
    process.wait()


def wait_recovered(s: Scene, process: subprocess.Popen, *, timeout: float = 120) -> float:
    """Seconds until the data folder shows nothing left over (polled: the work happens in another process)."""
    started = time.monotonic()
    while True:
        left = s.left_over()
        if left["operations"] == 0 and left["writebacks"] == 0 and left["records"] == len(s.deal_ids):
            return time.monotonic() - started
        assert process.poll() is None, s.log_path.read_text()[-3000:]
        assert time.monotonic() - started < timeout, f"recovery not finished after {timeout} s: {left}"
        time.sleep(0.1)


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
