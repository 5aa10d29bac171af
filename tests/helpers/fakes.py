"""In-memory CRM and accounting backends, registered like third-party plugins, for core tests.

They prove the core needs nothing vendor-specific, and let pipeline tests count calls and inject faults.
"""

from __future__ import annotations

import hashlib
import itertools
from decimal import Decimal

from invoicebridge.core import (
    BackendInfo,
    Capabilities,
    Catalog,
    CatalogItem,
    CreateResult,
    CrmField,
    Health,
    Invoice,
    InvoiceStatus,
    RemoteNotFound,
    RemoteUser,
    Role,
    TaxRate,
    WebhookEvent,
    WebhookRejected,
    hookimpl,
)
from invoicebridge.core.model import Account
from invoicebridge.core.status import Command


class MemoryCRM:
    name = "memcrm"

    def __init__(self):
        self.deals = {}
        self.activities = {}
        self.notes = {}
        self.won = []
        self.reads = 0

    @property
    def info(self):
        return BackendInfo(name=self.name, role=Role.CRM, label="Memory CRM", auth_methods=("token",),
                           capabilities=Capabilities(webhooks=True, deal_fields=True))

    @hookimpl
    def invoicebridge_register_backends(self, register):
        register(self)

    def open(self, connection, context):
        return self  # one in-memory CRM, whatever the connection

    def get_deal(self, deal_id):
        self.reads += 1
        if deal_id not in self.deals:
            raise RemoteNotFound(f"Deal {deal_id} does not exist in the CRM", backend=self.name, status=404)
        return self.deals[deal_id]

    async def get_deals(self, deal_ids):
        return [self.deals[d] for d in deal_ids if d in self.deals]

    def list_fields(self):
        return [CrmField(entity="organization", key="name", name="Name"),
                CrmField(entity="organization", key="v" * 40, name="VAT number", is_custom=True),
                CrmField(entity="deal", key="n" * 40, name="Invoice number", is_custom=True, writable=True),
                CrmField(entity="deal", key="s" * 40, name="Invoice status", is_custom=True, writable=True)]

    def set_deal_fields(self, deal_id, values):
        self.deal_fields = getattr(self, "deal_fields", {})
        self.deal_fields.setdefault(deal_id, {}).update(values)
        self.field_writes = getattr(self, "field_writes", []) + [(deal_id, dict(values))]

    # Each write-back is kept by its dedupe key, so a repeat never makes a second one; ``sends`` records what the
    # outbox said about each call (kind, key, in doubt / the activity id it passed).
    def add_activity(self, deal_id, subject, due_date, note, dedupe_key, *, in_doubt=False):
        self.sends = getattr(self, "sends", []) + [("activity", dedupe_key, in_doubt)]
        self.activities.setdefault(dedupe_key, (deal_id, subject, due_date))
        return dedupe_key

    def add_note(self, deal_id, content, dedupe_key, *, in_doubt=False):
        self.sends = getattr(self, "sends", []) + [("note", dedupe_key, in_doubt)]
        self.notes.setdefault(dedupe_key, (deal_id, content))
        return dedupe_key

    def complete_activity(self, deal_id, dedupe_key, *, activity_id=""):
        self.sends = getattr(self, "sends", []) + [("complete", dedupe_key, activity_id)]
        self.completed = getattr(self, "completed", [])
        if dedupe_key in self.activities and dedupe_key not in self.completed:
            self.completed.append(dedupe_key)
        return dedupe_key if dedupe_key in self.activities else ""

    def verify_webhook(self, request):
        if request.headers.get("x-secret") != "s3cret":
            raise WebhookRejected("bad credentials")
        import json

        body = json.loads(request.body)
        return [WebhookEvent(kind=body["kind"], object_id=str(body["deal"]), event_id=body["id"])]

    @hookimpl
    def on_deal_won(self, runtime, deal_id):
        self.won.append(deal_id)


