"""Xero test support shared by tests/xero and other suites: the spec adapters, the validating transport,
a fake clock and a helper that connects a store to a sandbox."""

from __future__ import annotations

import datetime as dt
from typing import Any

import contract
import httpx
from contract import SpecRequest, spec_request
from openapi_core import Config, OpenAPI
from specs import specs_dir

from invoicebridge.core.model import Role

SPECS = specs_dir("xero")
START = dt.datetime(2026, 11, 20, 9, 30, tzinfo=dt.timezone.utc)
BASE = "http://xero.test"
CLIENT_ID, CLIENT_SECRET, WEBHOOK_KEY = "test-client", "test-secret", "test-webhook-key"


def load_specs() -> dict[str, OpenAPI]:
    """The accounting and identity specs. The accounting spec fails openapi-core's own strict check (a boolean
    default written as a string), hence no spec validator for it."""
    return {
        "accounting": OpenAPI.from_file_path(str(SPECS / "xero_accounting.yaml"), config=Config(spec_validator_cls=None)),
        "identity": OpenAPI.from_file_path(str(SPECS / "xero-identity.yaml"), config=Config(spec_validator_cls=None)),
    }


def map_request(request: httpx.Request) -> tuple[str, SpecRequest] | None:
    """The request as the spec sees it, wherever the sandbox is mounted: ``…/api.xro/2.0/X`` -> accounting
    ``/api.xro/2.0/X``; ``…/connections[/id]`` -> identity ``/Connections[/id]``. A PDF read goes to the spec's
    ``/Invoices/{InvoiceID}/pdf`` operation, whose ``x-path`` says it is the plain path with
    ``Accept: application/pdf`` (fact sheet §5.2)."""
    path = request.url.path
    if "/api.xro/2.0/" in path:
        kind, spec_path = "accounting", "/api.xro/2.0/" + path.split("/api.xro/2.0/", 1)[1]
        if "application/pdf" in request.headers.get("accept", "") and spec_path.count("/") == 4:
            spec_path += "/pdf"
    elif "/connections" in path:
        kind, spec_path = "identity", "/Connections" + path.split("/connections", 1)[1]
    else:
        return None
    return kind, spec_request(request, host_url="https://api.xero.com", path=spec_path)


def ValidatingTransport(app: Any, specs: dict[str, OpenAPI]) -> contract.ValidatingTransport:  # noqa: N802 (a factory)
    """Xero's sandbox app behind a spec-validating transport."""
    return contract.ValidatingTransport(httpx.ASGITransport(app=app), specs, map_request)


class Clock:
    """One fake time for the client and the sandbox. ``sleep`` records and moves time instead of waiting."""

    def __init__(self, start: dt.datetime = START) -> None:
        self.t = start
        self.sleeps: list[float] = []

    def now(self) -> dt.datetime:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += dt.timedelta(seconds=seconds)

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(seconds)


def connect(store, sandbox, clock, *, user_index: int = 0, scope: str = ""):
    tokens = sandbox.issue_tokens(user_id=sandbox.state.users[user_index]["UserID"], scope=scope)
    return store.add_connection(
        backend="xero", role=Role.ACCOUNTING, label="Xero: Demo",
        settings={"tenant_id": sandbox.tenant_id, "tenant_name": "Demo Company (UK)",
                  "user_id": sandbox.state.users[user_index]["UserID"]},
        secrets={"access_token": tokens["access_token"], "refresh_token": tokens["refresh_token"],
                 "expires_at": clock.now().timestamp() + tokens["expires_in"]},
    )

