"""Fixtures for the Pipedrive plugin: the official specs (loaded once), a validating transport in front of
the sandbox, a fake clock and sleep, a real Store and a connected runtime."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest
from openapi_core import OpenAPI
from pipedrive_support import SPECS, load_specs, map_request, validating_transport  # noqa: F401

from invoicebridge.core.runtime import Runtime
from invoicebridge.plugins.pipedrive.sandbox import create_sandbox

START = dt.datetime(2026, 11, 20, 9, 30, tzinfo=dt.timezone.utc)
CONFIG = {"client_id": "sandbox-client", "client_secret": "sandbox-secret",
          "authorize_url": "https://oauth.sandbox.test/oauth/authorize",
          "token_url": "https://oauth.sandbox.test/oauth/token", "jwt_secret": "panel-jwt-secret-for-tests-0123456789abcdef",
          "webhook_user": "hook-user", "webhook_password": "hook-pass-1234"}

@pytest.fixture(scope="session")
def specs() -> dict[str, OpenAPI]:
    """Both Pipedrive specs, loaded strictly once per session (~2.5 s together)."""
    return load_specs()


class Clock:
    def __init__(self, start: dt.datetime = START) -> None:
        self.current = start

    def now(self) -> dt.datetime:
        return self.current

    def advance(self, seconds: float) -> None:
        self.current += dt.timedelta(seconds=seconds)


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sleeps(clock) -> list[float]:
    return []


@pytest.fixture
def sandbox_app(clock):
    return create_sandbox(clock=clock.now, seed=True)


@pytest.fixture
def sandbox(sandbox_app):
    return sandbox_app.state.sandbox


@pytest.fixture
def transport(sandbox_app, specs):
    t = validating_transport(httpx.ASGITransport(app=sandbox_app), specs)
    yield t
    assert not t.problems, "\n".join(t.problems)


@pytest.fixture
def runtime(store, transport, clock, sleeps):
    async def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock.advance(seconds)

    return Runtime(store=store, transports={"pipedrive": transport}, sleep=fake_sleep, now=clock.now,
                   public_url="https://ib.example", config={"pipedrive": dict(CONFIG)},
                   cache={"pipedrive.jitter": lambda delay: 0.0})


@pytest.fixture
def connection(store):
    return store.add_connection(backend="pipedrive", role="crm", label="Acme Sandbox",
                                settings={"api_domain": "https://acme-sandbox.pipedrive.com",
                                          "company_domain": "acme-sandbox", "company_id": 7001},
                                secrets={"api_token": "sandbox-token"})


@pytest.fixture
def seed(sandbox):
    """The ids the demo seed created (the seed runs in ``sandbox_app``; ids are deterministic)."""
    fields = {entity: {f["field_name"]: code for code, f in defs.items() if f["is_custom_field"]}
              for entity, defs in sandbox.fields.items()}
    return {"fields": fields, "deals": sorted(sandbox.deals)}


@pytest.fixture
def validating(specs):
    """A factory: ``validating(app)`` is a ValidatingTransport in front of an ASGI app."""
    return lambda app: validating_transport(httpx.ASGITransport(app=app), specs)
