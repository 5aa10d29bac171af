"""Ledgerly: a third-party accounting backend, written only against the public ``invoicebridge.core`` API and its
connector kit (``invoicebridge.core.connector``).

Its own status words are ``open``, ``sent``, ``settled`` and ``cancelled``; it keeps no drafts and has no approval
step. It speaks Ledgerly's JSON API over HTTP (``tests/contract/ledgerly_sandbox.py`` emulates it): OAuth 2.0 with
rotating refresh tokens, an ``Idempotency-Key`` on every write, 429 with ``Retry-After`` and an
``X-RateLimit-Remaining`` budget, HMAC-signed webhooks. Settings (``INVOICEBRIDGE_LEDGERLY_<KEY>``): ``api_base``,
``authorize_url``, ``token_url``, ``revoke_url``, ``client_id``, ``client_secret``, ``webhook_secret``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from typing import Any, ClassVar

import httpx

from invoicebridge.core import (
    Account,
    AccountChoice,
    BackendError,
    BackendInfo,
    Capabilities,
    Catalog,
    Command,
    ConnectionBound,
    ConnectResult,
    CreateResult,
    Health,
    Invoice,
    InvoiceStatus,
    RemoteUser,
    RemoteValidationError,
    Role,
    TaxRate,
    WebhookEvent,
    WebhookRejected,
    hookimpl,
)
from invoicebridge.core.connector import (
    Budget,
    Connector,
    Dialect,
    Limiter,
    OAuthApp,
    RetryPolicy,
    TokenKeeper,
    authorization_url,
    close_connectors,
    connector_for,
    revoke_token,
    token_request,
    token_secrets,
)

NAME = "ledgerly"
API_BASE = "https://api.ledgerly.example/v1"
RECONNECT = "Ledgerly refused the stored sign-in (%(error)s); connect Ledgerly again"
S = InvoiceStatus
FROM_REMOTE = {"open": S.AWAITING_PAYMENT, "sent": S.AWAITING_PAYMENT, "settled": S.PAID, "cancelled": S.VOIDED}
TO_REMOTE = {S.AWAITING_PAYMENT: "open", S.PAID: "settled", S.VOIDED: "cancelled"}


class LedgerlyDialect(Dialect):
    """Ledgerly's answers: the kit maps statuses to core's errors; ``{"error", "message"}`` words them, and the
    headers carry the per-minute budget."""

    backend = NAME

    def message(self, response: httpx.Response) -> str:
        try:
            return f"Ledgerly: {json.loads(response.content)['message']}"
        except (ValueError, KeyError, TypeError):
            return ""

    def budgets(self, response: httpx.Response, now: Any) -> list[Budget]:
        left = response.headers.get("x-ratelimit-remaining")
        return [Budget("minute", float(left), window=60.0)] if left is not None else []


def config(context: Any) -> dict[str, Any]:
    return {"api_base": API_BASE, **context.backend_config(NAME)}


def oauth_app(settings: dict[str, Any]) -> OAuthApp:
    return OAuthApp(client_id=settings.get("client_id", ""), client_secret=settings.get("client_secret", ""),
                    token_url=settings.get("token_url", ""), authorize_url=settings.get("authorize_url", ""),
                    revoke_url=settings.get("revoke_url", ""))


def build_connector(context: Any, connection: Any = None) -> Connector:
    """Ledgerly allows 4 calls at once and 120 a minute; every write carries an idempotency key, so every method
    may be retried after a server or network error."""
    connector = Connector(context, LedgerlyDialect(), retry=RetryPolicy(retry_methods=None),
                          limiter=Limiter(now=context.now, sleep=context.sleep, concurrent=4, windows=[(120, 60.0)]),
                          headers={"Accept": "application/json"})
    if connection is not None:
        connector.keeper = TokenKeeper(context, connection, connector, oauth_app(config(context)), reconnect=RECONNECT)
    return connector


def to_invoice(x: dict[str, Any]) -> Invoice:
    return Invoice(remote_id=x["id"], number=x["number"], status=FROM_REMOTE[x["status"]], currency=x["currency"],
                   subtotal=x["subtotal"], tax=x["tax"], total=x["total"], amount_paid=x["paid"],
                   amount_due=x["due_amount"], date=x["date"], due_date=x["due_date"], reference=x["reference"],
                   contact_name=x["customer"], updated_at=dt.datetime.fromisoformat(x["updated_at"]), backend=NAME,
                   sent=x["status"] == "sent")


class LedgerlyBackend(ConnectionBound):
    info: ClassVar[BackendInfo] = BackendInfo(
        name=NAME, role=Role.ACCOUNTING, label="Ledgerly", auth_methods=("oauth",),
        capabilities=Capabilities(drafts=False, approval_step=False, batch_size=2, email=False, email_statuses=(),
                                  share_link_statuses={S.AWAITING_PAYMENT, S.PAID}, webhooks=True))

    @classmethod
    def status_from_remote(cls, value: str) -> InvoiceStatus:
        return FROM_REMOTE[value]

    @classmethod
    def status_to_remote(cls, status: InvoiceStatus) -> str:
        return TO_REMOTE[status]

    # ---- connecting (the factory: no connection yet) ------------------------------------------------------------

    @classmethod
    async def authorize_url(cls, context: Any, *, redirect_uri: str, state: str, code_challenge: str, settings: Any) -> str:
        return authorization_url(oauth_app(config(context)), redirect_uri=redirect_uri, state=state,
                                 scope="invoices offline", code_challenge=code_challenge)

    @classmethod
    async def complete_oauth(cls, context: Any, *, code: str, redirect_uri: str, code_verifier: str,
                             settings: Any) -> ConnectResult:
        conf = config(context)
        connector = build_connector(context)
        try:
            payload = await token_request(connector, oauth_app(conf), "authorization_code", reconnect=RECONNECT,
                                          code=code, redirect_uri=redirect_uri, code_verifier=code_verifier)
            me = (await connector.request("GET", f"{conf['api_base']}/me", authorize=False, headers={
                "Authorization": f"Bearer {payload['access_token']}"})).json()
        finally:
            await connector.aclose()
        books = [AccountChoice(b["id"], b["name"], {"book": b["id"]}) for b in me["books"]]
        return ConnectResult(secrets=token_secrets(payload, context.now()), label=f"Ledgerly: {books[0].name}",
                             choices=books, account=books[0] if len(books) == 1 else None)

    # ---- plumbing -------------------------------------------------------------------------------------------------

    @property
    def connector(self) -> Connector:
        return connector_for(self.context, NAME, self.connection.id, lambda: build_connector(self.context, self.connection))

    async def call(self, method: str, path: str, *, key: str = "", **kwargs: Any) -> Any:
        """One call to the connection's book; ``key``: the write's idempotency key."""
        url = f"{config(self.context)['api_base']}/books/{self.connection.settings['book']}{path}"
        headers = {"Idempotency-Key": key} if key else {}
        response = await self.connector.request(method, url, headers=headers, **kwargs)
        return response.json() if response.headers.get("content-type", "").startswith("application/json") else response.content

    async def invoices(self, **params: Any) -> list[Invoice]:
        return [to_invoice(x) for x in (await self.call("GET", "/invoices", params=params))["invoices"]]

    # ---- the accounting contract ------------------------------------------------------------------------------

    async def check(self) -> Health:
        user = await self.current_user()
        return Health(ok=True, detail=self.connection.settings.get("organisation_name", ""), user=user)

    async def connected(self, public_url: str) -> None:
        await self.call("PUT", "/webhook", json={"url": f"{public_url}/webhooks/{NAME}"})

    async def disconnect(self) -> bool:
        refresh = self.context.secrets(self.connection).get("refresh_token", "")
        try:
            if refresh:
                await revoke_token(self.connector, oauth_app(config(self.context)), refresh, "refresh_token")
            return True
        except BackendError:
            return False
        finally:
            await close_connectors(self.context, backend=NAME, key=self.connection.id)

    async def current_user(self) -> RemoteUser:
        me = (await self.connector.request("GET", f"{config(self.context)['api_base']}/me")).json()["user"]
        return RemoteUser(name=me["name"], role=me["role"], may_create=me["role"] in ("owner", "bookkeeper"),
                          may_approve=me["role"] == "owner")

    async def catalog(self) -> Catalog:
        c = await self.call("GET", "/catalog")
        return Catalog(base_currency=c["currency"], currencies=[c["currency"]],
                       accounts=[Account(code=a["code"], name=a["name"]) for a in c["accounts"]],
                       tax_rates=[TaxRate(tax_type=t["code"], name=t["name"], rate=t["rate"]) for t in c["tax_rates"]],
                       default_account_code="sales")  # where a line without an account of its own goes

    async def find_or_create_customers(self, customers: Any) -> list[str]:
        return [c.name for c in customers]  # Ledgerly keeps the customer's name on the invoice itself

    async def create_invoices(self, requests: Any) -> list[CreateResult]:
        if len(requests) > self.info.capabilities.batch_size:
            raise RemoteValidationError(f"at most {self.info.capabilities.batch_size} invoices a call", backend=NAME)
        return [await self._create(r) for r in requests]

    async def _create(self, request: Any) -> CreateResult:
        draft = request.draft
        body = {"customer": draft.customer.name, "currency": draft.currency, "date": draft.date.isoformat(),
                "due_date": draft.due_date.isoformat() if draft.due_date else None, "reference": draft.reference,
                "lines": [{"description": li.description, "quantity": str(li.quantity), "unit_price": str(li.unit_amount),
                           "account": li.account_code, "tax": li.tax_type} for li in draft.line_items]}
        try:
            created = await self.call("POST", "/invoices", key=request.operation_key, json=body)
        except RemoteValidationError as exc:  # this invoice is refused; the rest of the batch goes on
            return CreateResult(request.operation_key, error=exc.message)
        return CreateResult(request.operation_key, invoice=to_invoice(created))

    async def find_created(self, requests: Any) -> dict[str, Invoice]:
        if not requests:
            return {}
        found = (await self.call("GET", "/invoices", params={"key": [r.operation_key for r in requests]}))["invoices"]
        return {x["key"]: to_invoice(x) for x in found}

    async def change_status(self, remote_id: str, command: Command, operation_key: str) -> Invoice:
        if Command.parse(command) is not Command.VOID:
            raise RemoteValidationError(f"Ledgerly cannot {command} an invoice", backend=NAME)
        return to_invoice(await self.call("POST", f"/invoices/{remote_id}/cancel", key=operation_key))

    async def get_invoices(self, remote_ids: Any) -> list[Invoice]:
        return await self.invoices(id=list(remote_ids)) if remote_ids else []

    async def modified_since(self, since: dt.datetime | None) -> list[Invoice]:
        return await self.invoices(**({"updated_since": since.isoformat()} if since else {}))

    async def invoice_pdf(self, remote_id: str) -> bytes:
        return await self.call("GET", f"/invoices/{remote_id}/pdf")

    async def share_link(self, remote_id: str) -> str:
        return (await self.call("GET", f"/invoices/{remote_id}"))["pay_url"]

    async def deep_link(self, remote_id: str) -> str:
        return f"https://app.ledgerly.example/books/{self.connection.settings['book']}/invoices/{remote_id}"

    def verify_webhook(self, request: Any) -> list[WebhookEvent]:
        secret = str(config(self.context).get("webhook_secret", "")).encode()
        expected = hmac.new(secret, request.body, hashlib.sha256).hexdigest()
        if not secret or not hmac.compare_digest(request.headers.get("x-ledgerly-signature", ""), expected):
            raise WebhookRejected("The Ledgerly signature does not match")
        return [WebhookEvent(kind="invoice_changed", object_id=e["invoice"], event_id=e["id"])
                for e in json.loads(request.body)["events"]]


@hookimpl
def invoicebridge_register_backends(register: Any) -> None:
    register(LedgerlyBackend)
