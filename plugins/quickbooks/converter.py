"""Pure conversions between core's model and QBO's JSON (no I/O).

* :func:`catalog_from` - QBO's items, tax codes and rates, accounts and settings as a core :class:`Catalog`
  (item code = Sku, else Name; tax type = TaxCode Id; account code = AcctNum, else Id).
* :func:`customer_body` - a core :class:`Customer` as a QBO Customer to create.
* :func:`invoice_body` - an :class:`InvoiceDraft` as a QBO Invoice: sales lines with Qty/UnitPrice and the line
  discount as ``DiscountRate``/``DiscountAmt``; the deal-level discount lines core adds (negative, one per tax
  group) as ``DiscountLineDetail`` lines with that group's TaxCodeRef; ``GlobalTaxCalculation`` from the tax
  handling (TaxExcluded / TaxInclusive with ``TaxInclusiveAmt`` / NotApplicable). US companies: ``TAX``/``NON``.
* :func:`status_of` and :func:`to_invoice` - a QBO Invoice as users see it (open, overdue, partly paid, paid,
  voided, deleted; sent or not) and as a core :class:`Invoice` with a neutral status.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Iterable, Mapping

from attrs import frozen

from invoicebridge.core.model import (
    Account,
    Catalog,
    CatalogItem,
    Customer,
    Invoice,
    InvoiceDraft,
    LineItem,
    TaxHandling,
    TaxRate,
    line_tax,
)
from invoicebridge.core.status import InvoiceStatus

from .qbotime import parse_timestamp

DEAL_MARK = "crm-deal:"
GLOBAL_TAX = {TaxHandling.EXCLUSIVE: "TaxExcluded", TaxHandling.INCLUSIVE: "TaxInclusive",
              TaxHandling.NO_TAX: "NotApplicable"}
SELLABLE = ("Service", "NonInventory", "Inventory")


class ConversionError(ValueError):
    """A draft QBO cannot express as it stands (e.g. a tax percentage no tax code has); ``field`` names the part."""

    def __init__(self, message: str, field: str = "line_items") -> None:
        super().__init__(message)
        self.field = field


def D(value: Any) -> Decimal:  # noqa: N802 (reads like a constructor)
    return value if isinstance(value, Decimal) else Decimal(str(value or 0))


# ---- catalog ----------------------------------------------------------------------------------------------


def code_rates(tax_codes: Iterable[Mapping[str, Any]], tax_rates: Iterable[Mapping[str, Any]]) -> dict[str, Decimal]:
    """TaxCode Id -> the sum of its sales rates."""
    rates = {str(r["Id"]): D(r.get("RateValue")) for r in tax_rates}
    return {str(c["Id"]): sum((rates.get(str(d.get("TaxRateRef", {}).get("value")), Decimal(0))
                              for d in (c.get("SalesTaxRateList") or {}).get("TaxRateDetail", [])), Decimal(0))
            for c in tax_codes}


def item_code(item: Mapping[str, Any]) -> str:
    return str(item.get("Sku") or item.get("Name") or item["Id"])


def catalog_from(*, items: Iterable[Mapping[str, Any]], tax_codes: Iterable[Mapping[str, Any]],
                 tax_rates: Iterable[Mapping[str, Any]], accounts: Iterable[Mapping[str, Any]],
                 company: Mapping[str, Any], preferences: Mapping[str, Any]) -> Catalog:
    tax_codes = list(tax_codes)
    rates = code_rates(tax_codes, tax_rates)
    us = company.get("Country") in ("US", "USA")
    accounts = list(accounts)
    account_codes = {str(a["Id"]): str(a.get("AcctNum") or a["Id"]) for a in accounts}
    currency_prefs = preferences.get("CurrencyPrefs", {})
    home = currency_prefs.get("HomeCurrency", {}).get("value", "USD")
    if us:
        tax = [TaxRate(tax_type="TAX", name="Taxable (automated sales tax)", rate=0),
               TaxRate(tax_type="NON", name="Non-taxable", rate=0)]
    else:
        tax = [TaxRate(tax_type=str(c["Id"]), name=str(c.get("Name", "")), rate=rates[str(c["Id"])])
               for c in tax_codes if c.get("Active", True) is not False]
    return Catalog(
        # multicurrency on: a customer may be in any currency QBO knows (it lists no "enabled" ones), so none is
        # refused beforehand; off: the home currency only (fact sheet §9)
        base_currency=home, currencies=[] if currency_prefs.get("MultiCurrencyEnabled") else [home],
        items=[CatalogItem(code=item_code(i), name=i.get("Name", ""), description=i.get("Description", ""),
                           unit_price=i.get("UnitPrice"),
                           account_code=account_codes.get(str(i.get("IncomeAccountRef", {}).get("value")), ""),
                           tax_type=str(i.get("SalesTaxCodeRef", {}).get("value", "")) if not us else "")
               for i in items if i.get("Type") in SELLABLE and i.get("Active", True) is not False],
        tax_rates=tax,
        accounts=[Account(code=account_codes[str(a["Id"])], name=a.get("Name", ""))
                  for a in accounts if a.get("Classification") == "Revenue"],
        organisation_name=str(company.get("CompanyName", "")),
    )


# ---- customers --------------------------------------------------------------------------------------------


def display_name(name: str) -> str:
    """QBO refuses a colon in DisplayName (it separates sub-customers): write it as a dash."""
    return " ".join(name.replace(":", " -").split())[:500]


def customer_body(customer: Customer, currency: str = "") -> dict[str, Any]:
    body: dict[str, Any] = {"DisplayName": display_name(customer.name), "CompanyName": customer.name[:100]}
    if customer.email:
        body["PrimaryEmailAddr"] = {"Address": customer.email}
    if customer.tax_number:
        body["PrimaryTaxIdentifier"] = customer.tax_number
    a = customer.address
    if not a.is_empty:
        addr = {"Line1": a.line1, "Line2": a.line2, "City": a.city, "CountrySubDivisionCode": a.region,
                "PostalCode": a.postal_code, "Country": a.country}
        body["BillAddr"] = {k: v for k, v in addr.items() if v}
    if currency:
        body["CurrencyRef"] = {"value": currency}
    return body


# ---- invoices ---------------------------------------------------------------------------------------------


def _code_for(line: LineItem, rates: Mapping[str, Decimal], us: bool) -> str:
    if us:
        return "TAX" if line.tax_percent else "NON"
    if line.tax_type in rates and rates[line.tax_type] == line.tax_percent:
        return line.tax_type
    for code, rate in rates.items():
        if rate == line.tax_percent:
            return code
    raise ConversionError(f"no tax code has the rate {line.tax_percent.normalize():f}%; add one in QuickBooks "
                          f"or change the product's tax")


def _money(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"))


def private_note(draft: InvoiceDraft) -> str:
    """Our marker on the invoice (internal memo): finds it again after a lost answer; the deal link for people."""
    return f"{DEAL_MARK}{draft.deal_id}" + (f"\n{draft.url}" if draft.url else "")


def invoice_body(draft: InvoiceDraft, *, customer_id: str, item_ids: Mapping[str, str], default_item_id: str,
                 tax_rates: Mapping[str, Decimal], us: bool = False, online_payment: bool = True) -> dict[str, Any]:
    """The QBO Invoice for ``draft``. ``item_ids``: item code (lower case) -> Item Id; ``tax_rates``: TaxCode Id
    -> rate (non-US)."""
    handling = draft.tax_handling
    mode = GLOBAL_TAX[handling]
    lines: list[dict[str, Any]] = []
    for line in draft.line_items:
        code = None if handling is TaxHandling.NO_TAX and not us else _code_for(line, tax_rates, us)
        amount = line.line_amount
        if amount < 0 or line.unit_amount < 0:  # core's deal-level discount: one negative line per tax group
            detail: dict[str, Any] = {"PercentBased": False}
            if code:
                detail["TaxCodeRef"] = {"value": code}
            lines.append({"DetailType": "DiscountLineDetail", "Amount": _money(-amount),
                          "Description": line.description[:4000], "DiscountLineDetail": detail})
            continue
        item_id = item_ids.get(line.item_code.lower(), default_item_id) if line.item_code else default_item_id
        sales: dict[str, Any] = {"ItemRef": {"value": item_id}, "Qty": line.quantity, "UnitPrice": line.unit_amount}
        if line.discount_rate is not None:
            sales["DiscountRate"] = line.discount_rate
        elif line.discount_amount is not None:
            sales["DiscountAmt"] = line.discount_amount
        if code:
            sales["TaxCodeRef"] = {"value": code}
        out = {"DetailType": "SalesItemLineDetail", "Amount": _money(amount), "Description": line.description[:4000],
               "SalesItemLineDetail": sales}
        if handling is TaxHandling.INCLUSIVE:
            sales["TaxInclusiveAmt"] = _money(amount)
            out["Amount"] = _money(amount - line_tax(line, handling))
        lines.append(out)
    body: dict[str, Any] = {
        "CustomerRef": {"value": customer_id}, "Line": lines, "TxnDate": draft.date.isoformat(),
        "DueDate": draft.due_date.isoformat(), "CurrencyRef": {"value": draft.currency},
        "PrivateNote": private_note(draft), "ApplyTaxAfterDiscount": True,
    }
    if not us:
        body["GlobalTaxCalculation"] = mode
    if draft.number:
        body["DocNumber"] = draft.number[:21]
    if draft.reference:
        body["CustomerMemo"] = {"value": draft.reference[:1000]}
    if draft.customer.email:
        body["BillEmail"] = {"Address": draft.customer.email}
    if online_payment:
        body["AllowOnlineCreditCardPayment"] = True
        body["AllowOnlineACHPayment"] = True
    return body


def deal_of(invoice: Mapping[str, Any]) -> tuple[str, str]:
    """(deal id, deal url) from our PrivateNote marker; ("", "") when it is not one of ours."""
    note = str(invoice.get("PrivateNote") or "")
    if note.startswith("Voided - "):
        note = note[len("Voided - "):]
    if not note.startswith(DEAL_MARK):
        return "", ""
    first, _, rest = note.partition("\n")
    return first[len(DEAL_MARK):].strip(), rest.strip()


# ---- status -----------------------------------------------------------------------------------------------


@frozen
class QboStatus:
    """What a QBO user sees (fact sheet §4.3): ``state`` is open, overdue, partly_paid, paid, voided or deleted."""

    state: str
    sent: bool = False


def is_voided(invoice: Mapping[str, Any]) -> bool:
    return (invoice.get("status") == "Voided" or (
        D(invoice.get("TotalAmt")) == 0 and D(invoice.get("Balance")) == 0
        and str(invoice.get("PrivateNote") or "").startswith("Voided")))


def status_of(invoice: Mapping[str, Any], today: dt.date) -> QboStatus:
    sent = invoice.get("EmailStatus") == "EmailSent"
    if invoice.get("status") == "Deleted":
        return QboStatus("deleted", sent)
    if is_voided(invoice):
        return QboStatus("voided", sent)
    total, balance = D(invoice.get("TotalAmt")), D(invoice.get("Balance"))
    paid_link = any(t.get("TxnType") == "Payment" for t in invoice.get("LinkedTxn") or [])
    if balance == 0 and (total > 0 or paid_link):
        return QboStatus("paid", sent)
    if 0 < balance < total:
        return QboStatus("partly_paid", sent)
    due = invoice.get("DueDate")
    if balance > 0 and due and dt.date.fromisoformat(due) < today:
        return QboStatus("overdue", sent)
    return QboStatus("open", sent)


NEUTRAL = {"open": InvoiceStatus.AWAITING_PAYMENT, "overdue": InvoiceStatus.AWAITING_PAYMENT,
           "partly_paid": InvoiceStatus.AWAITING_PAYMENT, "paid": InvoiceStatus.PAID, "voided": InvoiceStatus.VOIDED,
           "deleted": InvoiceStatus.DELETED}


REMOTE = {InvoiceStatus.AWAITING_PAYMENT: "open", InvoiceStatus.PAID: "paid", InvoiceStatus.VOIDED: "voided",
          InvoiceStatus.DELETED: "deleted"}  # no drafts, no approval step in QBO


def to_invoice(invoice: Mapping[str, Any], *, today: dt.date, backend: str = "quickbooks") -> Invoice:
    view = status_of(invoice, today)
    total = D(invoice.get("TotalAmt"))
    tax = D((invoice.get("TxnTaxDetail") or {}).get("TotalTax"))
    balance = D(invoice.get("Balance"))
    updated = (invoice.get("MetaData") or {}).get("LastUpdatedTime")
    _, url = deal_of(invoice)
    dead = view.state in ("voided", "deleted")
    return Invoice(
        remote_id=str(invoice["Id"]), number=str(invoice.get("DocNumber") or ""), status=NEUTRAL[view.state],
        currency=(invoice.get("CurrencyRef") or {}).get("value") or "USD",
        subtotal=total - tax, tax=tax, total=total,
        amount_paid=Decimal(0) if dead else total - balance, amount_due=Decimal(0) if dead else balance,
        date=invoice.get("TxnDate"), due_date=invoice.get("DueDate"),
        reference=(invoice.get("CustomerMemo") or {}).get("value", ""),
        contact_name=(invoice.get("CustomerRef") or {}).get("name", ""),
        updated_at=parse_timestamp(updated) if updated else None, url=url, backend=backend, sent=view.sent)
