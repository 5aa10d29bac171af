"""An invoice's actions from the deal page: commands, the email question, PDF, share link and the deep link."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from invoicebridge.core.errors import InvoiceBridgeError, NotFound
from invoicebridge.core.i18n import _
from invoicebridge.core.status import Command

from ..downloads import content_disposition
from ..security import crm_scope, form_post, login_required
from .common import flash, render, state


@login_required
@crm_scope("invoice")
async def invoice_page(request: Request) -> Response:
    record = state(request).runtime.store.get_invoice(_int(request.path_params["invoice_id"]))
    return RedirectResponse(f"/deals/{record.deal_id}#invoice-{record.id}", status_code=303)


def _int(raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise NotFound(_("There is no invoice '%(invoice)s'") % {"invoice": raw[:32]}) from None


@form_post
@crm_scope("invoice")
async def invoice_command(request: Request) -> Response:
    invoice_id = _int(request.path_params["invoice_id"])
    pipeline = state(request).pipeline
    record = pipeline.store.get_invoice(invoice_id)
    try:
        command = Command.parse(request.path_params["command"])
        asked_on = request.state.form.get("asked_on")
        if asked_on and asked_on != record.status.value:
            # the button was shown for another status: a double click's second half landing on the next page's
            # button, or a stale page. Nothing is sent; the page now shown offers what is possible.
            flash(request, _("Invoice %(number)s has changed since the page was shown (it is now %(status)s); "
                             "nothing was done. Check it and try again.")
                  % {"number": record.number or record.id, "status": record.status_label}, "error")
            return RedirectResponse(f"/deals/{record.deal_id}#invoice-{record.id}", status_code=303)
        if command is Command.EMAIL and request.state.form.get("confirm") != "yes":
            # Emailing reaches the customer: it is sent only from the question that names the recipient
            return RedirectResponse(f"/invoices/{record.id}/email", status_code=303)
        updated = await pipeline.command(invoice_id, command)
    except (InvoiceBridgeError, ValueError) as exc:
        flash(request, str(getattr(exc, "message", exc)), "error")
    else:
        number = updated.number or updated.id
        flash(request, _("Invoice %(number)s is emailed to the customer.") % {"number": number} if command is Command.EMAIL else
              _("Invoice %(number)s is now %(status)s.") % {"number": number, "status": updated.status_label})
    return RedirectResponse(f"/deals/{record.deal_id}#invoice-{record.id}", status_code=303)


@login_required
@crm_scope("invoice")
async def invoice_email_confirm(request: Request) -> Response:
    """Ask before emailing an invoice, naming the address it goes to (works without JavaScript)."""
    record, address = await state(request).pipeline.email_recipient(_int(request.path_params["invoice_id"]))
    return render(request, "email_confirm.html", {"record": record, "address": address})


@login_required
@crm_scope("invoice")
async def invoice_pdf(request: Request) -> Response:
    record, pdf = await state(request).pipeline.pdf(_int(request.path_params["invoice_id"]))
    name = record.number or f"invoice-{record.id}"
    return Response(pdf, media_type="application/pdf", headers={"Content-Disposition": content_disposition(f"{name}.pdf")})


@login_required
@crm_scope("invoice")
async def invoice_share(request: Request) -> Response:
    invoice_id = _int(request.path_params["invoice_id"])
    record = state(request).runtime.store.get_invoice(invoice_id)
    try:
        link = await state(request).pipeline.share_link(invoice_id)
    except InvoiceBridgeError as exc:
        flash(request, exc.message, "error")
        return RedirectResponse(f"/deals/{record.deal_id}#invoice-{record.id}", status_code=303)
    return render(request, "share.html", {"record": record, "link": link})


@login_required
@crm_scope("invoice")
async def invoice_open(request: Request) -> Response:
    link = await state(request).pipeline.deep_link(_int(request.path_params["invoice_id"]))
    return RedirectResponse(link, status_code=303)


routes = [
    Route("/invoices/{invoice_id}", invoice_page),
    Route("/invoices/{invoice_id}/pdf", invoice_pdf),
    Route("/invoices/{invoice_id}/share", invoice_share),
    Route("/invoices/{invoice_id}/open", invoice_open),
    Route("/invoices/{invoice_id}/email", invoice_email_confirm),
    Route("/invoices/{invoice_id}/{command}", invoice_command, methods=["POST"]),
]
