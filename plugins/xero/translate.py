"""Between the core model and Xero's wire classes: drafts and customers out, invoices and catalog in.

Amounts are quantised here (2 dp money, 4 dp unit amounts and quantities, sent with ``unitdp=4``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from decimal import Decimal

from invoicebridge.core import money as m
from invoicebridge.core.model import (
    Account,
    BrandingTheme,
    Catalog,
    CatalogItem,
    Customer,
    Invoice,
    InvoiceDraft,
    LineItem,
    RemoteUser,
    TaxRate,
)

from . import converter as w
from .statuses import from_xero, to_xero

MAX_IDEMPOTENCY_KEY = 128
_SAFE_KEY = re.compile(rf"^[A-Za-z0-9._:~-]{{1,{MAX_IDEMPOTENCY_KEY}}}$")

# Xero's API roles (fact sheet §8): only Standard and Adviser may use the integration (Pipedrive's rule);
# "Adviser" in the UI is FINANCIALADVISER in the API.
ROLE_LABELS = {
    "STANDARD": "Standard",
    "FINANCIALADVISER": "Adviser",
    "INVOICEONLY": "Invoice only",
    "READONLY": "Read only",
    "MANAGEDCLIENT": "Managed client",
    "CASHBOOKCLIENT": "Cashbook client",
    "UNKNOWN": "Unknown",
    "REMOVED": "Removed",
}
MAY_CREATE = frozenset({"STANDARD", "FINANCIALADVISER"})
MAY_APPROVE = frozenset({"STANDARD", "FINANCIALADVISER"})


def idempotency_key(*operation_keys: str) -> str:
    """Our operation key itself when it fits Xero's 128 characters, else a digest of all keys (a batch)."""
    if len(operation_keys) == 1 and _SAFE_KEY.match(operation_keys[0]):
        return operation_keys[0]
    digest = hashlib.sha256("\x1f".join(operation_keys).encode()).hexdigest()
    return f"ib-{digest}"


def _q(value: Decimal, unit: Decimal) -> Decimal:
    return m.to_decimal(value).quantize(unit)


def line_to_wire(line: LineItem) -> w.LineItem:
    return w.LineItem(
        description=line.description or None,
        quantity=_q(line.quantity, m.QTY),
        unit_amount=_q(line.unit_amount, m.UNIT),
        item_code=line.item_code or None,
        account_code=line.account_code or None,
        tax_type=line.tax_type or None,
        discount_rate=_q(line.discount_rate, m.CENT) if line.discount_rate is not None else None,
        discount_amount=m.money(line.discount_amount) if line.discount_amount is not None else None,
    )


def draft_to_wire(draft: InvoiceDraft, contact_id: str) -> w.Invoice:
    contact = (
        w.Contact(contact_id=contact_id)
        if contact_id
        else w.Contact(name=draft.customer.name, contact_number=draft.customer.external_key or None)
    )
    return w.Invoice(
        type="ACCREC",
        contact=contact,
        line_items=[line_to_wire(line) for line in draft.line_items],
        date=draft.date,
        due_date=draft.due_date,
        line_amount_types=draft.tax_handling.value,
        currency_code=draft.currency,
        reference=draft.reference or None,
        branding_theme_id=draft.branding_theme_id or None,
        url=draft.url or None,
        status=to_xero(draft.status),
        invoice_number=draft.number or None,
    )


def customer_to_wire(customer: Customer) -> w.Contact:
    address = customer.address
    addresses = None
    if not address.is_empty:
        addresses = [
            w.Address(
                address_type="POBOX",  # Xero's postal address slot
                address_line1=address.line1 or None,
                address_line2=address.line2 or None,
                city=address.city or None,
                region=address.region or None,
                postal_code=address.postal_code or None,
                country=address.country or None,
            )
        ]
    return w.Contact(
        name=customer.name,
        contact_number=customer.external_key[:50] or None,
        email_address=customer.email or None,
        tax_number=customer.tax_number[:50] or None,
        addresses=addresses,
    )


