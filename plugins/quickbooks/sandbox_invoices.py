"""The QBO sandbox's sales rules: invoice lines, discounts, tax and totals; numbering; void and delete; email;
payments (fact sheet §3.5-§3.7, §4, §5, §10 items 8-13).

Tax (non-US companies): each sales line names a TaxCode whose rates add up to the line's percentage; tax is
rounded per line (UNCERTAIN: QBO may round per rate), discount lines (``DiscountLineDetail`` with a TaxCodeRef)
reduce the base of their tax code. ``GlobalTaxCalculation``: TaxExcluded (Amount is net, tax added),
TaxInclusive (``TaxInclusiveAmt`` is the gross line, Amount the net part; UNCERTAIN), NotApplicable (no tax).
US companies: lines say ``TAX``/``NON`` and the company's one automated rate applies (a simplification of AST).
"""

from __future__ import annotations

import copy
import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

from . import sandbox_currency as cur
from . import sandbox_faults as f
from .sandbox_state import QboState, money, writable

HUNDRED = Decimal(100)
ZERO = Decimal("0.00")


def _dec(value: Any, element: str) -> Decimal:
    try:
        if isinstance(value, bool):
            raise InvalidOperation
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise f.QboFault("2030", "Invalid or unsupported value", f"Invalid value for {element}: {value!r}",
                         element=element) from None


def _date(value: Any, element: str) -> dt.date:
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise f.QboFault("2030", "Invalid or unsupported value", f"Invalid date for {element}: {value!r}",
                         element=element) from None


def _num(value: Decimal) -> Decimal:
    """How the sandbox writes an amount: the decimal itself, normalised so 3.00 stays 3.00 (two places)."""
    return money(value)


