"""Ledgerly: a third-party accounting backend, written only against the public ``invoicebridge.core`` API.

Its own status words are ``open``, ``sent``, ``settled`` and ``cancelled``; it keeps no drafts and has no
approval step. The "remote service" is an in-memory :class:`Ledger` (a real plugin would speak HTTP to it).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import itertools
import json
from typing import Any, ClassVar

from invoicebridge.core import (
    Account,
    AccountChoice,
    BackendInfo,
    Capabilities,
    Catalog,
    Command,
    ConnectResult,
    CreateResult,
    Health,
    Invoice,
    InvoiceStatus,
    RemoteNotFound,
    RemoteUser,
    RemoteValidationError,
    Role,
    TaxRate,
    WebhookEvent,
    WebhookRejected,
    hookimpl,
)

NAME = "ledgerly"
HOOK_SECRET = b"ledgerly-hook-secret"
S = InvoiceStatus
FROM_REMOTE = {"open": S.AWAITING_PAYMENT, "sent": S.AWAITING_PAYMENT, "settled": S.PAID, "cancelled": S.VOIDED}
TO_REMOTE = {S.AWAITING_PAYMENT: "open", S.PAID: "settled", S.VOIDED: "cancelled"}


class Ledger:
    """The remote service: invoices by id, the idempotency keys it has seen, a clock of changes."""

    def __init__(self) -> None:
        self.invoices: dict[str, dict[str, Any]] = {}
        self.by_key: dict[str, str] = {}
        self.numbers = itertools.count(1)
        self.ticks = itertools.count(1)
        self.create_calls: list[int] = []  # batch sizes

    def _touch(self, invoice: dict[str, Any]) -> None:
        invoice["updated"] = dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc) + dt.timedelta(seconds=next(self.ticks))

    def settle(self, remote_id: str) -> None:
        invoice = self.invoices[remote_id]
        invoice.update(word="settled", paid=invoice["total"])
        self._touch(invoice)

    def mark_sent(self, remote_id: str) -> None:
        self.invoices[remote_id]["word"] = "sent"
        self._touch(self.invoices[remote_id])

    def sign(self, body: bytes) -> str:
        return hmac.new(HOOK_SECRET, body, hashlib.sha256).hexdigest()


class LedgerlyBackend:
    info: ClassVar[BackendInfo] = BackendInfo(
        name=NAME, role=Role.ACCOUNTING, label="Ledgerly", auth_methods=("token",),
        capabilities=Capabilities(drafts=False, approval_step=False, batch_size=2, email=False, email_statuses=(),
                                  share_link_statuses={S.AWAITING_PAYMENT, S.PAID}, webhooks=True,
                                  default_account_code="sales"))
    ledger: ClassVar[Ledger]

    def __init__(self, connection: Any, context: Any) -> None:
        self.connection, self.context = connection, context

    @classmethod
    def open(cls, connection: Any, context: Any) -> "LedgerlyBackend":
        return cls(connection, context)

    @classmethod
    def status_from_remote(cls, value: str) -> InvoiceStatus:
        return FROM_REMOTE[value]

    @classmethod
    def status_to_remote(cls, status: InvoiceStatus) -> str:
        return TO_REMOTE[status]

    @classmethod
    async def connect_with_token(cls, context: Any, *, token: str, settings: Any) -> ConnectResult:
        book = AccountChoice("book-1", "Books One", {"book": "book-1"})
        return ConnectResult(secrets={"token": token}, label="Ledgerly: Books One", choices=[book], account=book)

    async def check(self) -> Health:
        return Health(ok=True, detail="Books One", user=await self.current_user())

    async def connected(self, public_url: str) -> None:
        return None

    async def disconnect(self) -> bool:
        return True

    async def current_user(self) -> RemoteUser:
        return RemoteUser(name="Owner", role="owner", may_create=True, may_approve=True)

    async def catalog(self) -> Catalog:
        return Catalog(base_currency="GBP", currencies=["GBP"], accounts=[Account(code="sales", name="Sales")],
                       tax_rates=[TaxRate(tax_type="std", name="Standard", rate=20), TaxRate(tax_type="zero", name="Zero", rate=0)])

    async def find_or_create_customers(self, customers: Any) -> list[str]:
        return [f"cust-{hashlib.sha256(c.name.encode()).hexdigest()[:8]}" for c in customers]

    async def create_invoices(self, requests: Any) -> list[CreateResult]:
        if len(requests) > self.info.capabilities.batch_size:
            raise RemoteValidationError(f"at most {self.info.capabilities.batch_size} invoices a call", backend=NAME)
        self.ledger.create_calls.append(len(requests))
        return [self._create(r) for r in requests]

    def _create(self, request: Any) -> CreateResult:
        if request.operation_key in self.ledger.by_key:  # idempotent: the same key answers the same invoice
            return CreateResult(request.operation_key, invoice=self._invoice(self.ledger.by_key[request.operation_key]))
        draft = request.draft
        if any(line.account_code != "sales" for line in draft.line_items):
            return CreateResult(request.operation_key, error="Ledgerly books revenue to the 'sales' account only")
        remote_id = f"lg-{len(self.ledger.invoices) + 1}"
        totals = draft.totals
        invoice = {"id": remote_id, "number": f"LG-{next(self.ledger.numbers):03d}", "word": "open", "key": request.operation_key,
                   "currency": draft.currency, "subtotal": totals.subtotal, "tax": totals.tax, "total": totals.total,
                   "paid": 0, "date": draft.date, "due": draft.due_date, "reference": draft.reference,
                   "contact": draft.customer.name}
        self.ledger._touch(invoice)
        self.ledger.invoices[remote_id] = invoice
        self.ledger.by_key[request.operation_key] = remote_id
        return CreateResult(request.operation_key, invoice=self._invoice(remote_id))

    def _invoice(self, remote_id: str) -> Invoice:
        x = self.ledger.invoices.get(remote_id)
        if x is None:
            raise RemoteNotFound(f"Ledgerly has no invoice {remote_id}", backend=NAME, status=404)
        return Invoice(remote_id=x["id"], number=x["number"], status=self.status_from_remote(x["word"]), currency=x["currency"],
                       subtotal=x["subtotal"], tax=x["tax"], total=x["total"], amount_paid=x["paid"],
                       amount_due=x["total"] - x["paid"], date=x["date"], due_date=x["due"], reference=x["reference"],
                       contact_name=x["contact"], updated_at=x["updated"], backend=NAME)

    async def find_created(self, requests: Any) -> dict[str, Invoice]:
        return {r.operation_key: self._invoice(self.ledger.by_key[r.operation_key])
                for r in requests if r.operation_key in self.ledger.by_key}

    async def change_status(self, remote_id: str, command: Command, operation_key: str) -> Invoice:
        invoice = self._invoice(remote_id)  # RemoteNotFound for an unknown one
        if Command.parse(command) is not Command.VOID or invoice.status is not S.AWAITING_PAYMENT:
            raise RemoteValidationError(f"Ledgerly cannot {command} an invoice that is {invoice.status.value}", backend=NAME)
        self.ledger.invoices[remote_id]["word"] = "cancelled"
        self.ledger._touch(self.ledger.invoices[remote_id])
        return self._invoice(remote_id)

    async def get_invoices(self, remote_ids: Any) -> list[Invoice]:
        return [self._invoice(i) for i in remote_ids if i in self.ledger.invoices]

    async def modified_since(self, since: dt.datetime | None) -> list[Invoice]:
        return [self._invoice(i) for i, x in self.ledger.invoices.items() if since is None or x["updated"] >= since]

    async def invoice_pdf(self, remote_id: str) -> bytes:
        return b"%PDF-1.4 Ledgerly " + self._invoice(remote_id).number.encode()

    async def share_link(self, remote_id: str) -> str:
        return f"https://ledgerly.example/pay/{self._invoice(remote_id).remote_id}"

    async def deep_link(self, remote_id: str) -> str:
        return f"https://ledgerly.example/books/book-1/invoices/{remote_id}"

    def verify_webhook(self, request: Any) -> list[WebhookEvent]:
        if not hmac.compare_digest(request.headers.get("x-ledgerly-signature", ""), self.ledger.sign(request.body)):
            raise WebhookRejected("The Ledgerly signature does not match")
        return [WebhookEvent(kind="invoice_changed", object_id=e["invoice"], event_id=e["id"])
                for e in json.loads(request.body)["events"]]


class LedgerlyPlugin:
    """What the distribution's entry point names: registers a backend bound to its own ledger."""

    def __init__(self) -> None:
        self.ledger = Ledger()
        self.backend = type("LedgerlyBackend", (LedgerlyBackend,), {"ledger": self.ledger})

    @hookimpl
    def invoicebridge_register_backends(self, register: Any) -> None:
        register(self.backend)
