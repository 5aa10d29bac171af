"""Status commands from the JSON API never hang behind the accounting API's rate limit: past a few seconds
they answer 202 with Location, and GET on it gives the result (through the demo wiring: real plugins, both
sandboxes, the Xero plugin's own limiter)."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from demo_client import api_demo

from invoicebridge.adapters.app import _drain_background


@pytest.fixture
def demo(tmp_path):
    with api_demo(tmp_path) as (client, app, _info):
        yield client, app


def hold_the_limiter(app) -> asyncio.Event:
    """Use up the minute's calls of the Xero tenant's limiter: the next call waits until the event is set."""
    runtime = app.state.runtime
    [limiter] = [c.limiter for (backend, key), c in runtime.cache["connector"].items()
                 if backend == "xero" and key != "identity"]
    released = asyncio.Event()
    limiter.pause(3600)

    async def wait_for_release(seconds: float) -> None:
        await released.wait()
        limiter._paused_until = 0.0

    limiter._sleep = wait_for_release
    return released


def post_with_deadline(client, app, path: str, seconds: float = 5.0) -> httpx.Response:
    """The request as a client with a deadline sends it: a server that hangs fails the test instead of it."""

    async def send() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:8000",
                                     headers=dict(client.headers)) as http:
            return await asyncio.wait_for(http.post(path), timeout=seconds)

    return client.portal.call(send)


def test_a_command_waiting_behind_the_rate_limit_answers_202_with_a_location_to_follow(demo):
    client, app = demo
    app.state.command_wait = 0.2  # seconds before answering 202 (3 s in production)
    created = client.post("/api/deals/1/invoices", json={}, headers={"Idempotency-Key": "cmd-1"})
    assert created.status_code == 201, created.text
    invoice_id = created.json()["id"]
    released = hold_the_limiter(app)
    response = post_with_deadline(client, app, f"/api/invoices/{invoice_id}/submit")
    assert response.status_code == 202, response.text
    location = response.headers["location"]
    body = response.json()
    assert location == body["links"]["self"] and body["state"] == "running" and body["command"] == "submit"
    assert client.get(location).json()["state"] == "running"
    client.portal.call(released.set)
    client.portal.call(_drain_background, app)
    done = client.get(location).json()
    assert done["state"] == "finished" and done["invoice"]["status"] == "AWAITING_APPROVAL", done
    assert client.get(f"/api/invoices/{invoice_id}").json()["status"] == "AWAITING_APPROVAL"
    # with nothing to wait for, the answer is the invoice itself (the production wait: approving now also makes the
    # CRM reminder, a few more CRM calls than the 0.2 s above allows on a loaded machine)
    app.state.command_wait = 3
    approved = post_with_deadline(client, app, f"/api/invoices/{invoice_id}/approve")
    assert approved.status_code == 200 and approved.json()["status"] == "AWAITING_PAYMENT"


def test_a_command_that_fails_after_its_202_says_why_when_followed(demo):
    client, app = demo
    app.state.command_wait = 0.2
    invoice_id = client.post("/api/deals/1/invoices", json={}).json()["id"]
    released = hold_the_limiter(app)
    response = post_with_deadline(client, app, f"/api/invoices/{invoice_id}/submit")
    assert response.status_code == 202
    xero = app.state.sandboxes["xero"][1]
    for invoice in xero.state.invoices.values():  # meanwhile someone deletes the draft in Xero
        invoice.status = "DELETED"
    client.portal.call(released.set)
    client.portal.call(_drain_background, app)
    failed = client.get(response.headers["location"]).json()
    assert failed["state"] == "failed" and failed["status_code"] >= 400 and failed["error"]["message"], failed
    assert client.get("/api/commands/nope").status_code == 404
