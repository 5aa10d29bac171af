"""The domain model: frozen attrs classes with validators, and no wire format.

A :class:`Deal` is a snapshot read from the CRM. Mapping turns it into an :class:`InvoiceDraft` addressed to a
:class:`Customer`; the accounting backend answers with an :class:`Invoice`, and an :class:`InvoiceRecord` is
our own link between the deal and that remote invoice. Money is ``Decimal`` quantised by the rules in
:mod:`invoicebridge.core.money`; currencies are ISO 4217 codes.
"""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal
from typing import Any, Mapping

import attrs
from attrs import field, frozen

from . import money as m

# The catalog and the plugin-exchange classes live in their own modules; plugins and the README import them from
# here, so this stays their public path (see __all__).
from .catalog import Account, BrandingTheme, Catalog, CatalogItem, TaxRate
from .converters import (
    _date, _freeze_mapping, _non_negative, _opt_date, _opt_decimal, _opt_money, _percent, _str, _tuple,
)
from .exchange import (
    AccountChoice, BackendInfo, Capabilities, ConnectResult, Connection, CrmField, DealQuery, DealSummary, Health,
    RemoteUser, Role, WebhookEvent, WebhookRequest,
)
from .i18n import _, format_date, format_number
from .status import InvoiceStatus, parse_status


class TaxHandling(enum.Enum):
    """How line amounts relate to tax: added on top, included, or none."""

    EXCLUSIVE = "Exclusive"
    INCLUSIVE = "Inclusive"
    NO_TAX = "NoTax"

    @classmethod
    def parse(cls, value: "str | TaxHandling") -> "TaxHandling":
        if isinstance(value, cls):
            return value
        key = str(value).strip().lower().replace("_", "").replace(" ", "").replace("-", "")
        for member in cls:
            if key in (member.value.lower(), member.name.lower().replace("_", "")) or (
                key == "none" and member is cls.NO_TAX
            ):
                return member
        raise ValueError(_("unknown tax handling %(value)r; expected Exclusive, Inclusive or NoTax") % {"value": value})


def _tax_handling(value: str | TaxHandling) -> TaxHandling:
    return TaxHandling.parse(value)


def _optional_tax_handling(value: str | TaxHandling | None) -> TaxHandling | None:
    return None if value is None or value == "" else TaxHandling.parse(value)


class DiscountType(enum.Enum):
    PERCENTAGE = "percentage"
    AMOUNT = "amount"


@frozen
class Address:
    line1: str = field(default="", converter=_str)
    line2: str = field(default="", converter=_str)
    city: str = field(default="", converter=_str)
    region: str = field(default="", converter=_str)
    postal_code: str = field(default="", converter=_str)
    country: str = field(default="", converter=_str)

    @property
    def is_empty(self) -> bool:
        return not any(attrs.astuple(self))

    def one_line(self) -> str:
        return ", ".join(p for p in attrs.astuple(self) if p)

    @classmethod
    def from_text(cls, text: str) -> "Address":
        """A free-text address (one CRM field) kept whole on the first line."""
        return cls(line1=(text or "").strip())


@frozen
class Organization:
    id: str = field(converter=str)
    name: str = field(converter=_str)
    address: Address = field(factory=Address)
    custom_fields: Mapping[str, Any] = field(factory=dict, converter=_freeze_mapping, eq=False)


@frozen
class Person:
    id: str = field(converter=str)
    name: str = field(converter=_str)
    emails: tuple[str, ...] = field(default=(), converter=_tuple)
    primary_email: str = field(default="", converter=_str)
    phone: str = field(default="", converter=_str)
    custom_fields: Mapping[str, Any] = field(factory=dict, converter=_freeze_mapping, eq=False)

    @property
    def email(self) -> str:
        """The primary email, else the first one, else empty."""
        return self.primary_email or (self.emails[0] if self.emails else "")


