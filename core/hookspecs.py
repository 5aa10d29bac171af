"""Hook specifications: the whole contract between the core and a backend plugin. Declarations only.

A plugin is a module (or object) with functions marked ``@hookimpl`` whose names match these. It is found
through the ``invoicebridge`` entry-point group, the same way the built-in Xero and Pipedrive plugins are.

Conventions:

* Backend hooks are ``firstresult``: every plugin sees the call and answers only for a ``connection`` whose
  ``backend`` is its own name, returning ``None`` otherwise. The first non-None answer wins.
* Any hook may be ``async def`` or return an awaitable; the facade (:mod:`invoicebridge.core.plugins`)
  awaits it.
* ``runtime`` is a :class:`invoicebridge.core.runtime.Runtime`: the HTTP transport, the clock, sleep, and
  secret storage for the connection (``runtime.secrets(connection)``, ``runtime.save_secrets(...)``).
* Errors are raised as subclasses of :class:`invoicebridge.core.errors.BackendError`.
"""

from __future__ import annotations

from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("invoicebridge")


# ---- registration ----------------------------------------------------------------------------------


@hookspec
def invoicebridge_register_backends(register) -> None:
    """Call ``register(factory)`` for each backend this plugin provides: a
    :class:`invoicebridge.core.backends.BackendFactory` (``info``, ``open(connection, context)`` and the
    connect classmethods) whose instances are an :class:`AccountingBackend` or a :class:`CrmSource`. Core
    dispatches every backend call by ``connection.backend`` to the instance; no plugin answers for another's."""


@hookspec
def invoicebridge_backends() -> list:
    """Deprecated (use ``invoicebridge_register_backends``): the backends this plugin provides, as a list of
    :class:`BackendInfo`, answered through the per-call hooks below."""


@hookspec
def invoicebridge_web_routes(runtime) -> list:
    """Starlette routes the plugin contributes (webhook receivers, OAuth callbacks, in-CRM panels)."""


@hookspec
def invoicebridge_frame_ancestors(runtime) -> list:
    """``(path, sources)`` pairs: pages of yours under ``path`` that another site may show in a frame (an in-CRM
    panel), and the CSP ``frame-ancestors`` sources allowed to (e.g. ``https://*.example.com``). Every other
    page may not be framed at all."""


@hookspec
def invoicebridge_sandboxes(runtime) -> list:
    """``(name, prefix, asgi_app)`` triples of emulated remote APIs to mount in the demo."""


# ---- connecting ------------------------------------------------------------------------------------


@hookspec(firstresult=True)
def backend_authorize_url(runtime, backend: str, redirect_uri: str, state: str, code_challenge: str, settings: dict) -> str:
    """The OAuth authorize URL for ``backend`` (None if it is not yours). Stops at the first non-None result."""


@hookspec(firstresult=True)
def backend_complete_oauth(runtime, backend: str, code: str, redirect_uri: str, code_verifier: str, settings: dict):
    """Exchange an authorization code; return a :class:`ConnectResult`. Stops at the first non-None result."""


@hookspec(firstresult=True)
def backend_connect_with_token(runtime, backend: str, token: str, settings: dict):
    """Connect with an API token (where the backend supports it); return a :class:`ConnectResult`."""


@hookspec
def backend_connected(runtime, connection, public_url: str):
    """A connection was just made: subscribe webhooks to ``{public_url}/webhooks/<backend>`` and the like.
    Answer only for your own backend."""


@hookspec(firstresult=True)
def backend_check(runtime, connection):
    """Check a connection; return :class:`Health` (with the remote user and role where known)."""


@hookspec(firstresult=True)
def backend_disconnect(runtime, connection) -> bool:
    """Revoke tokens and remove the remote connection. Stops at the first non-None result."""


# ---- CRM source ------------------------------------------------------------------------------------


@hookspec(firstresult=True)
def crm_get_deal(runtime, connection, deal_id: str):
    """Read one deal with its organization, person and products as a :class:`Deal`.
    Raise :class:`RemoteNotFound` for an unknown id. Stops at the first non-None result."""


@hookspec(firstresult=True)
def crm_get_deals(runtime, connection, deal_ids: list) -> list:
    """Read many deals at once (batched reads), in the order asked; unknown ids are left out."""


@hookspec(firstresult=True)
def crm_find_deals(runtime, connection, query) -> list:
    """Ids of the deals a :class:`DealQuery` selects (for bulk invoicing)."""


@hookspec(firstresult=True)
def crm_search_deals(runtime, connection, term: str, limit: int) -> list:
    """Deals whose title or organization's name matches ``term`` (a person typing in a search box), best
    matches first, at most ``limit``, as :class:`DealSummary`. Stops at the first non-None result."""


@hookspec(firstresult=True)
def crm_deal_id_from_url(runtime, connection, url: str):
    """The deal id in a link to a deal that a person copied from the CRM's web app. Return None when ``url``
    is not a link to the CRM at all; raise :class:`NotFound` with a message saying what is wrong when it is a
    link of the CRM but not to a deal of this connection (another company's address, an id that is not one)."""


@hookspec(firstresult=True)
def crm_list_fields(runtime, connection) -> list:
    """Every deal, organization and person field a mapping can use, as :class:`CrmField`."""


