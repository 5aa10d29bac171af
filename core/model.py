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
from typing import Any, Iterable, Mapping

import attrs
from attrs import field, frozen

from . import money as m
from .i18n import LazyText, _, format_date, format_number
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


class DiscountType(enum.Enum):
    PERCENTAGE = "percentage"
    AMOUNT = "amount"


def _freeze_mapping(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    from types import MappingProxyType

    return MappingProxyType(dict(value or {}))


def _non_negative(instance: Any, attribute: attrs.Attribute, value: Decimal) -> None:
    if value < 0:
        raise ValueError(_("%(field)s must not be negative, got %(value)s") % {"field": attribute.name, "value": format_number(value)})


def _percent(instance: Any, attribute: attrs.Attribute, value: Decimal | None) -> None:
    if value is not None and not (Decimal(0) <= value <= Decimal(100)):
        raise ValueError(_("%(field)s is a percentage between 0 and 100, got %(value)s") % {"field": attribute.name, "value": format_number(value)})


# Converters are named functions so the type checker's attrs support can read them (it can't a call or a classmethod).
def _blank(v: Any) -> bool:
    return v is None or v == ""


def _opt_decimal(v: Any) -> Decimal | None:
    return None if _blank(v) else m.to_decimal(v)


def _opt_money(v: Any) -> Decimal | None:
    return None if _blank(v) else m.money(v)


def _opt_unit_price(v: Any) -> Decimal | None:
    return None if _blank(v) else m.unit_price(v)


def _opt_date(v: Any) -> dt.date | None:
    return None if _blank(v) else _date(v)


def _tuple(values: Iterable[Any]) -> tuple[Any, ...]:
    return tuple(values)


def _tax_handling(value: str | TaxHandling) -> TaxHandling:
    return TaxHandling.parse(value)


def _str(v: Any) -> str:
    return "" if v is None else str(v)


def _date(v: Any) -> dt.date:
    if isinstance(v, dt.datetime):
        return v.date()
    if isinstance(v, dt.date):
        return v
    if isinstance(v, str):
        return dt.date.fromisoformat(v.strip()[:10])
    raise TypeError(_("%(value)r is not a date") % {"value": v})


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
    tax_method: TaxHandling = field(default=TaxHandling.EXCLUSIVE, converter=_tax_handling)
    discounts: tuple[DealDiscount, ...] = field(default=(), converter=_tuple)
    custom_fields: Mapping[str, Any] = field(factory=dict, converter=_freeze_mapping, eq=False)
    url: str = field(default="", converter=_str)
    owner_name: str = field(default="", converter=_str)
    source: str = field(default="", converter=_str)  # the CRM plugin's name

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


# ---- catalog: what the accounting backend offers, used by mapping and preview -------------------------


@frozen
class CatalogItem:
    """A product or service the accounting system sells. ``account_code`` and ``tax_type`` are its defaults: what
    the backend applies to a line with this item that names no account or tax."""

    code: str = field(converter=_str)
    name: str = field(default="", converter=_str)
    description: str = field(default="", converter=_str)
    unit_price: Decimal | None = field(default=None, converter=_opt_unit_price)
    account_code: str = field(default="", converter=_str)
    tax_type: str = field(default="", converter=_str)


@frozen
class TaxRate:
    tax_type: str = field(converter=_str)
    name: str = field(converter=_str)
    rate: Decimal = field(converter=m.to_decimal)


@frozen
class Account:
    code: str = field(converter=_str)
    name: str = field(converter=_str)
    tax_type: str = field(default="", converter=_str)  # the default tax of a line on this account naming none


@frozen
class BrandingTheme:
    id: str = field(converter=_str)
    name: str = field(converter=_str)


@frozen
class Catalog:
    """The accounting organisation's lists, as the mapping and the preview need them."""

    base_currency: str = field(default="USD", converter=m.currency_code)
    currencies: tuple[str, ...] = field(default=(), converter=lambda v: tuple(m.currency_code(c) for c in v))
    items: tuple[CatalogItem, ...] = field(default=(), converter=_tuple)
    tax_rates: tuple[TaxRate, ...] = field(default=(), converter=_tuple)
    accounts: tuple[Account, ...] = field(default=(), converter=_tuple)
    branding_themes: tuple[BrandingTheme, ...] = field(default=(), converter=_tuple)
    organisation_name: str = field(default="", converter=_str)
    default_account_code: str = field(default="", converter=_str)  # the usual sales account, for lines without one

    def item(self, code: str) -> CatalogItem | None:
        return next((i for i in self.items if i.code.lower() == code.lower()), None) if code else None

    def tax_rate(self, tax_type: str) -> TaxRate | None:
        return next((t for t in self.tax_rates if t.tax_type == tax_type), None)

    def tax_type_for_percent(self, percent: Decimal) -> TaxRate | None:
        """The revenue tax rate with this percentage (the first one, as listed by the backend)."""
        return next((t for t in self.tax_rates if t.rate == percent), None)

    def account(self, code: str) -> Account | None:
        return next((a for a in self.accounts if a.code == code), None)

    def default_tax_type(self, item_code: str = "", account_code: str = "") -> str:
        """The tax the backend applies to a line that names none: the item's default, else the account's (the
        line's account, else the item's); "" when neither has one."""
        item = self.item(item_code) if item_code else None
        if item is not None and item.tax_type:
            return item.tax_type
        account = self.account(account_code or (item.account_code if item is not None else ""))
        return account.tax_type if account is not None else ""


# ---- what plugins exchange with the core -------------------------------------------------------------


class Role(enum.Enum):
    CRM = "crm"
    ACCOUNTING = "accounting"


def _statuses(values: Any) -> frozenset[InvoiceStatus]:
    return frozenset(InvoiceStatus.parse(v) for v in values)


@frozen
class Capabilities:
    """What a backend can do. Core, pages and API adapt to it (no "Save as draft" without ``drafts``, no
    "Submit for approval" without ``approval_step``, batches of ``batch_size``). The defaults describe a full
    accounting backend; a CRM source ignores the invoice ones."""

    drafts: bool = True  # invoices can be created and kept as drafts (and deleted while draft)
    approval_step: bool = True  # a draft can be submitted for approval before it is approved
    batch_size: int = field(default=50, validator=attrs.validators.ge(1))  # invoices (and contacts) per create call
    share_link_statuses: frozenset[InvoiceStatus] = field(
        default=frozenset({InvoiceStatus.AWAITING_PAYMENT, InvoiceStatus.PAID, InvoiceStatus.VOIDED}), converter=_statuses)
    email: bool = True  # the backend sends the invoice to the customer (the email command)
    email_statuses: frozenset[InvoiceStatus] = field(
        default=frozenset({InvoiceStatus.AWAITING_PAYMENT, InvoiceStatus.PAID}), converter=_statuses)
    void: bool = True  # an approved, unpaid invoice can be voided
    # statuses in which the delete command is offered (an awaiting-payment one only while unpaid); drafts need `drafts`
    delete_statuses: frozenset[InvoiceStatus] = field(
        default=frozenset({InvoiceStatus.DRAFT, InvoiceStatus.AWAITING_APPROVAL}), converter=_statuses)
    pdf: bool = True
    online_link: bool = True  # deep_link opens the invoice in the backend's web app
    payments: bool = True  # amount_paid is reported (partly paid is derived from it)
    idempotency: bool = True  # create_invoices honours the operation key as an idempotency key …
    idempotency_window: dt.timedelta | None = None  # … for this long (None: forever)
    change_feed: bool = True  # modified_since answers; without it sync reads the open invoices by id
    webhooks: bool = False  # verify_webhook receives change events
    find_created: bool = True  # find_created can recover creates after a crash
    approval_roles: bool = False  # current_user's may_approve is meaningful (else everyone may)
    default_account_code: str = ""  # the revenue account a line uses when the mapping names none
    default_tax_handling: str = "Exclusive"  # TaxHandling of a draft whose deal names none


@frozen
class AccountChoice:
    """One remote account/organisation a connect may select; ``settings`` is what the backend wants stored on
    the connection when it is chosen (core stores it without reading it)."""

    id: str = field(converter=str)
    name: str = field(default="", converter=_str)
    settings: Mapping[str, Any] = field(factory=dict, converter=_freeze_mapping, eq=False)


@frozen
class BackendInfo:
    """A plugin announces each backend it provides (``invoicebridge_register_backends``)."""

    name: str  # short id used everywhere (URLs, settings, the environment): lower-case letters
    role: Role = field(converter=Role)
    label: str = ""
    capabilities: Capabilities = field(factory=Capabilities)
    auth_methods: tuple[str, ...] = field(default=("oauth",), converter=_tuple)  # "oauth", "token"
    # A CRM's ids (deals, pipelines, stages): a regular expression every id matches in full, and what it means in
    # words ("a positive whole number"). Core refuses other ids with a 400 before asking the plugin. Empty: the
    # default rule, 1 to 64 letters and digits (invoicebridge.core.crm_ids).
    id_pattern: str = ""
    id_description: str | LazyText = ""


@frozen
class Connection:
    """A configured link to one remote account. Secrets are *not* here: ask the runtime for them."""

    id: int
    backend: str
    role: Role = field(converter=Role)
    label: str = ""
    settings: Mapping[str, Any] = field(factory=dict, converter=_freeze_mapping, eq=False)
    status: str = "active"


@frozen
class CrmField:
    """A field a mapping can use. ``ref`` is what a MappingConfig stores, e.g. ``organization.custom:<key>``."""

    entity: str  # "deal", "organization", "person"
    key: str
    name: str
    type: str = "varchar"
    is_custom: bool = False
    options: Mapping[str, str] = field(factory=dict, converter=_freeze_mapping, eq=False)

    @property
    def ref(self) -> str:
        return f"{self.entity}.custom:{self.key}" if self.is_custom else f"{self.entity}.{self.key}"


@frozen
class DealQuery:
    """Which deals a bulk run takes: won in a date range, in a pipeline or stage, or a list of ids."""

    ids: tuple[str, ...] = field(default=(), converter=lambda v: tuple(str(i) for i in v))
    status: str = "won"
    won_from: dt.date | None = None
    won_to: dt.date | None = None
    pipeline_id: str = ""
    stage_id: str = ""
    limit: int | None = None


@frozen
class RemoteUser:
    """The accounting user behind a connection and what the role allows."""

    name: str
    email: str = ""
    role: str = ""
    may_create: bool = True
    may_approve: bool = False


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


@frozen
class WebhookRequest:
    """A received webhook: raw body bytes and lower-cased headers."""

    body: bytes
    headers: Mapping[str, str] = field(
        factory=dict, converter=lambda h: _freeze_mapping({k.lower(): v for k, v in dict(h).items()}), eq=False
    )


@frozen
class WebhookEvent:
    """What a verified webhook told us. ``kind``: "invoice_changed", "deal_won", "deal_changed"."""

    kind: str
    object_id: str
    event_id: str = ""
    organisation_id: str = ""  # the remote organisation the event is about, where the backend has several
    previous: str = ""
    current: str = ""


@frozen
class ConnectResult:
    """The outcome of an OAuth code exchange or token connect: what to store, and the choices to offer
    (the accounts the credentials reach)."""

    secrets: Mapping[str, Any] = field(factory=dict, converter=_freeze_mapping, eq=False)
    settings: Mapping[str, Any] = field(factory=dict, converter=_freeze_mapping, eq=False)
    label: str = ""
    # the accounts/organisations the credentials reach: core stores the one chosen (the only one, or the one a
    # person picks) by merging its ``settings`` into the connection's; ``account`` is set when the backend chose
    choices: tuple[AccountChoice, ...] = field(default=(), converter=lambda v: tuple(
        c if isinstance(c, AccountChoice) else AccountChoice(*c) for c in v))
    account: AccountChoice | None = None


@frozen
class Health:
    ok: bool
    detail: str = ""
    user: RemoteUser | None = None


@frozen
class DealSummary:
    """A deal as a search lists it (``crm_search_deals``): enough to recognise it and open it."""

    id: str = field(converter=str)
    title: str = ""
    organization: str = ""
    person: str = ""
    value: Decimal | None = field(default=None, converter=lambda v: None if v is None or v == "" else Decimal(str(v)))
    currency: str = ""
    status: str = ""  # the CRM's own word: open, won, lost …