@frozen
class DealProduct:
    """A product attached to a deal, as the CRM describes it: the line sum is
    ``quantity × item_price`` less the discount (a percentage of it, or an amount); tax is a percentage that
    is added (exclusive), already included (inclusive) or absent (none) per the deal's tax method."""

    name: str = field(converter=_str)
    quantity: Decimal = field(converter=m.quantity, validator=_non_negative)
    item_price: Decimal = field(converter=m.unit_price)
    discount: Decimal = field(default=Decimal(0), converter=m.to_decimal, validator=_non_negative)
    discount_type: DiscountType = field(default=DiscountType.PERCENTAGE, converter=DiscountType)
    tax_percent: Decimal = field(default=Decimal(0), converter=m.to_decimal, validator=_percent)
    enabled: bool = True
    code: str = field(default="", converter=_str)
    product_id: str = field(default="", converter=_str)
    id: str = field(default="", converter=_str)
    comments: str = field(default="", converter=_str)

    @discount.validator
    def _check_discount(self, attribute: attrs.Attribute, value: Decimal) -> None:
        if self.discount_type is DiscountType.PERCENTAGE and value > 100:
            raise ValueError(_("a percentage discount cannot exceed 100, got %(value)s") % {"value": format_number(value)})


@frozen
class DealDiscount:
    """A deal-level ("additional") discount: a percentage of the products' sum, or an amount."""

    amount: Decimal = field(converter=m.to_decimal, validator=_non_negative)
    type: DiscountType = field(default=DiscountType.AMOUNT, converter=DiscountType)
    description: str = field(default="Discount", converter=_str)


@frozen
class Deal:
    id: str = field(converter=str)
    title: str = field(converter=_str)
    value: Decimal = field(converter=m.money)
    currency: str = field(converter=m.currency_code)
    status: str = field(default="open", converter=_str)
    won_time: dt.datetime | None = None
    organization: Organization | None = None
    person: Person | None = None
    products: tuple[DealProduct, ...] = field(default=(), converter=_tuple)
    # how the deal's prices relate to tax; None when the deal names none (the accounting backend's
    # Capabilities.default_tax_handling applies)
    tax_method: TaxHandling | None = field(default=None, converter=_optional_tax_handling)
    discounts: tuple[DealDiscount, ...] = field(default=(), converter=_tuple)
    custom_fields: Mapping[str, Any] = field(factory=dict, converter=_freeze_mapping, eq=False)
    url: str = field(default="", converter=_str)
    owner_name: str = field(default="", converter=_str)
    source: str = field(default="", converter=_str)  # the CRM plugin's name
    # None: ``products`` and ``discounts`` are the deal's, as read. A number: a read for a page that leaves the
    # lines out (``CrmSource.get_deal_head``) found this many lines and did not read them; ``products`` and
    # ``discounts`` are then empty and the deal must not be turned into an invoice (``map_deal`` refuses it).
    unread_lines: int | None = None

    @property
    def is_won(self) -> bool:
        return self.status == "won"


@frozen
class Customer:
    """The invoice recipient after mapping. ``external_key`` is our stable key for the contact
    (the CRM's organization or person id), stored with the contact in the accounting system."""

    name: str = field(converter=_str)
    email: str = field(default="", converter=_str)
    tax_number: str = field(default="", converter=_str)
    address: Address = field(factory=Address)
    external_key: str = field(default="", converter=_str)

    @name.validator
    def _check_name(self, attribute: attrs.Attribute, value: str) -> None:
        if not value.strip():
            raise ValueError(_("a customer needs a name"))
        if len(value) > 255:
            raise ValueError(_("a customer name is at most 255 characters"))


