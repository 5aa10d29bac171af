"""Hook implementations of the xero plugin. Each answers only for backend ``"xero"`` (None otherwise)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from invoicebridge.core import BackendInfo, Role, hookimpl
from invoicebridge.core.connector import close_connectors
from invoicebridge.core.errors import BackendError

from .i18n import _
from . import operations as ops
from .auth import authorize_url, revoke
from .client import XeroClient, delete_connection, identity_connector, list_connections
from .config import XeroConfig
from .webhooks import parse_events

NAME = "xero"
USER_TTL = dt.timedelta(minutes=1)


def _mine(connection: Any = None, backend: str | None = None) -> bool:
    return (backend if backend is not None else getattr(connection, "backend", None)) == NAME


@hookimpl
def invoicebridge_backends():
    return [BackendInfo(name=NAME, role=Role.ACCOUNTING, label="Xero")]


@hookimpl
def invoicebridge_sandboxes(runtime):
    """The Xero sandbox (the ``invoicebridge[sandbox]`` extra), one per runtime, seeded with the demo organisation."""
    key = ("xero", "sandbox")
    sandbox = runtime.cache.get(key)
    if sandbox is None:
        from .sandbox import create_sandbox

        sandbox = runtime.cache[key] = create_sandbox(clock=runtime.now, seed="demo")
    return [sandbox]


# ---- connecting -----------------------------------------------------------------------------------------


@hookimpl
def backend_authorize_url(runtime, backend, redirect_uri, state, code_challenge, settings):
    if not _mine(backend=backend):
        return None
    return authorize_url(XeroConfig.from_runtime(runtime), redirect_uri=redirect_uri, state=state,
                         code_challenge=code_challenge, scopes=(settings or {}).get("scopes", ""))


@hookimpl
async def backend_complete_oauth(runtime, backend, code, redirect_uri, code_verifier, settings):
    if not _mine(backend=backend):
        return None
    return await ops.complete_oauth(runtime, XeroConfig.from_runtime(runtime), code=code, redirect_uri=redirect_uri,
                                    code_verifier=code_verifier, settings=dict(settings or {}))


@hookimpl
async def backend_check(runtime, connection):
    if not _mine(connection):
        return None
    async with XeroClient(runtime, connection) as xero:
        return await ops.check(xero)


@hookimpl
async def backend_disconnect(runtime, connection):
    """Remove the tenant connection, then revoke the refresh token. True when Xero confirmed both; False when
    Xero could not be told (the local connection can still be removed)."""
    if not _mine(connection):
        return None
    config = XeroConfig.from_runtime(runtime)
    tenant_id = connection.settings.get("tenant_id")
    try:
        async with XeroClient(runtime, connection) as xero:
            token = await xero.keeper.token()
        for remote in await list_connections(runtime, config, token):
            if remote.tenant_id == tenant_id and remote.id:
                await delete_connection(runtime, config, token, remote.id)
        await revoke(identity_connector(runtime), config, runtime.secrets(connection).get("refresh_token", ""))
    except BackendError:
        return False
    finally:
        await close_connectors(runtime, backend=NAME, key=connection.id)
    return True


# ---- accounting -----------------------------------------------------------------------------------------


def _client(runtime, connection) -> XeroClient:
    return XeroClient(runtime, connection)


@hookimpl
async def accounting_catalog(runtime, connection):
    if not _mine(connection):
        return None
    async with _client(runtime, connection) as xero:
        return await ops.catalog(xero)


@hookimpl
async def accounting_current_user(runtime, connection):
    if not _mine(connection):
        return None
    # A page view asks for the role: keep the answer a minute, so views do not spend the 60 calls a minute
    key = ("xero", "current-user", connection.id)
    cached = runtime.cache.get(key)
    if cached is not None and runtime.now() - cached[0] < USER_TTL:
        user = cached[1]
    else:
        async with _client(runtime, connection) as xero:
            user = await ops.current_user(xero)
        if user is not None:
            runtime.cache[key] = (runtime.now(), user)
    if user is None:
        from invoicebridge.core.errors import AuthError

        raise AuthError(_("The Xero user who connected is not in the organisation's user list; reconnect Xero"),
                        backend=NAME)
    return user


@hookimpl
async def accounting_find_or_create_customers(runtime, connection, customers):
    if not _mine(connection):
        return None
    async with _client(runtime, connection) as xero:
        return await ops.find_or_create_customers(xero, list(customers))


@hookimpl
async def accounting_create_invoices(runtime, connection, requests):
    if not _mine(connection):
        return None
    async with _client(runtime, connection) as xero:
        return await ops.create_invoices(xero, list(requests))


@hookimpl
async def accounting_find_created(runtime, connection, requests):
    if not _mine(connection):
        return None
    async with _client(runtime, connection) as xero:
        return await ops.find_created(xero, list(requests))


@hookimpl
async def accounting_change_status(runtime, connection, remote_id, command, operation_key):
    if not _mine(connection):
        return None
    async with _client(runtime, connection) as xero:
        return await ops.change_status(xero, remote_id, command, operation_key)


@hookimpl
async def accounting_email_recipient(runtime, connection, remote_id):
    """Xero emails the invoice to its contact's EmailAddress (GET /Invoices/{id} carries the full contact)."""
    if not _mine(connection):
        return None
    async with _client(runtime, connection) as xero:
        invoice = await xero.invoice(remote_id)
    return (invoice.contact.email_address or "") if invoice.contact else ""


@hookimpl
async def accounting_get_invoices(runtime, connection, remote_ids):
    if not _mine(connection):
        return None
    async with _client(runtime, connection) as xero:
        return await ops.get_invoices(xero, list(remote_ids))


@hookimpl
async def accounting_modified_since(runtime, connection, since):
    if not _mine(connection):
        return None
    async with _client(runtime, connection) as xero:
        return await ops.modified_since(xero, since)


@hookimpl
async def accounting_invoice_pdf(runtime, connection, remote_id):
    if not _mine(connection):
        return None
    async with _client(runtime, connection) as xero:
        return await ops.invoice_pdf(xero, remote_id)


@hookimpl
async def accounting_share_link(runtime, connection, remote_id):
    if not _mine(connection):
        return None
    async with _client(runtime, connection) as xero:
        return await ops.share_link(xero, remote_id)


@hookimpl
async def accounting_deep_link(runtime, connection, remote_id):
    if not _mine(connection):
        return None
    async with _client(runtime, connection) as xero:
        return await ops.deep_link(xero, remote_id)


@hookimpl
def accounting_verify_webhook(runtime, connection, request):
    if not _mine(connection):
        return None
    key = XeroConfig.from_runtime(runtime).webhook_key
    tenant_id = str(connection.settings.get("tenant_id") or "")
    return parse_events(request, key, tenant_id=tenant_id)
