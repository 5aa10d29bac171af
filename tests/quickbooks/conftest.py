"""Fixtures for the QuickBooks plugin: the sandbox on a fake clock behind a transport that checks every exchange
against Intuit's XSDs, and a raw HTTP helper for the sandbox's own tests."""

from __future__ import annotations

import httpx
import pytest
from qbo_support import BASE, CLIENT_ID, CLIENT_SECRET, VERIFIER, Clock, Raw, XsdTransport, connect

from invoicebridge.core.runtime import Runtime
from invoicebridge.plugins.quickbooks.config import sandbox_config
from invoicebridge.plugins.quickbooks.sandbox import create_sandbox


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def qbo_seed() -> str:
    """The company most tests run against: the UK one in GBP only (multicurrency off, QBO's default); the
    multicurrency tests override this fixture with ``demo``."""
    return "uk"


@pytest.fixture
def sandbox(clock, qbo_seed):
    return create_sandbox(clock=clock.now, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, verifier_token=VERIFIER,
                          seed=qbo_seed)


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


@pytest.fixture
def runtime(store, clock, transport):
    return Runtime(store=store, transports={"quickbooks": transport}, sleep=clock.sleep, now=clock.now,
                   public_url="http://app.test",
                   config={"quickbooks": sandbox_config(BASE, client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
                                                        verifier_token=VERIFIER)})


@pytest.fixture
def connection(store, sandbox, clock):
    return connect(store, sandbox, clock)


@pytest.fixture
def backend(runtime, connection):
    from invoicebridge.plugins.quickbooks.backend import QuickBooksBackend

    return QuickBooksBackend.open(connection, runtime)
