"""The QuickBooks Online accounting backend: one class holding every operation, so the plugin's hooks (today's
``hookspecs``) or a backend registry can call it alike. It talks to QBO only through :class:`QboClient` (the
connector kit) and to core only through ``invoicebridge.core``'s public model and errors.

Connection settings: ``realm_id`` (the company; from the callback or the id token's ``realmid``), ``company_name``,
``home_currency``, ``us`` (US companies use automated sales tax), ``user_email``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar, Sequence

import attrs
import jwt

from invoicebridge.core import BackendInfo, Capabilities, ConnectionBound, Role
from invoicebridge.core.connector import authorization_url, close_connectors, revoke_token, token_request, token_secrets
from invoicebridge.core.errors import AuthError, BackendError, IllegalTransition, NotConnected
from .i18n import _, lazy_
from invoicebridge.core.model import (
    Catalog,
    ConnectResult,
    CreateRequest,
    CreateResult,
    Customer,
    Health,
    Invoice,
    RemoteUser,
    WebhookEvent,
    WebhookRequest,
)
from invoicebridge.core.status import InvoiceStatus

from . import converter as c
from . import customers as cust
from . import invoices as inv
from .client import QboClient, build_connector, first_reads, oauth_app
from .config import QboConfig
from .errors import BACKEND
from .webhooks import parse_events

CATALOG_TTL = dt.timedelta(minutes=5)


def id_token_claims(token: str) -> dict[str, Any]:
    """Claims of the OpenID id token, read for ``realmid`` and ``email`` only. It came straight from Intuit's token
    endpoint over TLS (OpenID Connect Core 3.1.3.7 allows that instead of the signature); nothing else trusts it."""
    try:
        return jwt.decode(token, options={"verify_signature": False}) if token else {}
    except jwt.PyJWTError:
        return {}


S = InvoiceStatus
CAPABILITIES = Capabilities(
    drafts=False, approval_step=False,  # an invoice is posted when created (fact sheet §4.1)
    batch_size=30, share_link_statuses={S.AWAITING_PAYMENT}, email=True, email_statuses={S.AWAITING_PAYMENT, S.PAID},
    void=True, pdf=True, online_link=True, payments=True,
    delete_statuses={S.AWAITING_PAYMENT},  # posted invoices are deleted while nothing is linked (fact sheet §4.2)
    idempotency=True, idempotency_window=dt.timedelta(hours=1),  # requestid retention is UNCERTAIN (§2.3): assume little
    change_feed=True, webhooks=True, find_created=True, approval_roles=False,
    default_tax_handling="Exclusive",
)


class QuickBooksBackend(ConnectionBound):
    """Bound to one connection (``open(connection, context)``); connecting is asked of the class."""

    info: ClassVar[BackendInfo] = BackendInfo(name=BACKEND, role=Role.ACCOUNTING, label="QuickBooks Online",
                                              capabilities=CAPABILITIES, webhook_secret="verifier_token",
                                              webhook_secret_label=lazy_("Webhook verifier token"))

    @property
    def config(self) -> QboConfig:
        return QboConfig.from_runtime(self.context)

    def client(self) -> QboClient:
        return QboClient(self.context, self.connection)

    # ---- statuses -------------------------------------------------------------------------------------------

    @classmethod
    def status_from_remote(cls, value: str) -> InvoiceStatus:
        """QBO's derived states (:func:`converter.status_of`) onto core's neutral statuses."""
        return c.NEUTRAL[value]

    @classmethod
    def status_to_remote(cls, status: InvoiceStatus) -> str:
        return c.REMOTE[status]  # KeyError: a status QBO never has (no drafts, no approval step)

    # ---- connecting ---------------------------------------------------------------------------------------

    @classmethod
    async def authorize_url(cls, context: Any, *, redirect_uri: str, state: str, code_challenge: str = "",
                            settings: Any = None) -> str:
        """Intuit documents no PKCE (fact sheet §1.4): the code challenge is not sent."""
        config = QboConfig.from_runtime(context)
        return authorization_url(oauth_app(config), redirect_uri=redirect_uri, state=state, scope=config.scopes)

    @classmethod
    async def connect_with_token(cls, context: Any, *, token: str, settings: Any = None) -> ConnectResult:
        raise NotConnected(_("QuickBooks connects by signing in with Intuit (OAuth), not with an API token"))

    @classmethod
    async def complete_oauth(cls, context: Any, *, code: str, redirect_uri: str, code_verifier: str = "",
                             settings: Any = None, callback: Any = None) -> ConnectResult:
        """The company is the redirect's ``realmId`` (fact sheet §1.2; core hands the callback's query over as
        ``callback``), else a ``realm_id`` setting, else the id token's ``realmid`` claim."""
        config = QboConfig.from_runtime(context)
        settings = dict(settings or {})
        if (callback or {}).get("realmId"):
            settings["realm_id"] = str(callback["realmId"])
        connector = build_connector(context, None, config)
        try:
            payload = await token_request(connector, oauth_app(config), "authorization_code",
                                          reconnect=_("QuickBooks refused the sign-in (%(error)s); connect again"),
                                          code=code, redirect_uri=redirect_uri)
            claims = id_token_claims(str(payload.get("id_token", "")))
            realm = str(settings.get("realm_id") or settings.get("realmId") or claims.get("realmid") or "")
            if not realm:
                raise AuthError(_("QuickBooks did not say which company was connected; connect again and choose a "
                                  "company"), backend=BACKEND)
            info, prefs = await first_reads(connector, config, realm, str(payload.get("access_token", "")))
        finally:
            await connector.aclose()
        secrets = token_secrets(payload, context.now(), lifetime=3600.0, keep=("x_refresh_token_expires_in",))
        out = {k: v for k, v in settings.items() if k != "realmId"}
        out.update(realm_id=realm, user_email=claims.get("email", ""), company_name=info.get("CompanyName", ""),
                   us=info.get("Country") in ("US", "USA"),
                   home_currency=prefs.get("CurrencyPrefs", {}).get("HomeCurrency", {}).get("value", ""))
        return ConnectResult(secrets=secrets, settings=out, label=f"QuickBooks: {out['company_name'] or realm}")

    async def check(self) -> Health:
        try:
            info = await self.client().company_info()
        except BackendError as exc:
            return Health(ok=False, detail=str(exc.message))
        user = await self.current_user()
        return Health(ok=True, user=user, detail=_("Connected to %(company)s") % {"company": info.get("CompanyName", "")})

    async def connected(self, public_url: str) -> None:
        """Nothing to subscribe: QBO's webhooks are set per app in Intuit's developer portal (fact sheet §8)."""

    async def current_user(self) -> RemoteUser:
        """QBO's accounting API lists no users; the one who connected (from the id token) may create invoices."""
        email = str(self.connection.settings.get("user_email") or "")
        return RemoteUser(name=email or _("QuickBooks user"), email=email, role="", may_create=True)

    async def disconnect(self) -> bool:
        """Revoke the refresh token (which ends the app's access to the company); False when Intuit could not be
        told (the local connection can still be removed)."""
        try:
            token = self.context.secrets(self.connection).get("refresh_token", "")
            await revoke_token(self.client().connector, oauth_app(self.config), token)
        except BackendError:
            return False
        finally:
            await close_connectors(self.context, backend=BACKEND, key=self.connection.id)
        return True

    # ---- catalog --------------------------------------------------------------------------------------------

    async def lists(self) -> dict[str, Any]:
        """Items, tax codes and rates, accounts, company and preferences; kept five minutes per connection."""
        key = (BACKEND, "lists", self.connection.id)
        cached = self.context.cache.get(key)
        if cached is not None and self.context.now() - cached[0] < CATALOG_TTL:
            return cached[1]
        qbo = self.client()
        lists = {
            "items": await qbo.query("select * from Item", "Item"),
            "tax_codes": await qbo.query("select * from TaxCode", "TaxCode"),
            "tax_rates": await qbo.query("select * from TaxRate", "TaxRate"),
            "accounts": await qbo.query("select * from Account", "Account"),
            "company": await qbo.company_info(),
            "preferences": await qbo.preferences(),
        }
        self.context.cache[key] = (self.context.now(), lists)
        return lists

    async def catalog(self) -> Catalog:
        return c.catalog_from(**await self.lists())

    # ---- customers and invoices ---------------------------------------------------------------------------

    async def multicurrency(self) -> bool:
        return bool((await self.lists())["preferences"].get("CurrencyPrefs", {}).get("MultiCurrencyEnabled"))

    async def find_or_create_customers(self, customers: Sequence[Customer]) -> list[str]:
        """With multicurrency on a customer's currency is fixed when it is created, and the currency is known only
        per invoice: the existing customers are found here ("" for the others), and ``create_invoices`` makes the
        missing ones in the invoice's currency."""
        if await self.multicurrency():
            return await cust.find(self.client(), list(customers))
        return await cust.find_or_create(self.client(), list(customers))

    async def create_invoices(self, requests: Sequence[CreateRequest]) -> list[CreateResult]:
        if await self.multicurrency():
            ids, errors = await cust.for_requests(self.client(), list(requests))
            ready = [attrs.evolve(r, contact_id=ids[r.operation_key]) for r in requests if r.operation_key in ids]
            made = {r.operation_key: r for r in await self._create(ready)} if ready else {}
            return [made.get(r.operation_key) or CreateResult(operation_key=r.operation_key, error=errors[r.operation_key],
                                                              errors=(errors[r.operation_key],)) for r in requests]
        return await self._create(requests)

    async def _create(self, requests: Sequence[CreateRequest]) -> list[CreateResult]:
        lists = await self.lists()
        us = lists["company"].get("Country") in ("US", "USA")
        items = {c.item_code(i).lower(): str(i["Id"]) for i in lists["items"]
                 if i.get("Type") in c.SELLABLE and i.get("Active", True) is not False}
        default_item = str(self.connection.settings.get("default_item_id") or next(iter(items.values()), ""))
        rates = c.code_rates(lists["tax_codes"], lists["tax_rates"])

        def body_for(draft: Any, customer_id: str) -> dict[str, Any]:
            return c.invoice_body(draft, customer_id=customer_id, item_ids=items, default_item_id=default_item,
                                  tax_rates=rates, us=us)

        return await inv.create(self.client(), list(requests), body_for)

    async def find_created(self, requests: Sequence[CreateRequest]) -> dict[str, Invoice]:
        return await inv.find_created(self.client(), list(requests))

    async def change_status(self, remote_id: str, command: Any, operation_key: str) -> Invoice:
        return await inv.change_status(self.client(), remote_id, command, operation_key)

    async def email_recipient(self, remote_id: str) -> str:
        row = await self.client().read("Invoice", remote_id)
        return str((row.get("BillEmail") or {}).get("Address", ""))

    async def get_invoices(self, remote_ids: Sequence[str]) -> list[Invoice]:
        return await inv.get_invoices(self.client(), list(remote_ids))

    async def modified_since(self, since: dt.datetime | None) -> list[Invoice]:
        return await inv.modified_since(self.client(), since)

    # ---- documents and links -----------------------------------------------------------------------------

    async def invoice_pdf(self, remote_id: str) -> bytes:
        content = await self.client().pdf(remote_id)
        if not content.startswith(b"%PDF"):
            raise BackendError(_("QuickBooks did not send a PDF for this invoice; try again or open it in QuickBooks"),
                               backend=BACKEND)
        return content

    async def share_link(self, remote_id: str) -> str:
        row = await self.client().read("Invoice", remote_id, include="invoiceLink")
        if c.is_voided(row):
            raise IllegalTransition(invoice=f"invoice {row.get('DocNumber') or remote_id}",
                                    status=inv.view_status(self.client(), row), command="share",
                                    reason=_("a voided invoice cannot be paid online"))
        link = str(row.get("InvoiceLink") or "")
        if not link:
            raise BackendError(_("QuickBooks gives a payment link only when online payments are on for the invoice and "
                                 "it has a billing email; open the invoice in QuickBooks to share it"), backend=BACKEND)
        return link

    async def deep_link(self, remote_id: str) -> str:
        return f"{self.config.deep_link_base}/app/invoice?txnId={remote_id}"

    async def verify_webhook(self, request: WebhookRequest) -> list[WebhookEvent]:
        return parse_events(request, self.config.verifier_token,
                            realm_id=str(self.connection.settings.get("realm_id", "")))
