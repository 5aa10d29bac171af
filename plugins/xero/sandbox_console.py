"""The sandbox's console: a small server-rendered page where a person acts as the Xero user.

Every action goes through the same rules as the API and then delivers the queued signed webhooks
(when a webhook URL is set), as Xero would.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from invoicebridge.core.i18n import UnreadableNumber, parse_decimal
from invoicebridge.sandbox_kit.console import console_environment
from invoicebridge.sandbox_kit.console_deliveries import DeliveryRow

from .i18n import TEXTS, _, ngettext

from .sandbox_state import InvoiceProblem

if TYPE_CHECKING:
    from .sandbox import XeroSandbox

_env = console_environment("invoicebridge.plugins.xero", texts=TEXTS)
ACTIONS = ("approve", "pay", "remove-payment", "void", "delete")


def _delivery_rows(sandbox: "XeroSandbox") -> list[DeliveryRow]:
    """Each POST of queued events is one delivery; events not acknowledged go again in the next."""
    rows = []
    for sent in sandbox.deliveries[-5:]:
        events = len(json.loads(sent["body"]).get("events", []))
        rows.append(DeliveryRow([(1, sent["status"] or _("no answer"))], done=sent["status"] == 200,
                                about=ngettext("%(num)s event:", "%(num)s events:", events) % {"num": events}))
    return rows


def console_routes(sandbox: "XeroSandbox") -> list[Route]:
    state = sandbox.state

    def page(request: Request, message: str = "", status: int = 200) -> Response:
        invoices = sorted(state.invoices.values(), key=lambda i: i.updated or state.clock(), reverse=True)
        html = _env.get_template("xero_console.html").render(
            organisation=state.organisation, invoices=invoices, contacts=state.contacts, message=message,
            pending=len(state.events), webhook_url=sandbox.webhook_url, deliveries=_delivery_rows(sandbox),
            live_payments=state.live_payments, requests=sandbox.log.last(10))
        return HTMLResponse(html, status_code=status)

    async def index(request: Request) -> Response:
        return page(request, request.query_params.get("message", ""))

    async def act(request: Request) -> Response:
        invoice_id, action = request.path_params["invoice_id"], request.path_params["action"]
        if invoice_id not in state.invoices or action not in ACTIONS:
            return page(request, _("Unknown invoice or action"), status=404)
        form: Any = await request.form()
        try:
            if action == "approve":
                state.set_status(invoice_id, "AUTHORISED")
            elif action == "void":
                state.set_status(invoice_id, "VOIDED")
            elif action == "delete":
                state.set_status(invoice_id, "DELETED")
            elif action == "pay":
                amount = parse_decimal(str(form.get("amount") or ""), field=_("Amount to pay"))  # typed in the page's language
                state.add_payment(invoice_id, str(amount) if amount is not None else None)
            elif action == "remove-payment":
                payments = state.live_payments(invoice_id)
                if not payments:
                    raise InvoiceProblem(_("This invoice has no payment to remove"))
                state.remove_payment(payments[-1].payment_id)
        except (InvoiceProblem, UnreadableNumber, ArithmeticError, ValueError) as exc:
            return page(request, _("Refused: %(reason)s") % {"reason": exc}, status=400)
        if sandbox.auto_deliver:
            await sandbox.deliver_webhooks()
        console = str(request.url).split("/console/invoices/", 1)[0] + "/"  # wherever the sandbox is mounted
        return RedirectResponse(console, status_code=303)

    async def deliver(request: Request) -> Response:
        """Deliver the queued events now (changes made through the API wait in the queue until a delivery)."""
        await sandbox.deliver_webhooks()
        console = str(request.url).split("/console/deliver", 1)[0] + "/"
        return RedirectResponse(console, status_code=303)

    async def online(request: Request) -> Response:
        invoice = next((i for i in state.invoices.values() if i.online_token == request.path_params["token"]), None)
        if invoice is None:
            return HTMLResponse(_("Not found"), status_code=404)
        html = _env.get_template("xero_online_invoice.html").render(
            organisation=state.organisation, invoice=invoice, contact=state.contacts[invoice.contact_id])
        return HTMLResponse(html)

    async def deep_link(request: Request) -> Response:
        """What Xero's ShortCode deep link opens: here, the console row of that invoice."""
        target = request.query_params.get("redirecturl", "")
        invoice_id = target.split("InvoiceID=", 1)[1] if "InvoiceID=" in target else ""
        if invoice_id not in state.invoices:
            return page(request, _("That invoice is not in this organisation"), status=404)
        console = str(request.url).split("/organisationlogin/", 1)[0] + "/"
        return RedirectResponse(f"{console}#invoice-{invoice_id}", status_code=303)

    return [
        Route("/organisationlogin/default.aspx", deep_link, methods=["GET"], name="xero_deep_link"),
        Route("/", index, methods=["GET"], name="xero_console"),
        Route("/console/invoices/{invoice_id}/{action}", act, methods=["POST"], name="xero_console_action"),
        Route("/console/deliver", deliver, methods=["POST"], name="xero_console_deliver"),
        Route("/in/{token}", online, methods=["GET"], name="xero_online_invoice"),
    ]
