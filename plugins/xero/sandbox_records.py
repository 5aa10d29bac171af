"""The Xero sandbox's records (contacts, invoices with their lines, payments), its validation messages and the
errors its rules raise. :mod:`.sandbox_state` holds them and re-exports these names."""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from attrs import define, field

CENT = Decimal("0.01")
UNIT4 = Decimal("0.0001")
ZERO = Decimal("0.00")
NIL_ID = "00000000-0000-0000-0000-000000000000"
M = {  # validation messages (first-party wording where the fact sheet has it, plausible otherwise)
    "no_contact": "The Contact must contain at least 1 of the following elements to identify the contact: Name, ContactID, ContactNumber",
    "no_type": "The Type field is mandatory.",
    "dup_number": "Invoice # must be unique.",
    "bad_status": "Invoice not of valid status for modification",
    "void_paid": "The status VOIDED cannot be applied to the invoice because it has payments or credit notes allocated to it.",
    "edit_paid": "This document cannot be edited as it has a payment or credit note allocated to it.",
    "overpay": "Payment amount exceeds the amount outstanding on this document",
    "name_taken": "The contact name {name} is already assigned to another contact. The contact name must be unique across all active contacts.",
    "no_account": "Account must be specified: an AccountID or a Code.",
    "bad_account": "Account '{ref}' is not a valid account for this organisation.",
    "no_payments_account": "Account type is invalid for making a payment to/from",
    "archived": "The specified contact details matched an archived contact. Archived contacts cannot currently be edited via the API.",
}


def money(value: Any) -> Decimal:
    return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)


def new_id() -> str:
    return str(uuid.uuid4())


@define
class Contact:
    contact_id: str
    name: str
    contact_number: str = ""
    email: str = ""
    tax_number: str = ""
    addresses: list[dict[str, Any]] = field(factory=list)
    status: str = "ACTIVE"
    is_customer: bool = False
    updated: dt.datetime | None = None
    history: list[dict[str, Any]] = field(factory=list)


@define
class Line:
    line_item_id: str
    description: str
    quantity: Decimal
    unit_amount: Decimal
    item_code: str = ""
    account_code: str = ""
    tax_type: str = ""
    tax_amount: Decimal = ZERO
    line_amount: Decimal = ZERO
    discount_rate: Decimal | None = None
    discount_amount: Decimal | None = None


@define
class Payment:
    payment_id: str
    invoice_id: str
    amount: Decimal
    date: dt.date
    account_code: str = "090"
    status: str = "AUTHORISED"
    updated: dt.datetime | None = None
    history: list[dict[str, Any]] = field(factory=list)


@define
class Invoice:
    invoice_id: str
    type: str
    number: str
    contact_id: str
    status: str
    lines: list[Line]
    date: dt.date
    due_date: dt.date | None
    line_amount_types: str = "Exclusive"
    currency: str = "GBP"
    reference: str = ""
    url: str = ""
    branding_theme_id: str = ""
    sub_total: Decimal = ZERO
    total_tax: Decimal = ZERO
    total: Decimal = ZERO
    amount_paid: Decimal = ZERO
    amount_credited: Decimal = ZERO
    fully_paid_on: dt.date | None = None
    sent_to_contact: bool = False
    created_by_app: str = ""
    online_token: str = field(factory=lambda: secrets.token_urlsafe(12))
    updated: dt.datetime | None = None
    history: list[dict[str, Any]] = field(factory=list)

    @property
    def amount_due(self) -> Decimal:
        return money(self.total - self.amount_paid - self.amount_credited)


class InvoiceProblem(Exception):
    """An element-level validation failure (one or more messages)."""

    def __init__(self, *messages: str) -> None:
        super().__init__("; ".join(messages))
        self.messages = list(messages)


class UnknownContact(Exception):
    """A ContactID that does not exist: the whole request answers 404 (fact sheet §13.10)."""
