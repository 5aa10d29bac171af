"""Real PDF bytes for a sandbox invoice (fpdf2, core fonts: text reduced to Latin-1)."""

from __future__ import annotations

from typing import Any

from fpdf import FPDF

from .sandbox_state import QboState


def _t(text: object) -> str:
    return str(text).encode("latin-1", "replace").decode("latin-1")


def invoice_pdf(state: QboState, invoice: dict[str, Any], customer: dict[str, Any]) -> bytes:
    pdf = FPDF()
    pdf.set_title(_t(f"Invoice {invoice.get('DocNumber', invoice['Id'])}"))
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 18)
    pdf.cell(0, 10, "INVOICE", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)
    for line in (state.company.get("CompanyName", ""), f"Invoice no.: {invoice.get('DocNumber', '')}",
                 f"Date: {invoice.get('TxnDate', '')}", f"Due: {invoice.get('DueDate', '')}",
                 f"Bill to: {customer.get('DisplayName', '')}", ""):
        pdf.cell(0, 6, _t(line), new_x="LMARGIN", new_y="NEXT")
    currency = invoice.get("CurrencyRef", {}).get("value", "")
    for line in invoice.get("Line", []):
        if line.get("DetailType") in ("SalesItemLineDetail", "DiscountLineDetail"):
            sign = "-" if line["DetailType"] == "DiscountLineDetail" else ""
            pdf.cell(140, 7, _t(str(line.get("Description", ""))[:70]), border=1)
            pdf.cell(40, 7, _t(f"{sign}{line.get('Amount', 0):.2f}"), border=1, align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    for label, value in (("Tax", invoice.get("TxnTaxDetail", {}).get("TotalTax", 0)),
                         (f"Total {currency}", invoice.get("TotalAmt", 0)), ("Balance due", invoice.get("Balance", 0))):
        pdf.cell(140, 6, _t(label), align="R")
        pdf.cell(40, 6, _t(f"{value:.2f}"), align="R", new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
