"""One computation of an invoice's money, shared by every path (page, JSON preview, API, bulk, automation).

A line's amount and tax come from :class:`~invoicebridge.core.model.LineItem` (``line_amount``) and
:func:`~invoicebridge.core.model.line_tax`; the invoice's subtotal, tax and total from
:func:`~invoicebridge.core.model.compute_totals`. What this module adds is the part that needs the accounting
catalog: a line that names no tax type gets the default tax of its item, else of its account, as the accounting
system applies it when it stores the invoice (:func:`settle`). After settling, ``draft.totals`` is what the
accounting system will store, to the cent.

It also compares an invoice with the deal it comes from (:func:`value_difference`) and names a deal's live
invoices (:func:`live_invoices`), for the preview's warnings.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Iterable, Sequence

import attrs

from . import money as m
from .i18n import _, format_money, format_number
from .model import Catalog, Deal, InvoiceDraft, InvoiceRecord, LineItem, TaxHandling, line_tax
from .status import InvoiceStatus


def default_tax_type(line: LineItem, catalog: Catalog) -> str:
    """The tax type the accounting system applies to a line that names none: its item's, else its account's."""
    return catalog.default_tax_type(line.item_code, line.account_code)


def settle_line(line: LineItem, catalog: Catalog) -> LineItem:
    """The line as the accounting system will store it: the tax type filled in from the catalog's defaults when
    the line names none, and the tax percentage that of the tax type (the catalog's rate wins)."""
    tax_type = line.tax_type or default_tax_type(line, catalog)
    rate = catalog.tax_rate(tax_type) if tax_type else None
    if rate is None:  # nothing the catalog knows: leave the line (validation names an unknown tax type)
        return line
    if tax_type == line.tax_type and rate.rate == line.tax_percent:
        return line
    return attrs.evolve(line, tax_type=tax_type, tax_percent=rate.rate)


def settle(draft: InvoiceDraft, catalog: Catalog) -> InvoiceDraft:
    lines = tuple(settle_line(line, catalog) for line in draft.line_items)
    return draft if lines == draft.line_items else attrs.evolve(draft, line_items=lines)


def line_taxes(draft: InvoiceDraft) -> list[Decimal]:
    return [line_tax(line, draft.tax_handling) for line in draft.line_items]


# ---- checks against the deal ------------------------------------------------------------------------------


def tax_rate_changes(deal: Deal, mapped: InvoiceDraft, catalog: Catalog) -> list[str]:
    """Warnings for deal products whose tax percentage no tax rate of the accounting system has, so the line
    gets the item's or account's rate instead (``mapped`` is the settled draft straight from the mapping)."""
    if mapped.tax_handling is TaxHandling.NO_TAX:
        return []
    out = []
    products = [p for p in deal.products if p.enabled]
    for product, line in zip(products, mapped.line_items, strict=False):  # deal-discount lines follow the products
        if product.tax_percent == line.tax_percent:
            continue
        rate = catalog.tax_rate(line.tax_type)
        out.append(_("Line %(line)s: no tax rate of %(deal)s%% exists, so %(rate)s (%(percent)s%%) applies") % {
            "line": product.name, "deal": format_number(product.tax_percent),
            "rate": rate.name if rate else line.tax_type, "percent": format_number(line.tax_percent)})
    return out



def live_invoices(records: Iterable[InvoiceRecord]) -> list[InvoiceRecord]:
    """A deal's invoices that still count: neither voided nor deleted."""
    return [r for r in records if r.status not in (InvoiceStatus.VOIDED, InvoiceStatus.DELETED)]


def describe_invoice(record: InvoiceRecord) -> str:
    """``INV-0006, Draft, €850.00``."""
    return _("%(number)s, %(status)s, %(total)s") % {
        "number": record.number or record.remote_id, "status": record.status_label,
        "total": format_money(record.total, record.currency)}


def live_invoice_warning(records: Sequence[InvoiceRecord]) -> str:
    return _("This deal already has %(invoices)s; save another invoice only if that is intended.") % {
        "invoices": "; ".join(describe_invoice(r) for r in records)}


def value_difference(deal: Deal, draft: InvoiceDraft, *, edited: bool) -> str:
    """A warning when the invoice total differs from the deal's value, saying why; "" when they agree."""
    total = draft.totals.total
    if draft.currency != deal.currency or deal.value <= 0 or total == deal.value:
        return ""
    reasons = []
    if edited:
        reasons.append(_("the lines were edited"))
    tax = draft.totals.tax
    if tax and draft.tax_handling is TaxHandling.EXCLUSIVE and draft.totals.subtotal == deal.value:
        reasons.append(_("tax of %(tax)s is added to the deal's value") % {"tax": format_money(tax, draft.currency)})
    elif tax and draft.tax_handling is TaxHandling.EXCLUSIVE and not any(p.tax_percent for p in deal.products if p.enabled):
        reasons.append(_("tax of %(tax)s is added (the deal carries none)") % {"tax": format_money(tax, draft.currency)})
    if deal.discounts:
        reasons.append(_("the deal's discounts are taken off before tax on the invoice"))
    if not reasons:
        reasons.append(_("the accounting system's tax rates or rounding differ from the deal's"))
    values = {"total": format_money(total, draft.currency), "value": format_money(deal.value, deal.currency),
              "diff": format_money(m.money(abs(total - deal.value)), draft.currency), "why": "; ".join(reasons)}
    if total > deal.value:
        return _("The invoice total %(total)s differs from the deal value %(value)s (%(diff)s more): %(why)s.") % values
    return _("The invoice total %(total)s differs from the deal value %(value)s (%(diff)s less): %(why)s.") % values