class MemoryAccounting:
    name = "memacct"

    def __init__(self):
        self.invoices = {}
        self.contacts = {}
        self.calls = []
        self.fail_next = []  # exceptions to raise on the next create calls
        self.fail_sync = []  # exceptions to raise on the next modified-since reads
        self.numbers = itertools.count(1)
        self.role = "STANDARD"
        # what it declares; a test switches one off before the first pipeline call (the registry keeps them)
        self.capabilities = Capabilities(webhooks=True, approval_roles=True)
        self.catalog = Catalog(
            base_currency="GBP",
            currencies=["GBP", "EUR"],
            items=[CatalogItem(code="CONSULT-HR", name="Consulting", description="Consulting per hour", unit_price="120", account_code="200", tax_type="OUTPUT2")],
            tax_rates=[TaxRate(tax_type="OUTPUT2", name="20%", rate=20), TaxRate(tax_type="NONE", name="None", rate=0)],
            accounts=[Account(code="200", name="Sales")],
            organisation_name="Demo Ltd",
            default_account_code="200",
        )

    @property
    def info(self):
        return BackendInfo(name=self.name, role=Role.ACCOUNTING, label="Memory accounting", capabilities=self.capabilities)

    @hookimpl
    def invoicebridge_register_backends(self, register):
        register(self)

    def open(self, connection, context):
        return _BoundAccounting(self)

    def check(self):
        return Health(ok=True, user=self.current_user())

    def read_catalog(self):
        self.calls.append("catalog")
        return self.catalog

    def current_user(self):
        self.calls.append("user")
        return RemoteUser(name="Ann", role=self.role, may_create=True, may_approve=self.role == "FINANCIALADVISER")

    def find_or_create_customers(self, customers):
        self.calls.append("contacts")
        out = []
        for c in customers:
            self.contacts.setdefault(c.external_key or c.name, f"contact-{len(self.contacts) + 1}")
            out.append(self.contacts[c.external_key or c.name])
        return out

    async def create_invoices(self, requests):
        self.calls.append("create")
        if self.fail_next:
            raise self.fail_next.pop(0)
        results = []
        for r in requests:
            if r.draft.reference == "REJECT":
                results.append(CreateResult(operation_key=r.operation_key, error="Reference REJECT is refused"))
                continue
            if r.operation_key in self.invoices:  # idempotency
                results.append(CreateResult(operation_key=r.operation_key, invoice=self.invoices[r.operation_key]))
                continue
            totals = r.draft.totals
            inv = Invoice(remote_id=f"inv-{hashlib.sha256(r.operation_key.encode()).hexdigest()[:16]}", number=f"INV-{next(self.numbers):04d}", status=r.draft.status,
                          currency=r.draft.currency, subtotal=totals.subtotal, tax=totals.tax, total=totals.total,
                          amount_due=totals.total, date=r.draft.date, due_date=r.draft.due_date, reference=r.draft.reference,
                          contact_name=r.draft.customer.name)
            self.invoices[r.operation_key] = inv
            results.append(CreateResult(operation_key=r.operation_key, invoice=inv))
        return results

    def find_created(self, requests):
        self.calls.append("find")
        return {r.operation_key: self.invoices[r.operation_key] for r in requests if r.operation_key in self.invoices}

    def by_remote(self, remote_id):
        return next(k for k, v in self.invoices.items() if v.remote_id == remote_id)

    def set_status(self, remote_id, status, paid=None):
        import attrs

        key = self.by_remote(remote_id)
        inv = self.invoices[key]
        paid = inv.total if status is InvoiceStatus.PAID else (Decimal(paid) if paid is not None else inv.amount_paid)
        self.invoices[key] = attrs.evolve(inv, status=status, amount_paid=paid, amount_due=inv.total - paid)
        return self.invoices[key]

    def change_status(self, remote_id, command, operation_key):
        target = {Command.SUBMIT: InvoiceStatus.AWAITING_APPROVAL, Command.APPROVE: InvoiceStatus.AWAITING_PAYMENT,
                  Command.DELETE: InvoiceStatus.DELETED, Command.VOID: InvoiceStatus.VOIDED}.get(command)
        if target is None:
            return self.invoices[self.by_remote(remote_id)]
        return self.set_status(remote_id, target)

    def get_invoices(self, remote_ids):
        self.calls.append("get")
        return [v for v in self.invoices.values() if v.remote_id in remote_ids]

    def modified_since(self, since):
        self.calls.append("modified")
        if self.fail_sync:
            raise self.fail_sync.pop(0)
        return list(self.invoices.values())

    def verify_webhook(self, request):
        if request.headers.get("x-sig") != "good":
            raise WebhookRejected("Signature does not match")
        import json

        return [WebhookEvent(kind="invoice_changed", object_id=e["id"], event_id=e["event"]) for e in json.loads(request.body)]


class _BoundAccounting:
    """MemoryAccounting as an AccountingBackend (its ``catalog`` attribute is the data, so ``catalog()`` is here)."""

    def __init__(self, fake):
        self.fake = fake

    def catalog(self):
        return self.fake.read_catalog()

    def __getattr__(self, name):
        return getattr(self.fake, name)

