"""Ledgerly for the tests: its sandbox, a connection to it over the sandbox's transport, and invoice requests."""

from __future__ import annotations

import datetime as dt
import re

from starlette.testclient import TestClient

from invoicebridge.core import Customer, InvoiceDraft, LineItem
from invoicebridge.core.connector import token_secrets
from invoicebridge.core.model import CreateRequest
from invoicebridge.core.runtime import Runtime
from invoicebridge.core.status import InvoiceStatus
from invoicebridge.sandbox_kit import SimulatedClock

import ledgerly
from ledgerly_sandbox import BOOK, LedgerlySandbox, config


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
        self.runtime = Runtime(store=store, transports={"ledgerly": self.sandbox.transport}, now=self.clock.now,
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
