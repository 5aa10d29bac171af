"""What the use cases answer with: previews, searches, bulk items, sync reports, their errors, and how a
source or a status is said on the audit timeline."""

from __future__ import annotations

import hashlib
import json
from typing import Any, Mapping, Sequence
import attrs
from .errors import BackendError, InvoiceBridgeError
from .model import Deal, Invoice, InvoiceDraft, InvoiceRecord
from .model import WebhookEvent
from .payloads import MalformedPayload, is_ident
from .totals import live_invoices
from .i18n import _, lazy_
from .status import COMMAND_LABELS, Command, InvoiceStatus

@attrs.frozen
class Preview:
    deal: Deal
    draft: InvoiceDraft
    problems: tuple[str, ...] = ()  # block sending
    warnings: tuple[str, ...] = ()  # worth knowing
    live_invoices: tuple[InvoiceRecord, ...] = ()  # the deal's invoices that still count (not voided or deleted)

    @property
    def ok(self) -> bool:
        return not self.problems


@attrs.frozen
class DealSearch:
    """What a search for a deal found: the matching deals, or the one deal a link or number names (``open_id``),
    or what is wrong with the query (``problem``, said for a person)."""

    query: str
    deals: tuple = ()
    open_id: str = ""
    problem: str = ""


@attrs.frozen
class BulkItem:
    deal_id: str
    operation_key: str
    record: InvoiceRecord | None = None
    error: str = ""
    problems: tuple[str, ...] = ()
    retryable: bool = False
    draft: InvoiceDraft | None = None  # a dry run's preview


@attrs.frozen
class SyncReport:
    checked: int = 0
    changed: int = 0
    rejected: int = 0
    recovered: int = 0


def request_hash(payload: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


SOURCES = {  # where a create or a status came from, as the audit timeline says it
    "page": lazy_("the web page"), "api": lazy_("the API"), "cli": lazy_("the command line"), "bulk": lazy_("a bulk run"),
    "automation": lazy_("the automation"), "webhook": lazy_("a webhook"), "sync": lazy_("a sync"),
    "reconcile": lazy_("the regular sync"), "reconciliation": lazy_("the regular sync"), "recovery": lazy_("a restart"),
}


def source_text(source: str) -> Any:
    """A source as a lazy text (``command:void`` is "Void in invoicebridge"); unknown sources as they are."""
    if source.startswith("command:"):
        try:
            return lazy_("%(command)s in invoicebridge", command=COMMAND_LABELS[Command(source.split(":", 1)[1])])
        except ValueError:
            return source
    return SOURCES.get(source, source)


def status_text(record: InvoiceRecord) -> Any:
    """The record's label as a lazy text ("Partly paid" for an approved invoice with a payment)."""
    from .status import display_text

    return display_text(record.status, amount_paid=record.amount_paid)


class OperationInProgress(InvoiceBridgeError):
    status_code = 409


class AnotherInvoice(InvoiceBridgeError):
    """The deal already has a live invoice and the caller did not say another one is intended."""

    status_code = 409


class CreateRefused(InvoiceBridgeError):
    """The backend refused the invoice for good (retrying the same request cannot help): the caller's to fix."""

    status_code = 422



# ---- pure helpers ---------------------------------------------------------------------------------------


def _checked_events(events: Any) -> list[WebhookEvent]:
    """A plugin's webhook events, refused whole (400, before any is acted on) when one names no proper id."""
    out = list(events or [])
    for event in out:
        if not isinstance(event, WebhookEvent) or not is_ident(event.object_id) \
                or not isinstance(event.event_id, str) or len(event.event_id) > 1000:
            raise MalformedPayload("The webhook names an object that is not a proper id; nothing was processed")
    return out


def _live_invoice(records: Sequence[InvoiceRecord]) -> InvoiceRecord | None:
    """The deal's invoice that still counts (not deleted or voided), newest first; the same rule as the preview's
    and the single create's check (:func:`invoicebridge.core.totals.live_invoices`)."""
    return next(iter(live_invoices(records)), None)


def _invoice_from_record(record: InvoiceRecord) -> Invoice:
    return Invoice(remote_id=record.remote_id, number=record.number, status=record.status, currency=record.currency,
                   total=record.total, amount_paid=record.amount_paid, amount_due=record.amount_due, date=record.date,
                   due_date=record.due_date, reference=record.reference, contact_name=record.contact_name)


def as_reported(invoice: Invoice, capabilities: Any) -> Invoice:
    """The invoice as far as the backend reports it. One without ``payments`` reports no amount paid, so none is
    kept (nor "Partly paid" derived from one): only the status says whether it is paid, and the amount due follows
    it (the total until paid, nothing once paid, voided or deleted)."""
    if getattr(capabilities, "payments", True):
        return invoice
    settled = invoice.status is InvoiceStatus.PAID or invoice.status.is_terminal
    return attrs.evolve(invoice, amount_paid=0, amount_due=0 if settled else invoice.total)


def _error_for(item: BulkItem) -> InvoiceBridgeError:
    if item.retryable:
        return BackendError(_("The invoice could not be created yet: %(error)s. It will be retried; you can also retry from the dashboard")
                            % {"error": item.error}, operation=item.operation_key)
    return CreateRefused(_("The invoice was not created: %(error)s") % {"error": item.error}, operation=item.operation_key)

