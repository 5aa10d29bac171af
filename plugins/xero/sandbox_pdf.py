"""Real PDF bytes for a sandbox invoice, written with fpdf2 (core fonts: text is reduced to Latin-1)."""

from __future__ import annotations

from fpdf import FPDF

from .sandbox_state import Invoice, SandboxState


def _t(text: object) -> str:
    return str(text).encode("latin-1", "replace").decode("latin-1")


def invoice_pdf(state: SandboxState, invoice: Invoice) -> bytes:
    contact = state.contacts[invoice.contact_id]
    pdf = FPDF()
    pdf.set_title(_t(f"Invoice {invoice.number}"))
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 18)
    pdf.cell(0, 10, _t(f"{'TAX INVOICE' if invoice.status != 'DRAFT' else 'DRAFT INVOICE'}"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)
    for line in (state.organisation.get("Name", ""), f"Invoice number: {invoice.number}",
                 f"Date: {invoice.date.isoformat()}", f"Due: {invoice.due_date.isoformat() if invoice.due_date else '-'}",
                 f"Reference: {invoice.reference}", f"To: {contact.name}", ""):
        pdf.cell(0, 6, _t(line), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "B", 10)
    widths = (90, 20, 30, 40)
    for width, head in zip(widths, ("Description", "Qty", "Unit price", f"Amount {invoice.currency}"), strict=True):
        pdf.cell(width, 7, head, border=1)
    pdf.ln()
    pdf.set_font("Helvetica", "", 10)
    for item in invoice.lines:
        values = (item.description[:50], f"{item.quantity.normalize():f}", f"{item.unit_amount:.2f}", f"{item.line_amount:.2f}")
        for width, value in zip(widths, values, strict=True):
            pdf.cell(width, 7, _t(value), border=1)
        pdf.ln()
    pdf.ln(3)
    for label, amount in (("Subtotal", invoice.sub_total), ("Total tax", invoice.total_tax), ("Total", invoice.total),
                         ("Amount paid", invoice.amount_paid), ("Amount due", invoice.amount_due)):
        pdf.cell(140, 6, _t(label), align="R")
        pdf.cell(40, 6, _t(f"{amount:.2f}"), align="R", new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
