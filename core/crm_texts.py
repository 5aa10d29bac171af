"""What invoicebridge writes on a deal in the CRM: the "send the invoice" reminder and the notes, composed here in
neutral words (in the settings' default language: the whole team reads them) and sent through the CRM plugin's
primitives. Their dedupe keys name the invoice, so a plugin can find an object made before a crash."""

from __future__ import annotations

import datetime as dt
from typing import Any

import attrs

from .i18n import _, format_date, format_money, use_locale
from .model import Deal, InvoiceRecord
from .status import InvoiceStatus, display_label


def invoice_key(record: InvoiceRecord) -> str:
    return f"invoice:{record.backend}:{record.remote_id or record.id}"


def reminder_key(record: InvoiceRecord) -> str:
    return f"{invoice_key(record)}:reminder"


@attrs.frozen
class Reminder:
    subject: str
    note: str
    due_date: dt.date


def _customer(record: InvoiceRecord, deal: Deal | None) -> str:
    if record.contact_name:
        return record.contact_name
    if deal is not None and deal.organization and deal.organization.name:
        return deal.organization.name
    if deal is not None and deal.person and deal.person.name:
        return deal.person.name
    return _("the customer")


def _values(record: InvoiceRecord, deal: Deal | None) -> dict[str, Any]:
    return {"number": record.number or _("draft invoice"), "customer": _customer(record, deal),
            "total": format_money(record.total, record.currency), "status": record.status.label,
            "due": format_date(record.due_date)}


def reminder(record: InvoiceRecord, deal: Deal | None, settings: dict, today: dt.date) -> Reminder:
    with use_locale(settings.get("language")):
        values = _values(record, deal)
        subject = _("Send invoice %(number)s to %(customer)s") % values
        note = _("Invoice %(number)s for %(total)s was created as %(status)s. It is not sent automatically: "
                 "send it to %(customer)s.") % values
    return Reminder(subject=subject, note=note, due_date=today + dt.timedelta(days=int(settings.get("reminder_due_days", 3))))


def created_note(record: InvoiceRecord, deal: Deal | None, settings: dict) -> str:
    with use_locale(settings.get("language")):
        values = _values(record, deal)
        return (_("Invoice %(number)s created (%(status)s), total %(total)s, due %(due)s.") if record.due_date else
                _("Invoice %(number)s created (%(status)s), total %(total)s.")) % values


def status_note(record: InvoiceRecord, previous: InvoiceStatus, current: InvoiceStatus, settings: dict) -> str:
    with use_locale(settings.get("language")):
        values = {"number": record.number or _("draft"), "status": display_label(current, amount_paid=record.amount_paid),
                  "previous": previous.label, "total": format_money(record.total, record.currency),
                  "due": format_money(record.amount_due, record.currency)}
        return (_("Invoice %(number)s is now %(status)s (was %(previous)s). Total %(total)s, nothing is due.") if current.is_terminal
                else _("Invoice %(number)s is now %(status)s (was %(previous)s). Total %(total)s, amount due %(due)s.")) % values


DEAL_FIELD_SETTINGS = ("deal_field_invoice_number", "deal_field_invoice_status")  # a deal field key each, "" for none


def deal_field_values(record: InvoiceRecord, settings: dict) -> dict[str, str | None]:
    """What the deal fields the settings name receive: the invoice number (None while it has none) and the
    status label in the settings' language (e.g. "Awaiting payment", "Partly paid")."""
    values: dict[str, str | None] = {}
    with use_locale(settings.get("language")):
        if settings.get("deal_field_invoice_number"):
            values[str(settings["deal_field_invoice_number"])] = record.number or None
        if settings.get("deal_field_invoice_status"):
            values[str(settings["deal_field_invoice_status"])] = str(
                display_label(record.status, amount_paid=record.amount_paid))
    return values
