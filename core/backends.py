"""The backend contract: what an accounting backend and a CRM source are, as typed objects.

A plugin registers its backends through one pluggy hook, ``invoicebridge_register_backends(register)``::

    from invoicebridge.core import BackendInfo, Capabilities, Role, hookimpl

    class MyBooks:                      # satisfies BackendFactory; its instances satisfy AccountingBackend
        info = BackendInfo(name="mybooks", role=Role.ACCOUNTING, label="My Books",
                           capabilities=Capabilities(drafts=False, approval_step=False, batch_size=10))

        def __init__(self, connection, context): ...          # one instance is bound to one connection
        @classmethod
        def open(cls, connection, context): return cls(connection, context)
        ...

    @hookimpl
    def invoicebridge_register_backends(register):
        register(MyBooks)

Core keeps a :class:`BackendRegistry` and dispatches by ``connection.backend``: no plugin ever sees a call for
a connection that is not its own. Connecting happens before a connection exists, so ``authorize_url``,
``complete_oauth`` and ``connect_with_token`` are asked of the *factory* (the registered class); everything else
of the instance ``open(connection, context)`` returns.

A backend gets a :class:`BackendContext`, never the whole runtime: the clock, sleep, an HTTP client on the
injected transport, the connection's secrets (read and save), its settings (update), the backend's settings
from the environment, a small durable key-value space, a per-process cache, and the public URL.

Any method may be plain or ``async``: core awaits what it returns (the built-in backends verify
webhooks and build links synchronously). A method a backend does not have is "not supported": core raises
``NotConnected`` naming the backend, or, for ``deal_id_from_url``/``verify_page_token``/``connected``,
treats it as "nothing to do".

Statuses: a backend maps its own vocabulary onto core's neutral :class:`InvoiceStatus` both ways
(:meth:`AccountingBackend.status_from_remote` / :meth:`status_to_remote` are classmethods on the factory,
so the status machine test can run through the real mapping without a connection). Errors are subclasses of
:class:`invoicebridge.core.errors.BackendError`.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Awaitable, Callable, ClassVar, Mapping, Protocol, Sequence, runtime_checkable

import httpx

from .model import (
    BackendInfo,
    Capabilities,
    Catalog,
    Connection,
    ConnectResult,
    CreateRequest,
    CreateResult,
    CrmField,
    Customer,
    Deal,
    DealQuery,
    DealSummary,
    Health,
    Invoice,
    RemoteUser,
    WebhookEvent,
    WebhookRequest,
)
from .status import Command, InvoiceStatus

__all__ = [
    "AccountingBackend", "BackendContext", "BackendFactory", "Capabilities", "ConnectionBound", "CrmSource",
    "StatusMapping",
]


@runtime_checkable
class BackendContext(Protocol):
    """What a backend may use of the app. Core passes :class:`invoicebridge.core.context.RuntimeContext`;
    tests may pass any object with these members."""

    public_url: str  # where remote services reach us (webhooks, OAuth redirects)
    cache: dict[Any, Any]  # per process: clients, limiters, locks, single-flight reads

    def now(self) -> dt.datetime: ...
    def today(self) -> dt.date: ...
    async def sleep(self, seconds: float) -> None: ...
    def http_client(self, backend: str, *, base_url: str = "", **kwargs: Any) -> httpx.AsyncClient: ...
    def backend_config(self, backend: str) -> dict[str, Any]: ...  # settings from the environment
    # the connection's secrets (tokens) and settings
    def secrets(self, connection: Connection) -> dict[str, Any]: ...
    async def save_secrets(self, connection: Connection, secrets: Mapping[str, Any]) -> None: ...
    async def update_settings(self, connection: Connection, settings: Mapping[str, Any]) -> Connection: ...
    # a small durable key-value space shared by every process on the store
    def kv_get(self, namespace: str, key: str) -> Any: ...
    async def kv_set(self, namespace: str, key: str, value: Any) -> None: ...
    # which operation core recorded for a remote invoice (find_created must not adopt another's invoice)
    def recorded_operation(self, backend: str, remote_id: str) -> str | None: ...


class StatusMapping(Protocol):
    """A backend's status vocabulary, mapped onto core's neutral statuses (classmethods on the factory)."""

    @classmethod
    def status_from_remote(cls, value: str) -> InvoiceStatus: ...
    @classmethod
    def status_to_remote(cls, status: InvoiceStatus) -> str: ...


@runtime_checkable
class BackendFactory(Protocol):
    """What a plugin registers: the class side of a backend. ``info.capabilities`` says what it can do."""

    info: ClassVar[BackendInfo]

    @classmethod
    def open(cls, connection: Connection, context: BackendContext) -> "AccountingBackend | CrmSource": ...

    # connecting (no connection exists yet); raise NotConnected("…") for a method the backend does not offer
    @classmethod
    async def authorize_url(cls, context: BackendContext, *, redirect_uri: str, state: str, code_challenge: str,
                            settings: Mapping[str, Any]) -> str: ...
    @classmethod
    async def complete_oauth(cls, context: BackendContext, *, code: str, redirect_uri: str, code_verifier: str,
                             settings: Mapping[str, Any]) -> ConnectResult: ...
    # Optional keyword ``callback: Mapping[str, str]``: the OAuth callback's query parameters other than code and
    # state (a service that says there which account was authorised, e.g. a company id). Core passes it only to a
    # complete_oauth that declares it.
    @classmethod
    async def connect_with_token(cls, context: BackendContext, *, token: str,
                                 settings: Mapping[str, Any]) -> ConnectResult: ...


class _Connected(Protocol):
    connection: Connection

    async def check(self) -> Health: ...
    async def connected(self, public_url: str) -> None: ...  # subscribe webhooks and the like
    async def disconnect(self) -> bool: ...  # revoke; False when the remote side could not be told
    async def verify_webhook(self, request: WebhookRequest) -> list[WebhookEvent]: ...  # raise WebhookRejected


@runtime_checkable
class AccountingBackend(_Connected, Protocol):
    """An accounting system, bound to one connection. Methods a capability switches off may raise
    :class:`NotConnected` ("not supported"); core never calls them then."""

    async def catalog(self) -> Catalog: ...
    async def current_user(self) -> RemoteUser: ...
    async def find_or_create_customers(self, customers: Sequence[Customer]) -> list[str]: ...
    # exactly once: ``operation_key`` is the idempotency key; one result per request, in order
    async def create_invoices(self, requests: Sequence[CreateRequest]) -> list[CreateResult]: ...
    # recovery after a crash: invoices already made for these requests, {operation_key: Invoice}
    async def find_created(self, requests: Sequence[CreateRequest]) -> dict[str, Invoice]: ...
    async def change_status(self, remote_id: str, command: Command, operation_key: str) -> Invoice: ...
    async def email_recipient(self, remote_id: str) -> str: ...  # "" when the contact has no address
    async def get_invoices(self, remote_ids: Sequence[str]) -> list[Invoice]: ...
    async def modified_since(self, since: dt.datetime | None) -> list[Invoice]: ...  # the change feed
    async def invoice_pdf(self, remote_id: str) -> bytes: ...
    async def share_link(self, remote_id: str) -> str: ...  # customer-facing; capabilities.share_link_statuses
    async def deep_link(self, remote_id: str) -> str: ...  # opens the invoice in the backend's web app


@runtime_checkable
class CrmSource(_Connected, Protocol):
    """A CRM the deals come from, bound to one connection."""

    async def get_deal(self, deal_id: str) -> Deal: ...  # RemoteNotFound for an unknown id
    # optional: ``get_deal_for_display(deal_id) -> Deal`` for page views, may reuse related records read
    # a few minutes earlier (the deal itself is read); core falls back to ``get_deal``
    # optional: ``get_deal_head(deal_id) -> Deal`` for a page that shows the lines only when asked: like
    # ``get_deal_for_display``, but when reading the lines would cost more calls it may leave them out and say
    # how many there are in ``Deal.unread_lines`` (products and discounts empty); core falls back to
    # ``get_deal_for_display``. Core never makes an invoice from such a deal.
    # optional: ``get_deal_lines(deal) -> Deal``: a deal ``get_deal_head`` answered (a few seconds old), with its
    # lines and discounts read and ``unread_lines`` None, without reading the deal again; core falls back to
    # ``get_deal_for_display``
    async def get_deals(self, deal_ids: Sequence[str]) -> list[Deal]: ...  # in order; unknown ids left out
    async def find_deals(self, query: DealQuery) -> list[str]: ...
    async def search_deals(self, term: str, limit: int) -> list[DealSummary]: ...
    # None when ``url`` is not a link to the CRM; NotFound when it is, but not to a deal of this connection
    async def deal_id_from_url(self, url: str) -> str | None: ...
    async def list_fields(self) -> list[CrmField]: ...
    # write-backs, each returning the id of the object made. Core's outbox sends each ``dedupe_key`` under a lease,
    # once without ``in_doubt``; every later attempt after one that may have reached the CRM (a crash, a timeout, a
    # dropped answer) has ``in_doubt=True``: then find the object made for ``dedupe_key`` (e.g. by a marker written
    # into it) and answer its id instead of making a second one. Keep no state of your own for this.
    async def add_activity(self, deal_id: str, subject: str, due_date: dt.date, note: str, dedupe_key: str, *,
                           in_doubt: bool = False) -> str: ...
    # mark done the activity made for ``dedupe_key``: ``activity_id`` is what add_activity answered ("" when core
    # does not know it: find it by the key); doing it twice is harmless; "" when there is none (deleted, never made)
    async def complete_activity(self, deal_id: str, dedupe_key: str, *, activity_id: str = "") -> str: ...
    async def add_note(self, deal_id: str, content: str, dedupe_key: str, *, in_doubt: bool = False) -> str: ...
    # capability ``deal_fields``: set deal fields (keys of ``list_fields`` entries with entity "deal" and
    # ``writable``) to these values, None clearing one; setting the same values twice is harmless
    async def set_deal_fields(self, deal_id: str, values: Mapping[str, str | Decimal | dt.date | None]) -> None: ...
    async def deal_url(self, deal_id: str) -> str: ...
    # a page opened from inside the CRM: {"user": …} when valid, WebhookRejected when forged, None when absent
    async def verify_page_token(self, params: Mapping[str, Any]) -> dict[str, Any] | None: ...


class ConnectionBound:
    """A convenient base for a backend class: ``open(connection, context)`` makes an instance holding both."""

    def __init__(self, connection: Connection, context: BackendContext) -> None:
        self.connection = connection
        self.context = context

    @classmethod
    def open(cls, connection: Connection, context: BackendContext) -> Any:
        return cls(connection, context)


Register = Callable[[BackendFactory], None]
MaybeAwaitable = Awaitable[Any] | Any