@frozen
class LineItem:
    description: str = field(converter=_str)
    quantity: Decimal = field(default=Decimal(1), converter=m.quantity, validator=_non_negative)
    unit_amount: Decimal = field(default=Decimal(0), converter=m.unit_price)
    discount_rate: Decimal | None = field(default=None, converter=_opt_decimal, validator=_percent)
    discount_amount: Decimal | None = field(default=None, converter=_opt_money)
    item_code: str = field(default="", converter=_str)
    account_code: str = field(default="", converter=_str)
    tax_type: str = field(default="", converter=_str)
    tax_percent: Decimal = field(default=Decimal(0), converter=m.to_decimal, validator=_percent)

    @discount_amount.validator
    def _check_discount(self, attribute: attrs.Attribute, value: Decimal | None) -> None:
        if value is not None and self.discount_rate is not None:
            raise ValueError(_("a line has a discount rate or a discount amount, not both"))

    @property
    def line_amount(self) -> Decimal:
        """Quantity × unit amount less the discount, rounded to cents (as accounting systems store a line amount)."""
        gross = self.quantity * self.unit_amount
        if self.discount_rate is not None:
            return m.money(gross * (m.HUNDRED - self.discount_rate) / m.HUNDRED)
        if self.discount_amount is not None:
            return m.money(gross - self.discount_amount)
        return m.money(gross)


@frozen
class Totals:
    subtotal: Decimal = field(converter=m.money)
    tax: Decimal = field(converter=m.money)
    total: Decimal = field(converter=m.money)


def line_tax(line: LineItem, handling: TaxHandling) -> Decimal:
    """Tax on one line, rounded per line: added on top (exclusive) or contained in the amount (inclusive)."""
    amount = line.line_amount
    rate = line.tax_percent
    if handling is TaxHandling.NO_TAX or not rate:
        return m.ZERO
    if handling is TaxHandling.EXCLUSIVE:
        return m.money(amount * rate / m.HUNDRED)
    return m.money(amount - amount * m.HUNDRED / (m.HUNDRED + rate))


def compute_totals(lines: "tuple[LineItem, ...] | list[LineItem]", handling: TaxHandling) -> Totals:
    tax = sum((line_tax(line, handling) for line in lines), m.ZERO)
    amounts = sum((line.line_amount for line in lines), m.ZERO)
    if handling is TaxHandling.INCLUSIVE:
        return Totals(subtotal=amounts - tax, tax=tax, total=amounts)
    return Totals(subtotal=amounts, tax=tax, total=amounts + tax)


@frozen
class InvoiceDraft:
    """What we ask the accounting backend to create."""

    deal_id: str = field(converter=str)
    customer: Customer
    line_items: tuple[LineItem, ...] = field(converter=_tuple)
    date: dt.date = field(converter=_date)
    due_date: dt.date = field(converter=_date)
    currency: str = field(converter=m.currency_code)
    tax_handling: TaxHandling = field(default=TaxHandling.EXCLUSIVE, converter=_tax_handling)
    reference: str = field(default="", converter=_str)
    branding_theme_id: str = field(default="", converter=_str)
    url: str = field(default="", converter=_str)
    status: InvoiceStatus = field(default=InvoiceStatus.DRAFT, converter=parse_status)
    number: str = field(default="", converter=_str)

    @line_items.validator
    def _check_lines(self, attribute: attrs.Attribute, value: tuple[LineItem, ...]) -> None:
        if not value:
            raise ValueError(_("an invoice needs at least one line item"))

    @due_date.validator
    def _check_due(self, attribute: attrs.Attribute, value: dt.date) -> None:
        if value < self.date:
            raise ValueError(_("due date %(due)s is before invoice date %(date)s") % {"due": format_date(value), "date": format_date(self.date)})

    @status.validator
    def _check_status(self, attribute: attrs.Attribute, value: InvoiceStatus) -> None:
        if value not in (InvoiceStatus.DRAFT, InvoiceStatus.AWAITING_APPROVAL, InvoiceStatus.AWAITING_PAYMENT):
            raise ValueError(_("a new invoice is %(draft)s, %(submitted)s or %(authorised)s, not %(status)s") % {
                "draft": InvoiceStatus.DRAFT.label, "submitted": InvoiceStatus.AWAITING_APPROVAL.label,
                "authorised": InvoiceStatus.AWAITING_PAYMENT.label, "status": value.label})

    @property
    def totals(self) -> Totals:
        return compute_totals(self.line_items, self.tax_handling)


