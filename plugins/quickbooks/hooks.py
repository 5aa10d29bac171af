"""Hook implementations of the quickbooks plugin: a thin layer over :class:`QuickBooksBackend`. Each answers only
for backend ``"quickbooks"`` (None otherwise). Written on today's hookspecs; a backend registry can call the
class directly instead."""

from __future__ import annotations

from typing import Any

from invoicebridge.core import BackendInfo, Role, hookimpl

from .backend import QuickBooksBackend

NAME = "quickbooks"


def _open(runtime: Any, connection: Any) -> QuickBooksBackend:
    return QuickBooksBackend.open(connection, runtime)  # today's runtime serves as the backend's context


def _mine(connection: Any = None, backend: str | None = None) -> bool:
    return (backend if backend is not None else getattr(connection, "backend", None)) == NAME


@hookimpl
def invoicebridge_backends():
    return [BackendInfo(name=NAME, role=Role.ACCOUNTING, label="QuickBooks Online")]


@hookimpl
def invoicebridge_sandboxes(runtime):
    """The QBO sandbox (the ``invoicebridge[sandbox]`` extra), one per runtime, seeded with the demo company."""
    key = (NAME, "sandbox")
    sandbox = runtime.cache.get(key)
    if sandbox is None:
        from .sandbox import create_sandbox

        sandbox = runtime.cache[key] = create_sandbox(clock=runtime.now, seed="demo")
    return [sandbox]


@hookimpl
async def backend_authorize_url(runtime, backend, redirect_uri, state, code_challenge, settings):
    if not _mine(backend=backend):
        return None
    return await QuickBooksBackend.authorize_url(runtime, redirect_uri=redirect_uri, state=state,
                                                 code_challenge=code_challenge, settings=settings)


@hookimpl
async def backend_complete_oauth(runtime, backend, code, redirect_uri, code_verifier, settings):
    if not _mine(backend=backend):
        return None
    return await QuickBooksBackend.complete_oauth(runtime, code=code, redirect_uri=redirect_uri,
                                                  code_verifier=code_verifier, settings=settings)


@hookimpl
async def backend_check(runtime, connection):
    return await _open(runtime, connection).check() if _mine(connection) else None


@hookimpl
async def backend_disconnect(runtime, connection):
    return await _open(runtime, connection).disconnect() if _mine(connection) else None


@hookimpl
async def accounting_catalog(runtime, connection):
    return await _open(runtime, connection).catalog() if _mine(connection) else None


@hookimpl
async def accounting_current_user(runtime, connection):
    return await _open(runtime, connection).current_user() if _mine(connection) else None


@hookimpl
async def accounting_find_or_create_customers(runtime, connection, customers):
    if not _mine(connection):
        return None
    return await _open(runtime, connection).find_or_create_customers(list(customers))


@hookimpl
async def accounting_create_invoices(runtime, connection, requests):
    return await _open(runtime, connection).create_invoices(list(requests)) if _mine(connection) else None


@hookimpl
async def accounting_find_created(runtime, connection, requests):
    return await _open(runtime, connection).find_created(list(requests)) if _mine(connection) else None


@hookimpl
async def accounting_change_status(runtime, connection, remote_id, command, operation_key):
    if not _mine(connection):
        return None
    return await _open(runtime, connection).change_status(remote_id, command, operation_key)


@hookimpl
async def accounting_email_recipient(runtime, connection, remote_id):
    return await _open(runtime, connection).email_recipient(remote_id) if _mine(connection) else None


@hookimpl
async def accounting_get_invoices(runtime, connection, remote_ids):
    return await _open(runtime, connection).get_invoices(list(remote_ids)) if _mine(connection) else None


@hookimpl
async def accounting_modified_since(runtime, connection, since):
    return await _open(runtime, connection).modified_since(since) if _mine(connection) else None


@hookimpl
async def accounting_invoice_pdf(runtime, connection, remote_id):
    return await _open(runtime, connection).invoice_pdf(remote_id) if _mine(connection) else None


@hookimpl
async def accounting_share_link(runtime, connection, remote_id):
    return await _open(runtime, connection).share_link(remote_id) if _mine(connection) else None


@hookimpl
async def accounting_deep_link(runtime, connection, remote_id):
    return await _open(runtime, connection).deep_link(remote_id) if _mine(connection) else None


@hookimpl
async def accounting_verify_webhook(runtime, connection, request):
    return await _open(runtime, connection).verify_webhook(request) if _mine(connection) else None
