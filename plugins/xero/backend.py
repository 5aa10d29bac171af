"""The Xero accounting backend: one instance per connection, dispatched to by core's registry."""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar, Mapping, Sequence

from invoicebridge.core import BackendInfo, Capabilities, ConnectionBound, InvoiceStatus, Role
from invoicebridge.core.connector import close_connectors
from invoicebridge.core.errors import AuthError, BackendError, NotConnected
from .i18n import _

from . import operations as ops
from .auth import authorize_url, revoke
from .client import BATCH_SIZE, XeroClient, delete_connection, identity_connector, list_connections
from .config import XeroConfig
from .statuses import from_xero, to_xero
from .webhooks import parse_events

NAME = "xero"
USER_TTL = dt.timedelta(minutes=1)
S = InvoiceStatus

CAPABILITIES = Capabilities(
    drafts=True, approval_step=True, batch_size=BATCH_SIZE,
    share_link_statuses={S.AWAITING_PAYMENT, S.PAID, S.VOIDED}, email=True, email_statuses={S.AWAITING_PAYMENT, S.PAID},
    void=True, pdf=True, online_link=True, payments=True,
    idempotency=True, idempotency_window=dt.timedelta(minutes=6),  # fact sheet §2: keys live 6 minutes
    change_feed=True, webhooks=True, find_created=True, approval_roles=True,
    default_tax_handling="Exclusive",
)


class XeroBackend(ConnectionBound):
    info: ClassVar[BackendInfo] = BackendInfo(name=NAME, role=Role.ACCOUNTING, label="Xero", capabilities=CAPABILITIES,
                                              webhook_secret="webhook_key")

    # -- statuses
    @classmethod
    def status_from_remote(cls, value: str) -> InvoiceStatus:
        return from_xero(value)

    @classmethod
    def status_to_remote(cls, status: InvoiceStatus) -> str:
        return to_xero(status)

    # -- connecting
    @classmethod
    def authorize_url(cls, context: Any, *, redirect_uri: str, state: str, code_challenge: str,
                      settings: Mapping[str, Any]) -> str:
        return authorize_url(XeroConfig.from_runtime(context), redirect_uri=redirect_uri, state=state,
                             code_challenge=code_challenge, scopes=(settings or {}).get("scopes", ""))

    @classmethod
    async def complete_oauth(cls, context: Any, *, code: str, redirect_uri: str, code_verifier: str,
                             settings: Mapping[str, Any]):
        return await ops.complete_oauth(context, XeroConfig.from_runtime(context), code=code, redirect_uri=redirect_uri,
                                        code_verifier=code_verifier, settings=dict(settings or {}))

    @classmethod
    async def connect_with_token(cls, context: Any, *, token: str, settings: Mapping[str, Any]):
        raise NotConnected(_("Xero connects through OAuth only"))

    def _client(self) -> XeroClient:
        return XeroClient(self.context, self.connection)

    async def check(self):
        async with self._client() as xero:
            return await ops.check(xero)

    async def connected(self, public_url: str) -> None:
        return None  # webhooks are configured in Xero's developer portal, not by API

    async def disconnect(self) -> bool:
        """Remove the tenant connection, then revoke the refresh token. True when Xero confirmed both; False when
        Xero could not be told (the local connection can still be removed)."""
        config = XeroConfig.from_runtime(self.context)
        tenant_id = self.connection.settings.get("tenant_id")
        try:
            async with self._client() as xero:
                token = await xero.keeper.token()
            for remote in await list_connections(self.context, config, token):
                if remote.tenant_id == tenant_id and remote.id:
                    await delete_connection(self.context, config, token, remote.id)
            await revoke(identity_connector(self.context), config, self.context.secrets(self.connection).get("refresh_token", ""))
        except BackendError:
            return False
        finally:
            await close_connectors(self.context, backend=NAME, key=self.connection.id)
        return True

    def verify_webhook(self, request):
        key = XeroConfig.from_runtime(self.context).webhook_key
        return parse_events(request, key, tenant_id=str(self.connection.settings.get("tenant_id") or ""))

    # -- accounting
    async def catalog(self):
        async with self._client() as xero:
            return await ops.catalog(xero)

    async def current_user(self):
        # A page view asks for the role: keep the answer a minute, so views do not spend the 60 calls a minute
        key = ("xero", "current-user", self.connection.id)
        cached = self.context.cache.get(key)
        if cached is not None and self.context.now() - cached[0] < USER_TTL:
            user = cached[1]
        else:
            async with self._client() as xero:
                user = await ops.current_user(xero)
            if user is not None:
                self.context.cache[key] = (self.context.now(), user)
        if user is None:
            raise AuthError(_("The Xero user who connected is not in the organisation's user list; reconnect Xero"),
                            backend=NAME)
        return user

    async def find_or_create_customers(self, customers: Sequence[Any]):
        async with self._client() as xero:
            return await ops.find_or_create_customers(xero, list(customers))

    async def create_invoices(self, requests: Sequence[Any]):
        async with self._client() as xero:
            return await ops.create_invoices(xero, list(requests))

    async def find_created(self, requests: Sequence[Any]):
        async with self._client() as xero:
            return await ops.find_created(xero, list(requests))

    async def change_status(self, remote_id: str, command: Any, operation_key: str):
        async with self._client() as xero:
            return await ops.change_status(xero, remote_id, command, operation_key)

    async def email_recipient(self, remote_id: str) -> str:
        """Xero emails the invoice to its contact's EmailAddress (GET /Invoices/{id} carries the full contact)."""
        async with self._client() as xero:
            invoice = await xero.invoice(remote_id)
        return (invoice.contact.email_address or "") if invoice.contact else ""

    async def get_invoices(self, remote_ids: Sequence[str]):
        async with self._client() as xero:
            return await ops.get_invoices(xero, list(remote_ids))

    async def modified_since(self, since):
        async with self._client() as xero:
            return await ops.modified_since(xero, since)

    async def invoice_pdf(self, remote_id: str) -> bytes:
        async with self._client() as xero:
            return await ops.invoice_pdf(xero, remote_id)

    async def share_link(self, remote_id: str) -> str:
        async with self._client() as xero:
            return await ops.share_link(xero, remote_id)

    async def deep_link(self, remote_id: str) -> str:
        async with self._client() as xero:
            return await ops.deep_link(xero, remote_id)
