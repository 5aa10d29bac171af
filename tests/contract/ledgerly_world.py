"""Ledgerly for the tests: its sandbox behind a transport that checks every exchange against Ledgerly's published API
(``ledgerly_openapi.yaml``), a connection to it, and invoice requests."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import httpx
from contract import SpecRequest, ValidatingTransport, spec_request
from openapi_core import OpenAPI
from starlette.testclient import TestClient

from invoicebridge.core import Customer, InvoiceDraft, LineItem
from invoicebridge.core.connector import token_secrets
from invoicebridge.core.model import CreateRequest
from invoicebridge.core.runtime import Runtime
from invoicebridge.core.status import InvoiceStatus
from invoicebridge.sandbox_kit import SimulatedClock

import ledgerly
from ledgerly_sandbox import BOOK, LedgerlySandbox, config


SPEC = OpenAPI.from_file_path(str(Path(__file__).with_name("ledgerly_openapi.yaml")))


def map_request(request: httpx.Request) -> tuple[str, SpecRequest] | None:
    """API calls (``/v1/…``) against the spec; the OAuth endpoints are RFC 6749's, not in it."""
    if not request.url.path.startswith("/v1/"):
        return None
    return "api", spec_request(request, host_url="https://ledgerly.test", path=request.url.path)


def checked(sandbox: LedgerlySandbox) -> ValidatingTransport:
    """The sandbox's own (lossy) transport, every request and answer validated; ``problems`` must stay empty."""
    return ValidatingTransport(sandbox.transport, {"api": SPEC}, map_request)


def draft(deal_id: str, account: str = "sales") -> InvoiceDraft:
    return InvoiceDraft(deal_id=deal_id, customer=Customer(name="Acme Ltd"), currency="GBP", date=dt.date(2026, 11, 20),
                        due_date=dt.date(2026, 12, 4), status=InvoiceStatus.AWAITING_PAYMENT,
                        line_items=[LineItem(description="Work", quantity=2, unit_amount=50, account_code=account,
                                             tax_type="std", tax_percent=20)])


async def request(key: str, account: str = "sales") -> CreateRequest:
    return CreateRequest(operation_key=key, draft=draft(key, account), contact_id="Acme Ltd")


class World:
    """A sandbox with its own standing-still clock, and a backend connected to it by tokens it issued."""

    def __init__(self, store) -> None:
        self.clock = SimulatedClock()
        self.sandbox = LedgerlySandbox(clock=self.clock)
        self.checked = checked(self.sandbox)
        self.runtime = Runtime(store=store, transports={"ledgerly": self.checked}, now=self.clock.now,
                               sleep=self.clock.sleep, config={"ledgerly": config()})
        self.connection = store.add_connection(backend="ledgerly", role="accounting", label="Books One",
                                               settings={"book": BOOK["id"]},
                                               secrets=token_secrets(self.sandbox.issue_tokens(), self.clock.now()))
        self.backend = ledgerly.LedgerlyBackend.open(self.connection, self.runtime)


def connect_through_the_pages(client: TestClient, password: str) -> None:
    """Sign in, click Connect Ledgerly, let the sandbox's authorize page approve, follow the callback."""
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
    assert client.post("/login", data={"password": password, "csrf_token": token}, follow_redirects=False).status_code == 303
    start = client.get("/connect/ledgerly", follow_redirects=False)
    assert start.status_code == 303, start.text
    back = client.get(start.headers["location"], follow_redirects=False)
    assert back.status_code == 302, back.text
    done = client.get(back.headers["location"])
    assert done.status_code == 200 and "Ledgerly: Books One" in done.text, done.text
