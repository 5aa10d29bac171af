"""Xero sandbox operations beyond the invoice flow, and the ones it does not emulate.

Served here (spec operation ids in brackets): single reads of the settings resources [getAccount, getBrandingTheme,
getItem, getTaxRateByTaxType, getUser], [getOrganisationActions], a single payment [createPayment = POST /Payments],
payment reads [getPayments, getPayment] and history [getPaymentHistory, createPaymentHistory], a contact's update and
history [updateContact, getContactHistory, createContactHistory], and the invoice history [getInvoiceHistory,
createInvoiceHistory] through the same history handler. The operations of the emulated resources that the
sandbox does not emulate are listed in :data:`NOT_EMULATED` with the reason; they answer 501 with Xero's problem
shape, so a client never mistakes them for a success. Paths match whatever their casing (:func:`ignore_case`).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import sandbox_render as r
from .sandbox_state import InvoiceProblem

if TYPE_CHECKING:
    from .sandbox import XeroSandbox

API = "/api.xro/2.0"
READ_SETTINGS = {"accounting.settings", "accounting.settings.read"}
READ_PAYMENTS = {"accounting.transactions", "accounting.transactions.read", "accounting.payments",
                 "accounting.payments.read"}
WRITE_PAYMENTS = {"accounting.transactions", "accounting.payments"}
READ_CONTACTS = {"accounting.contacts", "accounting.contacts.read"}
WRITE_CONTACTS = {"accounting.contacts"}

_SETTINGS = "The sandbox's organisation settings are seeded; changing them is a person's job in the organisation."
_ATTACH = "Attachments need the accounting.attachments scope, which invoicebridge neither asks for nor uses."
_CIS = "The Construction Industry Scheme applies to UK contractors; the demo organisation is not one."
NOT_EMULATED: dict[tuple[str, str], str] = {
    ("PUT", "/Accounts"): _SETTINGS,
    ("POST", "/Accounts/{AccountID}"): _SETTINGS,
    ("DELETE", "/Accounts/{AccountID}"): _SETTINGS,
    ("PUT", "/Currencies"): _SETTINGS,
    ("PUT", "/TaxRates"): _SETTINGS,
    ("POST", "/TaxRates"): _SETTINGS,
    ("GET", "/BrandingThemes/{BrandingThemeID}/PaymentServices"): "Payment services are not modelled.",
    ("POST", "/BrandingThemes/{BrandingThemeID}/PaymentServices"): "Payment services are not modelled.",
    ("PUT", "/Items"): _SETTINGS,
    ("POST", "/Items"): _SETTINGS,
    ("POST", "/Items/{ItemID}"): _SETTINGS,
    ("DELETE", "/Items/{ItemID}"): _SETTINGS,
    ("GET", "/Items/{ItemID}/History"): _SETTINGS,
    ("PUT", "/Items/{ItemID}/History"): _SETTINGS,
    ("GET", "/Contacts/{ContactID}/CISSettings"): _CIS,
    ("GET", "/Organisation/{OrganisationID}/CISSettings"): _CIS,
    **{(method, f"/{kind}/{{{kind[:-1]}ID}}/Attachments{tail}"): _ATTACH
       for kind in ("Accounts", "Contacts", "Invoices")
       for method, tail in (("GET", ""), ("GET", "/{AttachmentID}"), ("GET", "/{FileName}"),
                            ("POST", "/{FileName}"), ("PUT", "/{FileName}"))},
}


def unitdp(request: Request) -> int:
    """4 when the request opts in with ``unitdp=4``, else 2 (spec: parameters.unitdp)."""
    return 4 if request.query_params.get("unitdp", "").strip() == "4" else 2


def ignore_case(routes: list[Any]) -> None:
    """Match the Accounting API's paths in any casing, as Xero does (``/api.xro/2.0/invoices``)."""
    for route in routes:
        if isinstance(route, Route) and route.path.startswith(API):
            route.path_regex = re.compile(route.path_regex.pattern, re.IGNORECASE)


def order_rows(rows: list[dict[str, Any]], text: str | None) -> list[dict[str, Any]]:
    """``order=Name ASC|DESC`` on a top-level field (spec: parameters.order); an unknown field is ignored."""
    parts = (text or "").split()
    if not parts:
        return rows
    key = next((k for row in rows for k in row if k.lower() == parts[0].lower()), None)
    if key is None:
        return rows
    present = [row for row in rows if row.get(key) is not None]
    present.sort(key=lambda row: row[key], reverse=len(parts) > 1 and parts[1].upper() == "DESC")
    return present + [row for row in rows if row.get(key) is None]