class Sales:
    """Invoice and payment rules over one :class:`QboState`."""

    def __init__(self, state: QboState) -> None:
        self.s = state

    # ---- tax --------------------------------------------------------------------------------------------

    def tax_percent(self, code_ref: Any, element: str) -> tuple[Decimal, dict[str, Any] | None]:
        if self.s.is_us():
            value = str((code_ref or {}).get("value", "NON"))
            if value not in ("TAX", "NON"):
                raise f.invalid_reference(element)
            return (self.s.ast_rate if value == "TAX" else Decimal(0)), None
        code = self.s.reference("TaxCode", code_ref, element)
        total = Decimal(0)
        for detail in (code.get("SalesTaxRateList") or {}).get("TaxRateDetail", []):
            rate = self.s.get("TaxRate", str(detail.get("TaxRateRef", {}).get("value")))
            total += Decimal(str(rate.get("RateValue", 0))) if rate else Decimal(0)
        return total, code

    @staticmethod
    def line_tax(amount: Decimal, rate: Decimal, mode: str) -> Decimal:
        if mode == "NotApplicable" or not rate:
            return ZERO
        if mode == "TaxInclusive":
            return money(amount - amount * HUNDRED / (HUNDRED + rate))
        return money(amount * rate / HUNDRED)

    # ---- lines and totals ----------------------------------------------------------------------------------

    def compute(self, invoice: dict[str, Any]) -> dict[str, Any]:
        """Lines numbered and completed, the subtotal line added, tax detail, TotalAmt; returns the invoice."""
        mode = invoice.get("GlobalTaxCalculation") or ("TaxExcluded" if not self.s.is_us() else "TaxExcluded")
        lines = [ln for ln in invoice.get("Line") or [] if ln.get("DetailType") != "SubTotalLineDetail"]
        if not any(ln.get("DetailType") == "SalesItemLineDetail" for ln in lines):
            raise f.required("Line")
        out: list[dict[str, Any]] = []
        by_rate: dict[str, dict[str, Any]] = {}
        net_sum = gross_sum = tax_sum = discount_sum = Decimal(0)
        for n, line in enumerate(lines, start=1):
            line = copy.deepcopy(line)
            kind = line.get("DetailType")
            where = f"Line.{kind}" if kind else "Line.DetailType"
            detail = line.get(kind) if kind else None
            if kind not in ("SalesItemLineDetail", "DiscountLineDetail", "DescriptionOnly"):
                raise f.required("Line.DetailType")
            if kind == "DescriptionOnly":
                line.pop("Amount", None)
                out.append({"Id": str(n), "LineNum": n, **line})
                continue
            if not isinstance(detail, dict):
                raise f.required(where)
            if kind == "SalesItemLineDetail":
                gross, net, tax, rate, code = self._sales_line(line, detail, mode, where)
                net_sum += net
                gross_sum += gross
            else:
                amount, tax, rate, code = self._discount_line(line, detail, mode, net_sum, gross_sum, where)
                discount_sum += amount
                net = -(amount - tax if mode == "TaxInclusive" else amount)
                tax = -tax
            tax_sum += tax
            if code is not None and rate:
                bucket = by_rate.setdefault(code["Id"], {"code": code, "rate": rate, "net": Decimal(0), "tax": Decimal(0)})
                bucket["tax"] += tax
                bucket["net"] += net
            out.append({"Id": str(n), "LineNum": n, **line})
        subtotal = gross_sum if mode == "TaxInclusive" else net_sum
        out.append({"Amount": _num(subtotal), "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {}})
        invoice["Line"] = out
        if mode == "TaxInclusive":
            total = gross_sum - discount_sum
        else:
            total = net_sum - discount_sum + tax_sum
        if total < 0:
            raise f.business("Transaction total cannot be negative.", element="Line")
        invoice["TotalAmt"] = _num(total)
        invoice["TxnTaxDetail"] = self._tax_detail(tax_sum, by_rate, invoice.get("TxnTaxDetail") or {})
        if not self.s.is_us():
            invoice["GlobalTaxCalculation"] = mode
        return invoice

    def _sales_line(self, line, detail, mode, where):
        item = self.s.reference("Item", detail.get("ItemRef"), f"{where}.ItemRef")
        detail["ItemRef"] = {"value": item["Id"], "name": item["Name"]}
        if item.get("IncomeAccountRef"):
            detail.setdefault("ItemAccountRef", item["IncomeAccountRef"])
        qty = _dec(detail["Qty"], f"{where}.Qty") if "Qty" in detail else None
        price = _dec(detail["UnitPrice"], f"{where}.UnitPrice") if "UnitPrice" in detail else None
        expected = None
        if qty is not None and price is not None:
            gross = qty * price  # rounded once, after the discount (UNCERTAIN: QBO's order of rounding)
            if detail.get("DiscountRate") is not None:
                expected = money(gross * (HUNDRED - _dec(detail["DiscountRate"], f"{where}.DiscountRate")) / HUNDRED)
            elif detail.get("DiscountAmt") is not None:
                expected = money(gross - _dec(detail["DiscountAmt"], f"{where}.DiscountAmt"))
            else:
                expected = money(gross)
        code_ref = detail.get("TaxCodeRef") or item.get("SalesTaxCodeRef")
        if mode != "NotApplicable" and not code_ref and not self.s.is_us():
            raise f.business("Make sure all your transactions have a VAT rate before you save.",
                             element=f"{where}.TaxCodeRef")
        rate, code = self.tax_percent(code_ref, f"{where}.TaxCodeRef") if code_ref and mode != "NotApplicable" \
            else (Decimal(0), None)
        if code_ref:
            detail["TaxCodeRef"] = {"value": str(code_ref["value"])}
        if mode == "TaxInclusive":
            gross = _dec(detail.get("TaxInclusiveAmt", line.get("Amount", expected)), f"{where}.TaxInclusiveAmt")
            self._check_amount(gross, expected, where)
            tax = self.line_tax(gross, rate, mode)
            net = money(gross - tax)
            detail["TaxInclusiveAmt"] = _num(gross)
            line["Amount"] = _num(net)
            return gross, net, tax, rate, code
        if "Amount" not in line:
            if expected is None:
                raise f.required("Line.Amount")
            line["Amount"] = expected
        amount = money(_dec(line["Amount"], "Line.Amount"))
        self._check_amount(amount, expected, where)
        line["Amount"] = _num(amount)
        return amount, amount, self.line_tax(amount, rate, mode), rate, code

    def _check_amount(self, amount: Decimal, expected: Decimal | None, where: str) -> None:
        if self.s.enforce_line_amounts and expected is not None and amount != expected:
            # code and text: second-party (UNCERTAIN); the sandbox enforces it unless enforce_line_amounts is off
            raise f.QboFault("6070", "Amount calculation incorrect",
                             f"Amount is not equal to UnitPrice * Qty. Supplied value:{amount}", element=where)

    def _discount_line(self, line, detail, mode, net_sum, gross_sum, where):
        base = gross_sum if mode == "TaxInclusive" else net_sum
        if detail.get("PercentBased") in (True, "true"):
            pct = _dec(detail.get("DiscountPercent", 0), f"{where}.DiscountPercent")
            amount = money(base * pct / HUNDRED)
        else:
            amount = money(_dec(line.get("Amount", 0), "Line.Amount"))
        if amount < 0:
            raise f.business("A discount cannot be negative.", element="Line.Amount")
        code_ref = detail.get("TaxCodeRef")
        rate, code = self.tax_percent(code_ref, f"{where}.TaxCodeRef") if code_ref and mode != "NotApplicable" \
            else (Decimal(0), None)
        line["Amount"] = _num(amount)
        return amount, self.line_tax(amount, rate, mode), rate, code

    def _tax_detail(self, total: Decimal, by_rate: dict[str, dict[str, Any]], given: dict[str, Any]) -> dict[str, Any]:
        detail: dict[str, Any] = {"TotalTax": _num(total)}
        if self.s.is_us() and given.get("TxnTaxCodeRef"):
            detail["TxnTaxCodeRef"] = given["TxnTaxCodeRef"]
        lines = []
        for bucket in by_rate.values():
            for rd in (bucket["code"].get("SalesTaxRateList") or {}).get("TaxRateDetail", []):
                lines.append({"Amount": _num(bucket["tax"]), "DetailType": "TaxLineDetail", "TaxLineDetail": {
                    "TaxRateRef": {"value": str(rd["TaxRateRef"]["value"])}, "PercentBased": True,
                    "TaxPercent": bucket["rate"], "NetAmountTaxable": _num(bucket["net"])}})
                break  # one rate per code in the sandbox's seed
        if lines:
            detail["TaxLine"] = lines
        return detail

    # ---- invoices -------------------------------------------------------------------------------------------

    def _next_doc_number(self) -> str:
        taken = {row.get("DocNumber") for row in self.s.table("Invoice").values()}
        while True:
            self.s.doc_counter += 1
            if str(self.s.doc_counter) not in taken:
                return str(self.s.doc_counter)

    def _prepare(self, body: dict[str, Any], *, allow_duplicate: bool, current_id: str = "") -> dict[str, Any]:
        inv = writable(body)
        customer = self.s.reference("Customer", inv.get("CustomerRef"), "CustomerRef")
        inv["CustomerRef"] = {"value": customer["Id"], "name": customer["DisplayName"]}
        cur.invoice_currency(self.s, inv, customer)
        number = str(inv.get("DocNumber") or "")
        custom = self.s.preferences.get("SalesFormsPrefs", {}).get("CustomTxnNumbers", False)
        if number == "AUTO_GENERATE" or inv.pop("AutoDocNumber", False) or (not number and not custom):
            number = self._next_doc_number()
        if len(number) > 21:
            raise f.business("DocNumber is longer than 21 characters.", element="DocNumber")
        if number and not allow_duplicate and any(
                row.get("DocNumber") == number and row["Id"] != current_id for row in self.s.table("Invoice").values()):
            raise f.QboFault("6140", "Duplicate Document Number Error",
                             "Duplicate Document Number Error : You must specify a different number. "
                             "This number has already been used.", element="DocNumber")
        if number:
            inv["DocNumber"] = number
        txn_date = _date(inv.get("TxnDate") or self.s.today().isoformat(), "TxnDate")
        inv["TxnDate"] = txn_date.isoformat()
        term_ref = inv.get("SalesTermRef") or customer.get("SalesTermRef") or \
            self.s.preferences.get("SalesFormsPrefs", {}).get("DefaultTerms")
        if inv.get("DueDate"):
            due = _date(inv["DueDate"], "DueDate")
        else:
            term = self.s.reference("Term", term_ref, "SalesTermRef") if term_ref else None
            due = txn_date + dt.timedelta(days=int((term or {}).get("DueDays", 0)))
        if due < txn_date:
            raise f.business("The due date cannot be before the transaction date.", element="DueDate")
        inv["DueDate"] = due.isoformat()
        if term_ref and inv.get("SalesTermRef"):
            self.s.reference("Term", term_ref, "SalesTermRef")
        for key, limit in (("PrivateNote", 4000), ("PONumber", 15)):
            if len(str(inv.get(key) or "")) > limit:
                raise f.business(f"{key} is longer than {limit} characters.", element=key)
        if len(str((inv.get("CustomerMemo") or {}).get("value", ""))) > 1000:
            raise f.business("CustomerMemo is longer than 1000 characters.", element="CustomerMemo")
        inv.setdefault("EmailStatus", "NotSet")
        inv.setdefault("PrintStatus", "NotSet")
        inv = self.compute(inv)
        cur.home_total(inv)
        return inv

    def create_invoice(self, body: dict[str, Any], *, allow_duplicate: bool = False) -> dict[str, Any]:
        if not body.get("CustomerRef"):
            raise f.required("CustomerRef")
        if not body.get("Line"):
            raise f.required("Line")
        inv = self._prepare(body, allow_duplicate=allow_duplicate)
        inv["Balance"] = inv["TotalAmt"]
        cur.home_balance(inv)
        inv["LinkedTxn"] = []
        return self.s.insert("Invoice", inv)

    def update_invoice(self, body: dict[str, Any], *, allow_duplicate: bool = False) -> dict[str, Any]:
        merged = self.s.merge("Invoice", body)
        current = self.s.require("Invoice", body["Id"])
        paid = money(current["TotalAmt"]) - money(current["Balance"])
        inv = self._prepare(merged, allow_duplicate=allow_duplicate, current_id=current["Id"])
        for key in ("Id", "SyncToken", "MetaData", "domain", "sparse", "LinkedTxn", "DeliveryInfo"):
            if key in current:
                inv[key] = current[key]
        if money(inv["TotalAmt"]) < paid:
            raise f.business("The invoice total cannot be less than the payments applied to it.", element="Line")
        inv["Balance"] = _num(money(inv["TotalAmt"]) - paid)
        cur.home_balance(inv)
        return self.s.replace("Invoice", inv)

    def void_invoice(self, body: dict[str, Any]) -> dict[str, Any]:
        inv = copy.deepcopy(self.s.check_token("Invoice", body))
        if any(t.get("TxnType") == "Payment" for t in inv.get("LinkedTxn", [])):
            # QBO refuses (fact sheet §4.2); its code and text are UNCERTAIN
            raise f.business("This transaction has payments applied to it. Remove the payments before voiding it.")
        for line in inv["Line"]:
            if "Amount" in line:
                line["Amount"] = ZERO
            detail = line.get("SalesItemLineDetail")
            if detail:
                detail["Qty"] = 0
                detail.pop("TaxInclusiveAmt", None)
        inv["TotalAmt"] = ZERO
        inv["Balance"] = ZERO
        cur.home_total(inv)
        cur.home_balance(inv)
        inv["TxnTaxDetail"] = {"TotalTax": ZERO}
        note = inv.get("PrivateNote", "")
        inv["PrivateNote"] = f"Voided - {note}" if note else "Voided"
        return self.s.replace("Invoice", inv, operation="Void")

    def delete_invoice(self, body: dict[str, Any]) -> dict[str, Any]:
        inv = self.s.check_token("Invoice", body)
        if inv.get("LinkedTxn"):
            raise f.business("You must unlink any linked transactions associated with the invoice object "
                             "before deleting it.")  # second-party text; code UNCERTAIN
        return self.s.remove("Invoice", inv["Id"])

    def send_invoice(self, invoice_id: str, send_to: str = "") -> dict[str, Any]:
        inv = copy.deepcopy(self.s.require("Invoice", invoice_id))
        address = send_to or (inv.get("BillEmail") or {}).get("Address", "")
        if not address or "@" not in address:
            raise f.business("Email address is missing or not valid.", element="BillEmail")  # text UNCERTAIN
        day = self.s.today()
        if self.s.emails_today.get(day, 0) >= self.s.email_daily_limit:
            raise f.business("You have reached the daily limit of emails for this company.")  # text UNCERTAIN
        self.s.emails_today[day] = self.s.emails_today.get(day, 0) + 1
        inv["EmailStatus"] = "EmailSent"
        inv["DeliveryInfo"] = {"DeliveryType": "Email", "DeliveryTime": self.s.stamp()}
        if send_to and self.s.send_updates_bill_email:
            inv["BillEmail"] = {"Address": send_to}
        return self.s.replace("Invoice", inv, operation="Emailed")

    # ---- payments ------------------------------------------------------------------------------------------

    def _applied(self, payment: dict[str, Any]) -> list[tuple[str, Decimal]]:
        out = []
        for line in payment.get("Line", []):
            for link in line.get("LinkedTxn", []):
                if link.get("TxnType") == "Invoice":
                    out.append((str(link.get("TxnId")), money(line.get("Amount", 0))))
        return out

    def _adjust(self, invoice_id: str, delta: Decimal, payment_id: str, link: bool) -> None:
        inv = copy.deepcopy(self.s.require("Invoice", invoice_id))
        inv["Balance"] = _num(money(inv["Balance"]) + delta)
        cur.home_balance(inv)
        others = [t for t in inv.get("LinkedTxn", []) if not (t.get("TxnType") == "Payment" and t["TxnId"] == payment_id)]
        inv["LinkedTxn"] = others + ([{"TxnId": payment_id, "TxnType": "Payment"}] if link else [])
        self.s.replace("Invoice", inv)

    def create_payment(self, body: dict[str, Any]) -> dict[str, Any]:
        pay = {**writable(body), "TotalAmt": body.get("TotalAmt")}  # a payment's total is the client's to say
        customer = self.s.reference("Customer", pay.get("CustomerRef"), "CustomerRef")
        pay["CustomerRef"] = {"value": customer["Id"], "name": customer["DisplayName"]}
        if pay.get("TotalAmt") is None:
            raise f.required("TotalAmt")
        total = money(_dec(pay["TotalAmt"], "TotalAmt"))
        applied = self._applied(pay)
        for invoice_id, amount in applied:
            inv = self.s.get("Invoice", invoice_id)
            if inv is None or inv["CustomerRef"]["value"] != customer["Id"]:
                raise f.invalid_reference("Line.LinkedTxn.TxnId")
            if amount <= 0 or (amount > money(inv["Balance"]) and not self.s.overpay_allowed):
                raise f.business("The payment amount is more than the invoice's open balance.")  # UNCERTAIN
        if sum((a for _, a in applied), ZERO) > total:
            raise f.business("The amount applied is more than the payment's total.")
        pay["TotalAmt"] = _num(total)
        pay["UnappliedAmt"] = _num(total - sum((a for _, a in applied), ZERO))
        pay.setdefault("TxnDate", self.s.today().isoformat())
        pay.setdefault("CurrencyRef", customer.get("CurrencyRef", self.s.home_currency_ref()))
        for line in pay.get("Line", []):
            line["Amount"] = _num(money(line.get("Amount", 0)))
        row = self.s.insert("Payment", pay)
        for invoice_id, amount in applied:
            self._adjust(invoice_id, -amount, row["Id"], link=True)
        return row

    def delete_payment(self, body: dict[str, Any]) -> dict[str, Any]:
        pay = self.s.check_token("Payment", body)
        for invoice_id, amount in self._applied(pay):
            if self.s.get("Invoice", invoice_id):
                self._adjust(invoice_id, amount, pay["Id"], link=False)
        return self.s.remove("Payment", pay["Id"])

    def void_payment(self, body: dict[str, Any]) -> dict[str, Any]:
        pay = copy.deepcopy(self.s.check_token("Payment", body))
        for invoice_id, amount in self._applied(pay):
            if self.s.get("Invoice", invoice_id):
                self._adjust(invoice_id, amount, pay["Id"], link=False)
        for line in pay.get("Line", []):
            line["Amount"] = ZERO
        pay["TotalAmt"] = ZERO
        pay["UnappliedAmt"] = ZERO
        note = pay.get("PrivateNote", "")
        pay["PrivateNote"] = f"Voided - {note}" if note else "Voided"
        return self.s.replace("Payment", pay, operation="Void")

    def pay_in_full(self, invoice_id: str, amount: Any = None) -> dict[str, Any]:
        """The console's "receive payment": a Payment for the balance (or ``amount``) linked to the invoice."""
        inv = self.s.require("Invoice", invoice_id)
        value = money(amount if amount is not None else inv["Balance"])
        return self.create_payment({"CustomerRef": {"value": inv["CustomerRef"]["value"]}, "TotalAmt": value,
                                    "Line": [{"Amount": value, "LinkedTxn": [{"TxnId": invoice_id, "TxnType": "Invoice"}]}]})
