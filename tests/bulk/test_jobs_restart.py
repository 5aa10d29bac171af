"""Bulk runs and 202 command runs are rows of the store's ``jobs``, not app memory: after a restart their
progress and results are still there, a run its dead process left running is resumed (exactly once, by its
operations' keys), and a command run follows its outbox row to the result."""

from __future__ import annotations

import subprocess

from starlette.testclient import TestClient

from invoicebridge.adapters.app import _drain_background, create_app
from invoicebridge.adapters.config import AppConfig
from invoicebridge.adapters.demo import build_demo
from invoicebridge.core import workers
from invoicebridge.core.status import Command
from invoicebridge.core.store import Store



def dead_process() -> str:
    """The holder of a process on this host that has ended (a run its crashed process left "running")."""
    gone = subprocess.Popen(["true"])
    gone.wait()
    host, namespace, _pid, _started = workers.this_process().split("|")
    return "|".join([host, namespace, str(gone.pid), "1"])


DEAD = dead_process()


def boot(tmp_path):
    app, info = build_demo(AppConfig(data_dir=tmp_path, port=8000, sync_interval=0))
    client = TestClient(app, base_url="http://127.0.0.1:8000")
    client.headers["Authorization"] = f"Bearer {info['api_key']}"
    return app, client


def restart(tmp_path, client):
    """A new process on the same database (the demo would start a fresh one): nothing in memory is kept."""
    config = AppConfig(data_dir=tmp_path, port=8000, sync_interval=0)
    app = create_app(config, store=Store.open(config.db_path))
    again = TestClient(app, base_url="http://127.0.0.1:8000")
    again.headers["Authorization"] = client.headers["Authorization"]
    return app, again


def won_deals(app) -> list[str]:
    pd = app.state.sandboxes["pipedrive"][1].state.sandbox
    return sorted(str(d["id"]) for d in pd.deals.values() if d["status"] == "won")[:3]


def test_a_finished_bulk_run_is_still_there_after_a_restart(tmp_path):
    app, client = boot(tmp_path)
    with client:
        deals = won_deals(app)
        assert client.post("/api/bulk", json={"deal_ids": deals, "run_id": "r1", "dry_run": True}).status_code == 202
        client.portal.call(_drain_background, app)
        before = client.get("/api/bulk/r1").json()
    app, client = restart(tmp_path, client)
    with client:
        after = client.get("/api/bulk/r1").json()
    assert before["state"] == after["state"] == "finished" and after["items"] == before["items"] and after["total"] == 3


def test_a_bulk_run_its_dead_process_left_running_is_resumed_at_start_and_creates_each_invoice_once(tmp_path):
    app, client = boot(tmp_path)
    with client:
        deals = won_deals(app)
        # the run got through its first deal, then its process was killed
        assert client.post("/api/bulk", json={"deal_ids": deals[:1], "run_id": "r2"}).status_code == 202
        client.portal.call(_drain_background, app)
        store = app.state.pipeline.store
        store.start_job("r2", kind="bulk", request={"deal_ids": deals, "dry_run": False}, total=3, holder=DEAD)
        store.update_job("r2", done=1)
        xero = app.state.sandboxes["xero"][1]
        client.portal.call(_drain_background, app)
        assert client.get("/api/bulk/r2").json()["state"] == "running"
        # the restart (the lifespan runs again on the same store and sandboxes)
    with client:
        client.portal.call(_drain_background, app)
        run = client.get("/api/bulk/r2").json()
    assert run["state"] == "finished" and run["done"] == 3 and [i["ok"] for i in run["items"]] == [True] * 3, run
    assert len(xero.state.invoices) == 3 and len(list(store.all_invoices())) == 3


def test_a_command_run_whose_process_died_shows_its_result_once_recovery_sent_it(tmp_path):
    app, client = boot(tmp_path)
    with client:
        invoice_id = client.post("/api/deals/1/invoices", json={}).json()["id"]
        pipeline = app.state.pipeline
        store = pipeline.store
        key = client.portal.call(pipeline.queue_command, store.get_invoice(invoice_id), Command.SUBMIT)
        store.start_job("c1", kind="command", request={"invoice_id": invoice_id, "command": "submit", "operation": key},
                        total=1, holder=DEAD)  # answered 202, then the process died before sending
        assert client.get("/api/commands/c1").json()["state"] == "running"
        client.portal.call(pipeline.recover)
        run = client.get("/api/commands/c1").json()
    assert run["state"] == "finished" and run["invoice"]["status"] == "AWAITING_APPROVAL", run


def test_a_command_run_whose_command_failed_for_good_says_why(tmp_path):
    app, client = boot(tmp_path)
    with client:
        invoice_id = client.post("/api/deals/1/invoices", json={}).json()["id"]
        pipeline = app.state.pipeline
        store = pipeline.store
        key = client.portal.call(pipeline.queue_command, store.get_invoice(invoice_id), Command.SUBMIT)
        store.fail_operation(key, "the accounting system refused it", final=True)
        store.start_job("c2", kind="command", request={"invoice_id": invoice_id, "command": "submit", "operation": key},
                        total=1, holder=DEAD)
        run = client.get("/api/commands/c2").json()
    assert run["state"] == "failed" and "refused it" in run["error"]["message"] and run["status_code"] >= 400


def test_a_command_refused_with_a_429_answers_202_and_is_sent_by_the_next_recovery(tmp_path):
    """A 429 the plugin could not wait out was answered as an error although the command stayed queued and was
    sent later: the caller is now told to follow it (202), and the run finishes when the recovery sends it."""
    from invoicebridge.core.errors import RateLimited

    app, client = boot(tmp_path)
    with client:
        invoice_id = client.post("/api/deals/1/invoices", json={}).json()["id"]
        pipeline = app.state.pipeline
        real = pipeline.plugins.change_status
        calls = []

        async def limited(*args, **kwargs):
            calls.append(kwargs["command"])
            if len(calls) == 1:
                raise RateLimited("too many requests", retry_after=0)
            return await real(*args, **kwargs)

        pipeline.plugins.change_status = limited
        response = client.post(f"/api/invoices/{invoice_id}/submit")
        assert response.status_code == 202, response.text
        body = response.json()
        assert body["state"] == "running" and "too many requests" in body["last_error"]
        client.portal.call(pipeline.recover)
        done = client.get(response.headers["location"]).json()
    assert done["state"] == "finished" and done["invoice"]["status"] == "AWAITING_APPROVAL" and len(calls) == 2, done
