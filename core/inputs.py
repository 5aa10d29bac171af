"""Reading what a person typed or an API call sent (overrides, line items, numbers, dates) and checking a draft
against the accounting catalog before anything is sent."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Mapping
import attrs
from . import i18n
from . import money as m
from .errors import ValidationProblem
from .model import Catalog, InvoiceDraft, LineItem, TaxHandling
from .i18n import _, format_money, format_number
from .status import LABELS, InvoiceStatus

def apply_overrides(draft: InvoiceDraft, overrides: Mapping[str, Any], catalog: Catalog) -> InvoiceDraft:
    """Apply what a person changed on the create form or in an API call. Raises ValidationProblem on bad values."""
    problems: list[str] = []
    changes: dict[str, Any] = {}

    def take(name: str, conv, label: str) -> None:
        if name in overrides and overrides[name] not in (None, ""):
            try:
                changes[name] = conv(overrides[name])
            except (ValueError, TypeError, ArithmeticError) as exc:
                problems.append(_("%(field)s: %(problem)s") % {"field": label, "problem": exc})

    take("date", _as_date, _("Invoice date"))
    take("due_date", _as_date, _("Due date"))
    take("currency", m.currency_code, _("Currency"))
    take("tax_handling", TaxHandling.parse, _("Tax handling"))
    take("reference", lambda v: str(v)[:255], _("Reference"))
    take("status", _creatable_status, _("Status"))
    take("branding_theme_id", str, _("Branding theme"))
    customer = overrides.get("customer")
    if customer is not None and (not isinstance(customer, Mapping) or set(customer) - {"name", "email", "tax_number"}):
        problems.append(_("Customer: expected an object with only name, email and tax_number"))
    elif isinstance(customer, Mapping):
        try:
            cust_changes: dict[str, Any] = {k: str(v) for k, v in customer.items() if k in ("name", "email", "tax_number") and v is not None}
            changes["customer"] = attrs.evolve(draft.customer, **cust_changes)
        except (ValueError, TypeError) as exc:
            problems.append(_("Customer: %(problem)s") % {"problem": exc})
    lines = overrides.get("line_items")
    if lines is not None:
        if not isinstance(lines, (list, tuple)):
            problems.append(_("Line items: expected a list"))
        else:
            parsed = []
            for n, raw in enumerate(lines, start=1):
                try:
                    parsed.append(line_from_input(raw, catalog))
                except (ValueError, TypeError, ArithmeticError) as exc:
                    problems.append(_("Line %(n)s: %(problem)s") % {"n": n, "problem": exc})
            if not parsed and not problems:
                problems.append(_("Line items: an invoice needs at least one line"))
            changes["line_items"] = tuple(parsed)
    if problems:
        raise ValidationProblem(problems, deal_id=draft.deal_id)
    try:
        return attrs.evolve(draft, **changes)
    except (ValueError, TypeError) as exc:
        raise ValidationProblem([_sentence(str(exc))], deal_id=draft.deal_id) from None


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _as_date(value: Any) -> dt.date:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError:
        raise ValueError(_("'%(value)s' is not a date (use YYYY-MM-DD)") % {"value": str(value)[:40]}) from None


def _creatable_status(value: Any) -> InvoiceStatus:
    status = InvoiceStatus.parse(value)
    if status not in (InvoiceStatus.DRAFT, InvoiceStatus.AWAITING_APPROVAL, InvoiceStatus.AWAITING_PAYMENT):
        raise ValueError(_("a new invoice can be %(draft)s, %(submitted)s or %(authorised)s, not %(status)s") % {
            "draft": LABELS[InvoiceStatus.DRAFT], "submitted": LABELS[InvoiceStatus.AWAITING_APPROVAL],
            "authorised": LABELS[InvoiceStatus.AWAITING_PAYMENT], "status": status.label})
    return status


def line_from_input(raw: Any, catalog: Catalog) -> LineItem:
    """A line item from form or JSON input; an item code fills what is left empty from the catalog."""
    if not isinstance(raw, Mapping):
        raise TypeError(_("a line item is an object with description, quantity, unit_amount…"))
    code = str(raw.get("item_code") or "").strip()
    item = catalog.item(code) if code else None
    description = str(raw.get("description") or "").strip() or (item.description or item.name if item else "")
    if not description:
        raise ValueError(_("a description is required"))
    quantity = _number(raw.get("quantity", 1), _("quantity"))
    if quantity <= 0:
        raise ValueError(_("quantity must be more than 0, got %(quantity)s") % {"quantity": format_number(quantity)})
    unit = raw.get("unit_amount")
    if unit in (None, "") and item and item.unit_price is not None:
        unit = item.unit_price
    unit_amount = _number(unit if unit not in (None, "") else 0, _("unit price"))
    discount = raw.get("discount_rate")
    discount_rate = _number(discount, _("discount")) if discount not in (None, "") else None
    if discount_rate is not None and not (0 <= discount_rate <= 100):
        raise ValueError(_("discount is a percentage between 0 and 100, got %(discount)s") % {"discount": format_number(discount_rate)})
    off = raw.get("discount_amount")
    discount_amount = _number(off, _("discount amount")) if off not in (None, "") else None
    discount_rate = discount_rate or None  # a zero discount is no discount
    discount_amount = discount_amount or None
    if discount_rate is not None and discount_amount is not None:
        raise ValueError(i18n._("give a discount as a percentage or as an amount, not both"))
    if discount_amount is not None and discount_amount < 0:
        raise ValueError(i18n._("a discount amount cannot be negative, got %(amount)s") % {"amount": i18n.format_number(discount_amount)})
    tax_type = str(raw.get("tax_type") or (item.tax_type if item else "") or "").strip()
    rate = catalog.tax_rate(tax_type) if tax_type else None
    return LineItem(
        description=description,
        quantity=quantity,
        unit_amount=unit_amount,
        discount_rate=discount_rate,
        discount_amount=discount_amount,
        item_code=item.code if item else code,
        account_code=str(raw.get("account_code") or (item.account_code if item else "") or "").strip(),
        tax_type=tax_type,
        tax_percent=rate.rate if rate else _number(raw.get("tax_percent") or 0, _("tax percent")),
    )


def _number(value: Any, label: str) -> Decimal:
    """A number from JSON (or a form already read in the person's locale): a number or a plain decimal string.
    A comma is never guessed at (``"1,5"`` is refused, not read as 15)."""
    try:
        result = m.to_decimal(value if not isinstance(value, str) else value.strip() or "0")
    except (ValueError, TypeError):
        raise ValueError(_("%(field)s must be a number written with a decimal point, got %(value)r")
                         % {"field": label, "value": value}) from None
    if abs(result) >= Decimal("1e12"):
        raise ValueError(_("%(field)s is too large") % {"field": label})
    return result


def validate_against_catalog(draft: InvoiceDraft, catalog: Catalog) -> list[str]:
    """Every problem that would make the accounting system refuse the invoice, found before sending."""
    problems: list[str] = []
    enabled = set(catalog.currencies) | {catalog.base_currency}
    if catalog.currencies and draft.currency not in enabled:
        problems.append(_("Currency %(currency)s is not enabled in %(organisation)s; enable it there or invoice in one of %(enabled)s") % {
            "currency": draft.currency, "organisation": catalog.organisation_name or _("the accounting organisation"),
            "enabled": ", ".join(sorted(enabled))})
    account_codes = {a.code for a in catalog.accounts}
    tax_types = {t.tax_type for t in catalog.tax_rates}
    for n, line in enumerate(draft.line_items, start=1):
        where = {"where": _("Line %(n)s (%(description)s)") % {"n": n, "description": line.description[:40]}}
        if line.item_code and catalog.items and catalog.item(line.item_code) is None:
            problems.append(_("%(where)s: item code '%(code)s' is not in the accounting system's products and services")
                            % dict(where, code=line.item_code))
        if line.tax_type and tax_types and line.tax_type not in tax_types:
            problems.append(_("%(where)s: tax type '%(tax_type)s' is not one of the organisation's revenue tax rates")
                            % dict(where, tax_type=line.tax_type))
        if not line.tax_type and line.tax_percent and draft.tax_handling is not TaxHandling.NO_TAX:
            problems.append(_("%(where)s: no tax rate of %(percent)s%% exists in the accounting system; pick a tax type")
                            % dict(where, percent=format_number(line.tax_percent)))
        if line.account_code and account_codes and line.account_code not in account_codes:
            problems.append(_("%(where)s: account '%(account)s' is not a revenue account") % dict(where, account=line.account_code))
        if not line.account_code and not line.item_code:
            problems.append(_("%(where)s: pick an account (or set a default account in Settings)") % where)
    if draft.totals.total < 0:
        problems.append(_("The total would be %(total)s; an invoice cannot be negative")
                        % {"total": format_money(draft.totals.total, draft.currency)})
    return problems