@frozen
class Invoice:
    """The accounting backend's view of an invoice."""

    remote_id: str = field(converter=str)
    number: str = field(converter=_str)
    status: InvoiceStatus = field(converter=parse_status)
    currency: str = field(converter=m.currency_code)
    subtotal: Decimal = field(default=Decimal(0), converter=m.money)
    tax: Decimal = field(default=Decimal(0), converter=m.money)
    total: Decimal = field(default=Decimal(0), converter=m.money)
    amount_paid: Decimal = field(default=Decimal(0), converter=m.money)
    amount_due: Decimal = field(default=Decimal(0), converter=m.money)
    date: dt.date | None = field(default=None, converter=_opt_date)
    due_date: dt.date | None = field(default=None, converter=_opt_date)
    reference: str = field(default="", converter=_str)
    contact_name: str = field(default="", converter=_str)
    updated_at: dt.datetime | None = None
    url: str = field(default="", converter=_str)  # the source link we set (the deal URL)
    backend: str = field(default="", converter=_str)
    sent: bool = field(default=False, converter=bool)  # sent to the customer from the accounting system


@frozen
class InvoiceRecord:
    """Our link between a CRM deal and a remote invoice, as stored."""

    id: int
    deal_id: str = field(converter=str)
    backend: str = field(converter=_str)
    remote_id: str = field(converter=_str)
    number: str = field(converter=_str)
    status: InvoiceStatus = field(converter=parse_status)
    currency: str = field(converter=m.currency_code)
    total: Decimal = field(default=Decimal(0), converter=m.money)
    amount_paid: Decimal = field(default=Decimal(0), converter=m.money)
    amount_due: Decimal = field(default=Decimal(0), converter=m.money)
    date: dt.date | None = field(default=None, converter=_opt_date)
    due_date: dt.date | None = field(default=None, converter=_opt_date)
    contact_name: str = field(default="", converter=_str)
    reference: str = field(default="", converter=_str)
    operation_key: str = field(default="", converter=_str)
    created_at: str = field(default="", converter=_str)
    updated_at: str = field(default="", converter=_str)
    sent: bool = field(default=False, converter=bool)  # sent to the customer (by us or in the accounting system)

    @property
    def status_label(self) -> str:
        from .status import display_label

        return display_label(self.status, amount_paid=self.amount_paid)

    @property
    def is_dead(self) -> bool:
        """Voided or deleted: it no longer counts and nobody owes anything on it."""
        return self.status.is_terminal

    @property
    def outstanding(self) -> Decimal:
        """What is still owed: the amount due, except that a dead invoice owes nothing (some backends keep
        reporting its total as due). The total stays on the record for reference."""
        return m.money(0) if self.is_dead else self.amount_due


# ---- what a create asks of the accounting backend, and its answer ------------------------------------


@frozen
class CreateRequest:
    """One invoice to create. ``operation_key`` is stable across retries and doubles as idempotency key."""

    operation_key: str
    draft: InvoiceDraft
    contact_id: str = ""


@frozen
class CreateResult:
    operation_key: str
    invoice: Invoice | None = None
    error: str = ""
    errors: tuple[str, ...] = field(default=(), converter=_tuple)
    retryable: bool = False

    @property
    def ok(self) -> bool:
        return self.invoice is not None


__all__ = [
    "Account", "AccountChoice", "Address", "BackendInfo", "BrandingTheme", "Capabilities", "Catalog", "CatalogItem",
    "ConnectResult", "Connection", "CreateRequest", "CreateResult", "CrmField", "Customer", "Deal", "DealDiscount",
    "DealProduct", "DealQuery", "DealSummary", "DiscountType", "Health", "Invoice", "InvoiceDraft", "InvoiceRecord",
    "LineItem", "Organization", "Person", "RemoteUser", "Role", "TaxHandling", "TaxRate", "Totals", "WebhookEvent",
    "WebhookRequest", "compute_totals", "line_tax",
]