@hookspec(firstresult=True)
def crm_add_activity(runtime, connection, deal_id: str, subject: str, due_date, note: str, dedupe_key: str) -> str:
    """Create a task activity on the deal; return its id. Must not create a second one for the same
    ``dedupe_key``."""


@hookspec(firstresult=True)
def crm_add_note(runtime, connection, deal_id: str, content: str, dedupe_key: str) -> str:
    """Add a note to the deal; return its id. Must not add a second one for the same ``dedupe_key``."""


@hookspec(firstresult=True)
def crm_deal_url(runtime, connection, deal_id: str) -> str:
    """The URL a person opens to see the deal in the CRM."""


@hookspec(firstresult=True)
def crm_verify_page_token(runtime, connection, params: dict):
    """A page opened from inside the CRM carries a signed token (Pipedrive: a JWT in ``token``). Return a dict
    with at least ``user`` (who opened it) when it is valid, raise :class:`WebhookRejected` when it is forged,
    expired, malformed or issued for another account than the connection's, and return None when there is no
    token or the connection is not yours. A valid token opens a short session limited to that deal, never an
    admin session."""


@hookspec(firstresult=True)
def crm_verify_webhook(runtime, connection, request) -> list:
    """Verify a webhook (raise :class:`WebhookRejected` if forged) and return its :class:`WebhookEvent` list."""


# ---- invoicing target ------------------------------------------------------------------------------


@hookspec(firstresult=True)
def accounting_catalog(runtime, connection):
    """Items, revenue tax rates, revenue accounts, enabled currencies, branding themes: a :class:`Catalog`.

    An item's and an account's ``tax_type`` is the default tax the backend applies to a line that names none
    (the item's first, then the account's); the preview uses it, so its totals are what the backend stores."""


@hookspec(firstresult=True)
def accounting_current_user(runtime, connection):
    """The connected user and role as :class:`RemoteUser`."""


@hookspec(firstresult=True)
def accounting_find_or_create_customers(runtime, connection, customers: list) -> list:
    """Remote contact ids for each :class:`Customer`, in order: find by ``external_key``, then tax number,
    email and name; create the missing ones (in batches)."""


@hookspec(firstresult=True)
def accounting_create_invoices(runtime, connection, requests: list) -> list:
    """Create invoices for :class:`CreateRequest` items (in batches); one :class:`CreateResult` each, in order.
    The ``operation_key`` is the idempotency key."""


@hookspec(firstresult=True)
def accounting_find_created(runtime, connection, requests: list) -> dict:
    """Invoices already created for these :class:`CreateRequest` items (found by their unique reference or
    number), as ``{operation_key: Invoice}``. Used to recover after a crash, when idempotency keys expired."""


@hookspec(firstresult=True)
def accounting_change_status(runtime, connection, remote_id: str, command, operation_key: str):
    """Apply a status command (submit, approve, delete, void, email); return the updated :class:`Invoice`."""


@hookspec(firstresult=True)
def accounting_email_recipient(runtime, connection, remote_id: str) -> str:
    """The address the email status command would send this invoice to (the invoice contact's email), or ``""``
    when the contact has none. Asked before emailing, so a person confirms who receives it."""


@hookspec(firstresult=True)
def accounting_get_invoices(runtime, connection, remote_ids: list) -> list:
    """Read invoices by id as :class:`Invoice`."""


@hookspec(firstresult=True)
def accounting_modified_since(runtime, connection, since) -> list:
    """Every invoice modified since ``since`` (a datetime or None), reading all pages."""


@hookspec(firstresult=True)
def accounting_invoice_pdf(runtime, connection, remote_id: str) -> bytes:
    """The invoice as PDF bytes."""


@hookspec(firstresult=True)
def accounting_share_link(runtime, connection, remote_id: str) -> str:
    """The customer-facing online invoice URL (not for drafts)."""


@hookspec(firstresult=True)
def accounting_deep_link(runtime, connection, remote_id: str) -> str:
    """A URL that opens the invoice in the accounting system's web app."""


@hookspec(firstresult=True)
def accounting_verify_webhook(runtime, connection, request) -> list:
    """Verify a webhook (raise :class:`WebhookRejected` if forged) and return its :class:`WebhookEvent` list.
    An intent-to-receive check with a good signature returns an empty list."""


# ---- events other plugins may react to -------------------------------------------------------------


@hookspec
def on_invoice_created(runtime, record, deal, invoice) -> Any:
    """An invoice was created for a deal (the CRM plugin adds the reminder activity and a note)."""


@hookspec
def on_invoice_status_changed(runtime, record, previous, current) -> Any:
    """An invoice's status changed (``previous`` and ``current`` are :class:`InvoiceStatus`)."""


@hookspec
def on_invoice_settled(runtime, record, reason: str) -> Any:
    """The invoice needs no more sending: ``reason`` is ``"emailed"`` (through the accounting system), ``"paid"``,
    ``"voided"`` or ``"deleted"``, whether by our own command, a webhook or the reconciliation poll. Close what was
    made to remind someone to send it (the CRM plugin marks its reminder activity done). May be called again
    for the same invoice after a crash or a failure: it must never complete anything twice, and raise when it
    could not finish (the core keeps it pending and calls again on the next sync)."""


@hookspec
def on_deal_won(runtime, deal_id: str) -> Any:
    """A deal was marked won in the CRM."""
