"""What plugins exchange with the core: backend descriptions (:class:`BackendInfo`, :class:`Capabilities`),
connections, queries, requests and results. Re-exported by :mod:`invoicebridge.core.model`."""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal
from typing import Any, Mapping

import attrs
from attrs import field, frozen

from .converters import _freeze_mapping, _str, _tuple
from .i18n import LazyText
from .status import InvoiceStatus


class Role(enum.Enum):
    CRM = "crm"
    ACCOUNTING = "accounting"


def _statuses(values: Any) -> frozenset[InvoiceStatus]:
    return frozenset(InvoiceStatus.parse(v) for v in values)


def _tax_handling_name(value: str) -> None:
    from .model import TaxHandling  # model re-exports this module

    TaxHandling.parse(value)


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
    deal_fields: bool = False  # a CRM source: set_deal_fields writes text into the fields list_fields marks writable
    find_created: bool = True  # find_created can recover creates after a crash
    approval_roles: bool = False  # current_user's may_approve is meaningful (else everyone may)
    # the TaxHandling ("Exclusive", "Inclusive", "NoTax") of a draft whose deal names none, where the mapping
    # takes the deal's (the way this accounting system's invoices usually are)
    default_tax_handling: str = field(default="Exclusive", validator=lambda _i, _a, v: _tax_handling_name(v))


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
    # The app setting holding the secret the remote side signs its webhooks with (e.g. "webhook_key"), and its
    # name there (the page says "Webhook key" when empty): entered with the app credentials on the Connections
    # page, sealed at rest, never shown again; the environment may set it too. "": the backend has none.
    webhook_secret: str = ""
    webhook_secret_label: str | LazyText = ""


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
    writable: bool = False  # a deal field set_deal_fields can put a line of text into (capability deal_fields)

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