def resource_routes(sb: "XeroSandbox") -> list[Route]:
    """The extra routes, unwrapped (the sandbox puts its API frame around each)."""
    from .sandbox import READ_INVOICES, WRITE_INVOICES, XeroError

    state = sb.state

    def one(key: str, attr: str, id_key: str, *, case: bool = False) -> Callable:
        async def handler(request: Request) -> Response:
            sb._need(request, READ_SETTINGS)
            wanted = request.path_params["id"]
            found = [row for row in getattr(state, attr)
                     if (str(row[id_key]) == wanted if case else str(row[id_key]).lower() == wanted.lower())]
            if not found:
                raise XeroError(404, None, content_type="text/html")
            if key == "Items":
                found = [item_view(row, unitdp(request)) for row in found]
            return sb._envelope(key, found)
        return handler

    async def actions(request: Request) -> Response:
        sb._need(request, READ_SETTINGS)
        names = ("UseMulticurrency", "CreateApprovedInvoice", "CreateApprovedBill", "CreateApprovedPayment",
                 "CreateApprovedPurchaseOrder", "CreateBankTransaction", "CreateContact", "AttachFileToInvoice")
        return sb._envelope("Actions", [{"Name": n, "Status": "ALLOWED"} for n in names])

    async def create_payment(request: Request) -> Response:
        sb._need(request, WRITE_PAYMENTS)
        elements = await sb._body(request, "Payments")
        if len(elements) != 1:
            raise XeroError(400, r.validation_error([], "POST /Payments creates a single payment; "
                                                        "use PUT /Payments for several."))
        try:
            payment = sb.pay(elements[0])
        except InvoiceProblem as exc:
            raise XeroError(400, r.validation_error([r.failed_element(elements[0], exc.messages, "PaymentID")])) from exc
        return sb._envelope("Payments", [r.payment(state, payment)])

    def found(table: dict[str, Any]) -> Callable[[str], Any]:
        """A lookup by id in ``table`` that answers 404 (no JSON, fact sheet §13.33) when it is unknown."""
        def find(wanted: str) -> Any:
            if wanted.lower() not in table:
                raise XeroError(404, None, content_type="text/html")
            return table[wanted.lower()]
        return find

    get_payment_or_404, contact_or_404 = found(state.payments), found(state.contacts)

    async def payments(request: Request) -> Response:
        sb._need(request, READ_PAYMENTS)
        q = request.query_params
        rows = [r.payment(state, p) for p in state.payments.values()]
        since = request.headers.get("if-modified-since")
        if since:
            moment = sb._parse_since(since)
            keep = {p.payment_id for p in state.payments.values() if p.updated and p.updated >= moment}
            rows = [row for row in rows if row["PaymentID"] in keep]
        if q.get("where"):
            match = sb._where(q["where"])
            rows = [row for row in rows if match(row)]
        rows, extra = sb._page(q, order_rows(rows, q.get("order")))
        return sb._envelope("Payments", rows, **extra)

    async def payment(request: Request) -> Response:
        sb._need(request, READ_PAYMENTS)
        return sb._envelope("Payments", [r.payment(state, get_payment_or_404(request.path_params["id"]))])

    def history(find: Callable[[str], Any], read: set[str], write: set[str]) -> Callable:
        async def handler(request: Request) -> Response:
            target = find(request.path_params["id"])
            if request.method == "PUT":
                sb._need(request, write)
                for record in await sb._body(request, "HistoryRecords"):
                    target.history.append({"Changes": "Note", "DateUTC": sb.clock(), "User": "API",
                                           "Details": str(record.get("Details") or "")})
            else:
                sb._need(request, read)
            return sb._envelope("HistoryRecords", r.history(target.history))
        return handler

    async def update_contact(request: Request) -> Response:
        sb._need(request, WRITE_CONTACTS)
        contact = contact_or_404(request.path_params["id"])
        elements = (await sb._body(request, "Contacts"))[:1]
        for element in elements:
            element["ContactID"] = contact.contact_id
        return sb.save_contacts(request, elements)

    async def not_emulated(request: Request) -> Response:
        raise XeroError(501, r.problem(501, "Not Implemented", "The invoicebridge sandbox does not emulate "
                                       f"{request.method} {request.url.path.split(API, 1)[-1]}."))

    routes = [
        Route(f"{API}/Accounts/{{id}}", one("Accounts", "accounts", "AccountID"), methods=["GET"]),
        Route(f"{API}/BrandingThemes/{{id}}", one("BrandingThemes", "themes", "BrandingThemeID"), methods=["GET"]),
        Route(f"{API}/Items/{{id}}", one("Items", "items", "ItemID"), methods=["GET"]),
        Route(f"{API}/TaxRates/{{id}}", one("TaxRates", "tax_rates", "TaxType"), methods=["GET"]),
        Route(f"{API}/Users/{{id}}", one("Users", "users", "UserID"), methods=["GET"]),
        Route(f"{API}/Organisation/Actions", actions, methods=["GET"]),
        Route(f"{API}/Payments", payments, methods=["GET"]),
        Route(f"{API}/Payments", create_payment, methods=["POST"]),
        Route(f"{API}/Payments/{{id}}", payment, methods=["GET"]),
        Route(f"{API}/Payments/{{id}}/History", history(get_payment_or_404, READ_PAYMENTS, WRITE_PAYMENTS),
              methods=["GET", "PUT"]),
        Route(f"{API}/Contacts/{{id}}", update_contact, methods=["POST"]),
        Route(f"{API}/Contacts/{{id}}/History", history(contact_or_404, READ_CONTACTS, WRITE_CONTACTS),
              methods=["GET", "PUT"]),
        Route(f"{API}/Invoices/{{id}}/History", history(sb._get_invoice, READ_INVOICES, WRITE_INVOICES),
              methods=["GET", "PUT"]),
    ]
    for method, path in NOT_EMULATED:
        routes.append(Route(API + re.sub(r"\{\w+\}", lambda m: "{" + m.group(0)[1:-1].lower() + "}", path),
                            not_emulated, methods=[method]))
    return routes


def item_view(item: dict[str, Any], dp: int) -> dict[str, Any]:
    """An item with its unit prices at ``dp`` decimals (``unitdp``)."""
    out = dict(item)
    for key in ("SalesDetails", "PurchaseDetails"):
        if isinstance(out.get(key), dict) and out[key].get("UnitPrice") is not None:
            out[key] = {**out[key], "UnitPrice": r.unit(out[key]["UnitPrice"], dp)}
    return out
