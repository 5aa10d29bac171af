"""Hook implementations of the Pipedrive plugin (backend name ``pipedrive``, role CRM).

The CRM source itself is :class:`PipedriveSource` (``backend.py``); these are its registration, routes,
sandbox and the write-back events.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from invoicebridge.core.i18n import format_date, format_money, use_locale
from invoicebridge.core import hookimpl

from .i18n import _, lazy_  # noqa: F401
from . import panel, writeback
from .backend import NAME, PipedriveSource
from .client import PipedriveClient


@hookimpl
def invoicebridge_register_backends(register):
    register(PipedriveSource)


@hookimpl
def invoicebridge_web_routes(runtime):
    return panel.routes(runtime)


@hookimpl
def invoicebridge_frame_ancestors(runtime):
    # Pipedrive shows app extensions from its own domain (company subdomains of pipedrive.com).
    return [(panel.PANEL_PATH, ["https://*.pipedrive.com"])]


@hookimpl
def invoicebridge_sandboxes(runtime):
    """The Pipedrive sandbox (the ``invoicebridge[sandbox]`` extra), one per runtime, seeded with demo deals."""
    key = ("pipedrive", "sandbox")
    sandbox = runtime.cache.get(key)
    if sandbox is None:
        from .sandbox_frame import PipedriveSandbox

        sandbox = runtime.cache[key] = PipedriveSandbox(clock=runtime.now)
        sandbox.seed()
    return [sandbox]


# ---- events ----------------------------------------------------------------------------------------


def _crm(runtime: Any) -> Any:
    connection = runtime.maybe_connection("crm")
    return connection if connection is not None and connection.backend == NAME else None


def _writeback_language(runtime: Any):
    """Texts written into Pipedrive are read by the whole team: they follow the default language in settings,
    not the language of whoever happened to cause them."""
    return use_locale(runtime.store.get_settings().get("language"))


@hookimpl
async def on_invoice_created(runtime, record, deal, invoice):
    connection = _crm(runtime)
    if connection is None:
        return None
    settings = runtime.store.get_settings()
    with _writeback_language(runtime):
        number = invoice.number or record.number or _("draft invoice")
        customer = invoice.contact_name or record.contact_name or (deal.organization.name if deal.organization else "") \
            or (deal.person.name if deal.person else _("the customer"))
        values = {"number": number, "customer": customer, "total": format_money(invoice.total, invoice.currency),
                  "status": invoice.status.label, "due": format_date(invoice.due_date)}
        subject = _("Send invoice %(number)s to %(customer)s") % values
        reminder = _("Invoice %(number)s for %(total)s was created as %(status)s. It is not sent automatically: "
                     "send it to %(customer)s.") % values
        note = (_("Invoice %(number)s created (%(status)s), total %(total)s, due %(due)s.") if invoice.due_date else
                _("Invoice %(number)s created (%(status)s), total %(total)s.")) % values
    base_key = f"invoice:{record.backend}:{record.remote_id or record.id}"
    async with PipedriveClient(runtime, connection) as client:
        # no reminder to send an invoice that is already paid or dead (a write-back finished late, after a crash)
        if settings.get("reminder_enabled", True) and invoice.status.value not in ("PAID", "VOIDED", "DELETED"):
            due = runtime.today() + dt.timedelta(days=int(settings.get("reminder_due_days", 3)))
            await writeback.add_activity_once(client, str(record.deal_id), subject, due, reminder, f"{base_key}:reminder")
        if settings.get("note_on_create", True):
            await writeback.add_note_once(client, str(record.deal_id), note, f"{base_key}:created")
    return True


@hookimpl
async def on_invoice_status_changed(runtime, record, previous, current):
    connection = _crm(runtime)
    if connection is None or not runtime.store.get_settings().get("note_on_status_change", True):
        return None
    from invoicebridge.core.status import display_label

    with _writeback_language(runtime):
        values = {"number": record.number or _("draft"), "status": display_label(current, amount_paid=record.amount_paid),
                  "previous": previous.label, "total": format_money(record.total, record.currency),
                  "due": format_money(record.amount_due, record.currency)}
        text = (_("Invoice %(number)s is now %(status)s (was %(previous)s). Total %(total)s, nothing is due.") if current.is_terminal
                else _("Invoice %(number)s is now %(status)s (was %(previous)s). Total %(total)s, amount due %(due)s.")) % values
    key = f"status:{record.backend}:{record.remote_id or record.id}:{previous.value}->{current.value}:{record.updated_at}"
    async with PipedriveClient(runtime, connection) as client:
        await writeback.add_note_once(client, str(record.deal_id), text, key)
    return True


@hookimpl
async def on_invoice_settled(runtime, record, reason):
    """The invoice was emailed, paid, voided or deleted: mark its "Send invoice" reminder done (once)."""
    connection = _crm(runtime)
    if connection is None:
        return None
    key = f"invoice:{record.backend}:{record.remote_id or record.id}:reminder"
    async with PipedriveClient(runtime, connection) as client:
        await writeback.complete_activity_once(client, str(record.deal_id), key)
    return True