def _money(value: Decimal | None) -> Decimal:
    return m.money(value if value is not None else 0)


def invoice_from_wire(x: w.Invoice) -> Invoice:
    return Invoice(
        remote_id=x.invoice_id or "",
        number=x.invoice_number or "",
        status=from_xero(x.status),
        currency=x.currency_code or "USD",
        subtotal=_money(x.sub_total),
        tax=_money(x.total_tax),
        total=_money(x.total),
        amount_paid=_money(x.amount_paid),
        amount_due=_money(x.amount_due),
        date=x.date,
        due_date=x.due_date,
        reference=x.reference or "",
        contact_name=(x.contact.name or "") if x.contact else "",
        updated_at=x.updated_date_utc,
        url=x.url or "",
        backend="xero",
        sent=bool(x.sent_to_contact),
    )


def element_errors(element: w.Invoice | w.Contact) -> list[str]:
    return [e.message for e in (element.validation_errors or []) if e.message]


def element_failed(element: w.Invoice | w.Contact) -> bool:
    return (element.status_attribute_string or "").upper() == "ERROR" or bool(
        getattr(element, "has_errors", None) or getattr(element, "has_validation_errors", None)
    ) and bool(element_errors(element))


SALES_ACCOUNT = "200"  # Sales in Xero's default chart of accounts: where lines without an item's account go


def catalog_from_wire(
    organisation: w.Organisation,
    items: list[w.Item],
    tax_rates: list[w.TaxRate],
    accounts: list[w.Account],
    currencies: list[w.Currency],
    themes: list[w.BrandingTheme],
) -> Catalog:
    base = organisation.base_currency or "USD"
    codes = [c.code for c in currencies if c.code]
    if base not in codes:
        codes.insert(0, base)
    sales = [
        Account(code=a.code or "", name=a.name or "", tax_type=a.tax_type or "")
        for a in accounts
        if a.code and (a.account_class == "REVENUE" or a.type in ("REVENUE", "SALES", "OTHERINCOME"))
        and (a.status or "ACTIVE") == "ACTIVE"
    ]
    return Catalog(
        base_currency=base,
        currencies=codes,
        organisation_name=organisation.name or "",
        items=[
            CatalogItem(
                code=i.code or "",
                name=i.name or "",
                description=i.description or "",
                unit_price=i.sales_details.unit_price if i.sales_details else None,
                account_code=(i.sales_details.account_code or "") if i.sales_details else "",
                tax_type=(i.sales_details.tax_type or "") if i.sales_details else "",
            )
            for i in items
            if i.code and i.is_sold is not False
        ],
        tax_rates=[
            TaxRate(tax_type=t.tax_type or "", name=t.name or "", rate=t.effective_rate or t.display_tax_rate or 0)
            for t in tax_rates
            if t.tax_type and t.can_apply_to_revenue is not False and (t.status or "ACTIVE") == "ACTIVE"
        ],
        accounts=sales,
        default_account_code=SALES_ACCOUNT if any(a.code == SALES_ACCOUNT for a in sales) else "",
        branding_themes=[
            BrandingTheme(id=t.branding_theme_id or "", name=t.name or "")
            for t in sorted(themes, key=lambda t: t.sort_order or 0)
        ],
    )


def remote_user(user: w.User) -> RemoteUser:
    role = (user.organisation_role or "UNKNOWN").upper()
    name = " ".join(p for p in (user.first_name, user.last_name) if p) or (user.email_address or "Xero user")
    return RemoteUser(
        name=name,
        email=user.email_address or "",
        role=role,
        may_create=role in MAY_CREATE,
        may_approve=role in MAY_APPROVE,
    )


def http_date(moment: dt.datetime) -> str:
    """``If-Modified-Since`` value: RFC 3339 date-time in UTC with its offset, as the spec declares it
    (example ``2020-02-06T12:17:43.202-08:00``)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.astimezone(dt.timezone.utc).isoformat(timespec="milliseconds")
