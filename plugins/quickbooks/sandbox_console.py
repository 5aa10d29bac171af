"""The QBO sandbox's console: a server-rendered page where a person acts as the QuickBooks user (receive a payment,
delete it, void, delete, email). Every action goes through the same rules as the API, then delivers the queued
signed webhooks (when a webhook URL is set), as QBO would. Also the payment-link page and the app deep link."""

from __future__ import annotations

import html
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from invoicebridge.core.i18n import UnreadableNumber, parse_decimal
from invoicebridge.sandbox_kit.console import console_environment
from invoicebridge.sandbox_kit.console_deliveries import delivery_rows

from .i18n import TEXTS, _, ngettext
from .sandbox_faults import QboFault

if TYPE_CHECKING:
    from .sandbox import QboSandbox

_env = console_environment("invoicebridge.plugins.quickbooks", texts=TEXTS)
ACTIONS = ("pay", "unpay", "void", "delete", "send")


def status_words(inv: dict[str, Any]) -> str:
    """What a QBO user sees (fact sheet §4.3)."""
    total, balance = Decimal(str(inv["TotalAmt"])), Decimal(str(inv["Balance"]))
    if str(inv.get("PrivateNote", "")).startswith("Voided") and total == 0:
        return _("Voided")
    if balance == 0 and total > 0:
        return _("Paid")
    if 0 < balance < total:
        return _("Partially paid")
    sent = _("sent") if inv.get("EmailStatus") == "EmailSent" else _("not sent")
    return _("Open (%(sent)s)") % {"sent": sent}


def console_routes(sandbox: "QboSandbox") -> list[Route]:
    state, api = sandbox.state, sandbox.api

    def page(message: str = "", status: int = 200) -> Response:
        invoices = sorted(state.table("Invoice").values(), key=lambda i: i["MetaData"]["LastUpdatedTime"], reverse=True)
        html = _env.get_template("qbo_console.html").render(
            company=state.company, currency=state.home_currency(), invoices=invoices, message=message,
            webhook_url=sandbox.outbox.url, deliveries=delivery_rows(sandbox.outbox.kit.items, lambda item: ngettext(
                "%(num)s event:", "%(num)s events:", len(item.payload)) % {"num": len(item.payload)}), status=status_words,
            requests=sandbox.log.last(10))
        return HTMLResponse(html, status_code=status)

    async def index(request: Request) -> Response:
        return page(request.query_params.get("message", ""))

    async def act(request: Request) -> Response:
        invoice_id, action = request.path_params["invoice_id"], request.path_params["action"]
        inv = state.get("Invoice", invoice_id)
        if inv is None or action not in ACTIONS:
            return page(_("Unknown invoice or action"), status=404)
        form: Any = await request.form()
        try:
            token = {"Id": invoice_id, "SyncToken": inv["SyncToken"]}
            if action == "pay":
                amount = parse_decimal(str(form.get("amount") or ""), field=_("Amount received"))
                api.sales.pay_in_full(invoice_id, amount)
            elif action == "unpay":
                payments = [t["TxnId"] for t in inv.get("LinkedTxn", []) if t.get("TxnType") == "Payment"]
                if not payments:
                    raise QboFault("6000", _("This invoice has no payment to delete"))
                pay = state.require("Payment", payments[-1])
                api.sales.delete_payment({"Id": pay["Id"], "SyncToken": pay["SyncToken"]})
            elif action == "void":
                api.sales.void_invoice(token)
            elif action == "delete":
                api.sales.delete_invoice(token)
            elif action == "send":
                api.send(invoice_id)
        except (QboFault, UnreadableNumber, ArithmeticError, ValueError) as exc:
            reason = exc.detail if isinstance(exc, QboFault) else str(exc)
            return page(_("Refused: %(reason)s") % {"reason": reason}, status=400)
        if sandbox.auto_deliver:
            await sandbox.deliver_webhooks()
        console = str(request.url).split("/console/invoices/", 1)[0] + "/"
        return RedirectResponse(console, status_code=303)

    async def pay_link(request: Request) -> Response:
        invoice_id = next((i for i, t in api.links.items() if t == request.path_params["token"]), None)
        inv = state.get("Invoice", invoice_id or "")
        if inv is None:
            return HTMLResponse(_("Not found"), status_code=404)
        e = html.escape
        return HTMLResponse(f"<h1>{e(state.company.get('CompanyName', ''))}</h1><p>{e(inv.get('DocNumber', ''))}: "
                            f"{e(str(inv['Balance']))} {e(inv['CurrencyRef']['value'])}</p>")

    async def deep_link(request: Request) -> Response:
        invoice_id = request.query_params.get("txnId", "")
        if state.get("Invoice", invoice_id) is None:
            return page(_("That invoice is not in this company"), status=404)
        console = str(request.url).split("/app/invoice", 1)[0] + "/"
        return RedirectResponse(f"{console}#invoice-{invoice_id}", status_code=303)

    return [
        Route("/", index, methods=["GET"], name="qbo_console"),
        Route("/console/invoices/{invoice_id}/{action}", act, methods=["POST"], name="qbo_console_action"),
        Route("/pay/{token}", pay_link, methods=["GET"], name="qbo_pay_link"),
        Route("/app/invoice", deep_link, methods=["GET"], name="qbo_deep_link"),
    ]
