"""Fixtures for the QuickBooks plugin: the sandbox on a fake clock behind a transport that checks every exchange
against Intuit's XSDs, and a raw HTTP helper for the sandbox's own tests."""

from __future__ import annotations

import httpx
import pytest
from qbo_support import CLIENT_ID, CLIENT_SECRET, VERIFIER, Clock, Raw, XsdTransport

from invoicebridge.plugins.quickbooks.sandbox import create_sandbox


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sandbox(clock):
    return create_sandbox(clock=clock.now, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, verifier_token=VERIFIER)


@pytest.fixture
def transport(sandbox):
    t = XsdTransport(httpx.ASGITransport(app=sandbox))
    yield t
    assert not t.problems, "XSD violations:\n" + "\n".join(t.problems)


@pytest.fixture
async def raw(sandbox, transport, clock):
    client = Raw(sandbox, transport, clock)
    yield client
    await client.http.aclose()
