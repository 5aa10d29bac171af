"""Fixtures for the Xero plugin: the official specs (loaded once), a validating transport in front of the
sandbox, a fake clock and sleep shared by the client and the sandbox, a real Store and a connected runtime."""

from __future__ import annotations

import pytest
from openapi_core import OpenAPI
from xero_support import (  # noqa: F401  (re-exported for the tests of this folder)
    BASE,
    CLIENT_ID,
    CLIENT_SECRET,
    SPECS,
    START,
    WEBHOOK_KEY,
    Clock,
    ValidatingTransport,
    connect,
    load_specs,
)

from invoicebridge.core.runtime import Runtime
from invoicebridge.plugins.xero.config import sandbox_config
from invoicebridge.plugins.xero.sandbox import create_sandbox


@pytest.fixture(scope="session")
def specs() -> dict[str, OpenAPI]:
    """The Xero specs, once per session."""
    return load_specs()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sandbox(clock):
    return create_sandbox(clock=clock.now, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, webhook_key=WEBHOOK_KEY)


@pytest.fixture
def transport(sandbox, specs):
    t = ValidatingTransport(sandbox, specs)
    yield t
    assert not t.problems, "spec violations:\n" + "\n".join(t.problems)


@pytest.fixture
def runtime(store, clock, transport):
    return Runtime(store=store, transports={"xero": transport}, sleep=clock.sleep, now=clock.now,
                   public_url="http://app.test",
                   config={"xero": sandbox_config(BASE, client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
                                                  webhook_key=WEBHOOK_KEY)})



@pytest.fixture
def connection(store, sandbox, clock):
    return connect(store, sandbox, clock)

