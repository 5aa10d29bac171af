"""A Xero emulator for tests and the demo: ``create_sandbox(...)`` returns an ASGI app you can mount.

Mounted at ``/sandbox/xero`` it answers the Accounting API at ``/sandbox/xero/api.xro/2.0/``, connections at
``/sandbox/xero/connections``, the token, authorize (auto-approves) and revocation endpoints under
``/sandbox/xero/identity/connect/``, and a console at ``/sandbox/xero/`` where a person acts as the Xero user
(approve, pay, remove a payment, void, delete), each change firing a signed webhook.

Behaviour follows the fact sheet §13: envelope and MS dates, totals from the sandbox's tax rates, validation
messages, batches with and without ``summarizeErrors``, idempotency replay (6 minutes), status rules,
payments, ``If-Modified-Since``, paging, PDFs (fpdf2), online invoices, email, history, rate-limit headers and
switchable 429s, signed webhooks and intent-to-receive. State lives in :attr:`XeroSandbox.state`; time comes
from the injectable ``clock``.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import secrets
from typing import Any, Callable

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from invoicebridge.sandbox_kit import utcnow

from . import sandbox_render as r
from .msdate import parse_date
from .sandbox_frame import XeroError, XeroFrame
from .sandbox_frame import json_response as _json
from .sandbox_identity import Identity
from .sandbox_resources import ignore_case, item_view, order_rows, resource_routes, unitdp
from .sandbox_state import InvoiceProblem, SandboxState, UnknownContact, new_id
from .sandbox_where import WhereError, compile_where

READ_INVOICES = {"accounting.transactions", "accounting.transactions.read", "accounting.invoices", "accounting.invoices.read"}
WRITE_INVOICES = {"accounting.transactions", "accounting.invoices"}
READ_CONTACTS = {"accounting.contacts", "accounting.contacts.read"}
WRITE_CONTACTS = {"accounting.contacts"}
READ_SETTINGS = {"accounting.settings", "accounting.settings.read"}
WRITE_PAYMENTS = {"accounting.transactions", "accounting.payments"}


class XeroSandbox(XeroFrame):
    """The emulator: an ASGI app plus the state and knobs tests use."""

    def __init__(
        self,
        *,
        clock: Callable[[], dt.datetime] = utcnow,
        client_id: str = "sandbox-client",
        client_secret: str = "sandbox-secret",
        webhook_key: str = "",  # the key webhooks are signed with: random unless a test fixes it
        webhook_url: str = "",
        webhook_transport: httpx.AsyncBaseTransport | None = None,
        seed: str | None = "demo",
    ) -> None:
        self.clock = clock
        self.state = SandboxState(clock=clock)
        if seed == "demo":
            self.state.seed_demo()
        self.identity = Identity(clock=clock, client_id=client_id, client_secret=client_secret,
                                 tenant_id=self.state.tenant_id,
                                 tenant_name=self.state.organisation.get("Name", "Sandbox organisation"))
        self._init_frame(webhook_key or secrets.token_urlsafe(32), webhook_url, webhook_transport)
        # An unknown ContactID fails the whole request with 404 (fact sheet §13.10). Whether the elements
        # before it were already saved is not known [?]: by default nothing is saved; True saves them.
        self.persist_before_404 = False
        # The largest page served, whatever pageSize asks for: 1,000 is second-hand (fact sheet §5.1, §14.5 [?]).
        self.max_page_size = 1000
        # Which invoices POST …/Email sends: "Type ACCREC and a valid Status for sending (SUBMITTED, AUTHORISED
        # or PAID)" (Xero's emailInvoice documentation as quoted by integrators; not in the spec [?]).
        self.email_statuses = {"SUBMITTED", "AUTHORISED", "PAID"}
        from .sandbox_console import console_routes

        api = [
            Route("/api.xro/2.0/Organisation", self._organisation, methods=["GET"]),
            Route("/api.xro/2.0/Users", self._list("Users", "users", READ_SETTINGS), methods=["GET"]),
            Route("/api.xro/2.0/Items", self._list("Items", "items", READ_SETTINGS | READ_INVOICES), methods=["GET"]),
            Route("/api.xro/2.0/TaxRates", self._list("TaxRates", "tax_rates", READ_SETTINGS), methods=["GET"]),
            Route("/api.xro/2.0/Accounts", self._list("Accounts", "accounts", READ_SETTINGS), methods=["GET"]),
            Route("/api.xro/2.0/Currencies", self._list("Currencies", "currencies", READ_SETTINGS), methods=["GET"]),
            Route("/api.xro/2.0/BrandingThemes", self._list("BrandingThemes", "themes", READ_SETTINGS), methods=["GET"]),
            Route("/api.xro/2.0/Contacts", self._contacts, methods=["GET", "PUT", "POST"]),
            Route("/api.xro/2.0/Contacts/{contact_id}", self._contact, methods=["GET"]),
            Route("/api.xro/2.0/Invoices", self._invoices, methods=["GET", "PUT", "POST"]),
            Route("/api.xro/2.0/Invoices/{invoice_id}", self._invoice, methods=["GET", "POST"]),
            Route("/api.xro/2.0/Invoices/{invoice_id}/OnlineInvoice", self._online, methods=["GET"]),
            Route("/api.xro/2.0/Invoices/{invoice_id}/Email", self._email, methods=["POST"]),
            Route("/api.xro/2.0/Payments", self._payments, methods=["PUT"]),
            Route("/api.xro/2.0/Payments/{payment_id}", self._payment, methods=["POST"]),
            *resource_routes(self),
        ]
        routes = [
            *self.frame_routes(),
            *[Route(rt.path, self.api(rt.endpoint), methods=list(rt.methods or [])) for rt in api],
            *console_routes(self),
        ]
        ignore_case(routes)  # Xero's resource paths take any casing (/api.xro/2.0/invoices)
        self.app = Starlette(routes=routes)

    async def __call__(self, scope, receive, send) -> None:
        await self.app(scope, receive, send)

    # ---- test helpers -----------------------------------------------------------------------------------

    @property
    def tenant_id(self) -> str:
        return self.state.tenant_id

    @staticmethod
    def _need(request: Request, scopes: set[str]) -> None:
        if not request.state.scopes & scopes:
            raise XeroError(401, r.problem(401, "Unauthorized", "AuthorizationUnsuccessful"))

    async def _body(self, request: Request, key: str) -> list[dict[str, Any]]:
        try:
            payload = json.loads(await request.body() or b"{}")
        except ValueError:
            raise XeroError(400, r.validation_error([], "The request body is not valid JSON.")) from None
        elements = payload.get(key) if isinstance(payload, dict) else None
        if elements is None and isinstance(payload, dict) and payload and key not in payload:
            elements = [payload]  # a single element without the plural wrapper
        if not isinstance(elements, list):
            raise XeroError(400, r.validation_error([], f"The request must contain {key}."))
        return elements

    def _envelope(self, key: str, items: list[Any], **extra: Any) -> Response:
        return _json(200, r.envelope(self.clock(), key, items, **extra))

    # ---- settings -------------------------------------------------------------------------------------------

    async def _organisation(self, request: Request) -> Response:
        self._need(request, READ_SETTINGS)
        return self._envelope("Organisations", [self.state.organisation])

    def _list(self, key: str, attr: str, scopes: set[str]) -> Callable:
        async def handler(request: Request) -> Response:
            self._need(request, scopes)
            rows = list(getattr(self.state, attr))
            where = request.query_params.get("where")
            if where:
                rows = [row for row in rows if self._where(where)(row)]
            since = request.headers.get("if-modified-since")
            if since:  # the rows that carry UpdatedDateUTC (Users); the others have no modification time
                moment = self._parse_since(since)
                rows = [row for row in rows if row.get("UpdatedDateUTC") is None or row["UpdatedDateUTC"] >= moment]
            rows = order_rows(rows, request.query_params.get("order"))
            if key == "Items":
                rows = [item_view(row, unitdp(request)) for row in rows]
            return self._envelope(key, rows)

        return handler

    @staticmethod
    def _where(text: str) -> Callable[[dict[str, Any]], bool]:
        try:
            return compile_where(text)
        except WhereError as exc:
            raise XeroError(400, r.validation_error([], str(exc))) from None

    # ---- contacts -------------------------------------------------------------------------------------------

    def _contact_row(self, c) -> dict[str, Any]:
        return {"ContactID": c.contact_id, "Name": c.name, "ContactNumber": c.contact_number, "EmailAddress": c.email,
                "TaxNumber": c.tax_number, "ContactStatus": c.status}

    async def _contacts(self, request: Request) -> Response:
        if request.method == "GET":
            self._need(request, READ_CONTACTS)
            q = request.query_params
            rows = [c for c in self.state.contacts.values()
                    if c.status == "ACTIVE" or q.get("includeArchived", "").lower() == "true"]
            if q.get("IDs"):
                ids = {i.strip().lower() for i in q["IDs"].split(",")}
                rows = [c for c in rows if c.contact_id in ids]
            if q.get("where"):
                match = self._where(q["where"])
                rows = [c for c in rows if match(self._contact_row(c))]
            if q.get("searchTerm"):
                term = q["searchTerm"].lower()
                rows = [c for c in rows if any(term in (v or "").lower() for v in (c.name, c.contact_number, c.email))]
            since = request.headers.get("if-modified-since")
            if since:
                moment = self._parse_since(since)
                rows = [c for c in rows if c.updated and c.updated >= moment]
            if q.get("order"):
                by_id = {c.contact_id: c for c in rows}
                rows = [by_id[row["ContactID"]] for row in order_rows([self._contact_row(c) for c in rows], q["order"])]
            rows, extra = self._page(q, rows)
            return self._envelope("Contacts", [r.contact(c, full=q.get("summaryOnly") != "true") for c in rows], **extra)
        self._need(request, WRITE_CONTACTS)
        return self.save_contacts(request, await self._body(request, "Contacts"))

    def save_contacts(self, request: Request, elements: list[dict[str, Any]]) -> Response:
        """PUT creates; POST updates an element whose ContactID exists and creates the others."""
        out, failed = [], False
        for element in elements:
            try:
                existing = self.state.contacts.get(str(element.get("ContactID") or "").lower())
                if existing and request.method == "POST":
                    if existing.status == "ARCHIVED":
                        raise InvoiceProblem("The specified contact details matched an archived contact. Archived contacts cannot currently be edited via the API.")
                    for key, attr in (("Name", "name"), ("EmailAddress", "email"), ("TaxNumber", "tax_number")):
                        if key in element:
                            setattr(existing, attr, str(element[key] or ""))
                    existing.updated = self.clock()
                    contact = existing
                else:
                    contact = self.state.create_contact(element)
                out.append({**r.contact(contact), "StatusAttributeString": "OK"})
            except InvoiceProblem as exc:
                failed = True
                out.append(r.failed_element(element, exc.messages, "ContactID"))
        return self._batch_response("Contacts", out, failed, request)

    def _batch_response(self, key: str, out: list[dict[str, Any]], failed: bool, request: Request) -> Response:
        summarize = request.query_params.get("summarizeErrors", "true").lower() != "false"
        if failed and summarize:
            return _json(400, r.validation_error(out))
        return self._envelope(key, out)

    async def _contact(self, request: Request) -> Response:
        self._need(request, READ_CONTACTS)
        wanted = request.path_params["contact_id"].lower()
        contact = self.state.contacts.get(wanted) or next(
            (c for c in self.state.contacts.values() if c.contact_number.lower() == wanted), None)
        if contact is None:
            raise XeroError(404, None, content_type="text/html")
        return self._envelope("Contacts", [r.contact(contact)])

    # ---- invoices -------------------------------------------------------------------------------------------

    def _invoice_row(self, inv) -> dict[str, Any]:
        c = self.state.contacts[inv.contact_id]
        return {"InvoiceID": inv.invoice_id, "InvoiceNumber": inv.number, "Type": inv.type, "Status": inv.status,
                "Reference": inv.reference, "Date": inv.date, "DueDate": inv.due_date, "Total": inv.total,
                "AmountDue": inv.amount_due, "AmountPaid": inv.amount_paid, "CurrencyCode": inv.currency,
                "UpdatedDateUTC": inv.updated, "Url": inv.url,
                "Contact": {"ContactID": c.contact_id, "Name": c.name, "ContactNumber": c.contact_number}}

    def _get_invoice(self, invoice_id: str):
        invoice = self.state.invoices.get(invoice_id.lower())
        if invoice is None:
            raise XeroError(404, None, content_type="text/html")
        return invoice

    async def _invoices(self, request: Request) -> Response:
        if request.method == "GET":
            self._need(request, READ_INVOICES)
            return self._read_invoices(request)
        self._need(request, WRITE_INVOICES)
        return self._write_invoices(request, await self._body(request, "Invoices"))

    def _read_invoices(self, request: Request) -> Response:
        q = request.query_params
        rows = list(self.state.invoices.values())

        def csv(name: str) -> set[str] | None:
            return {v.strip().lower() for v in q[name].split(",") if v.strip()} if q.get(name) else None

        for name, get in (("IDs", lambda i: i.invoice_id), ("InvoiceNumbers", lambda i: i.number.lower()),
                          ("ContactIDs", lambda i: i.contact_id), ("Statuses", lambda i: i.status.lower())):
            wanted = csv(name)
            if wanted is not None:
                rows = [i for i in rows if get(i) in wanted]
        if q.get("createdByMyApp", "").lower() == "true":
            rows = [i for i in rows if i.created_by_app == request.state.app]
        if q.get("where"):
            match = self._where(q["where"])
            rows = [i for i in rows if match(self._invoice_row(i))]
        if q.get("searchTerm"):
            term = q["searchTerm"].lower()
            rows = [i for i in rows if term in i.number.lower() or term in i.reference.lower()]
        since = request.headers.get("if-modified-since")
        if since:
            moment = self._parse_since(since)
            rows = [i for i in rows if i.updated and i.updated >= moment]
        order = (q.get("order") or "").split()
        if order:
            field = {"updateddateutc": lambda i: i.updated, "date": lambda i: i.date,
                     "invoicenumber": lambda i: i.number, "invoiceid": lambda i: i.invoice_id}.get(order[0].lower())
            if field:
                rows.sort(key=field, reverse=len(order) > 1 and order[1].upper() == "DESC")
        rows, extra = self._page(q, rows)
        summary = q.get("summaryOnly", "").lower() == "true"
        # line items only on a paged read (spec getInvoices `page`: "... with line items shown for each invoice")
        return self._envelope("Invoices", [r.invoice(self.state, i, summary=summary, lines=bool(extra),
                                                     unitdp=unitdp(request)) for i in rows], **extra)

    def _page(self, q: Any, rows: list[Any]) -> tuple[list[Any], dict[str, Any]]:
        """``page`` (1-based) of ``pageSize`` rows (default 100, at most :attr:`max_page_size`) with the
        pagination block."""
        if not q.get("page"):
            return rows, {}
        try:
            page = max(1, int(q["page"]))
            size = min(self.max_page_size, max(1, int(q.get("pageSize") or 100)))
        except ValueError:
            raise XeroError(400, r.validation_error([], "page and pageSize must be numbers")) from None
        count = len(rows)
        return rows[(page - 1) * size:page * size], {
            "pagination": {"page": page, "pageSize": size, "pageCount": max(1, -(-count // size)), "itemCount": count}}

    @staticmethod
    def _parse_since(text: str) -> dt.datetime:
        try:
            moment = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        except ValueError:
            try:
                moment = email.utils.parsedate_to_datetime(text)
            except (TypeError, ValueError):
                raise XeroError(400, r.validation_error([], "If-Modified-Since is not a valid date")) from None
        return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)

    def _write_invoices(self, request: Request, elements: list[dict[str, Any]]) -> Response:
        out, failed = [], False
        if not self.persist_before_404:
            for element in elements:
                contact_id = str((element.get("Contact") or {}).get("ContactID") or "").lower()
                if contact_id and contact_id not in self.state.contacts:
                    raise XeroError(404, None, content_type="text/html")
        for element in elements:
            try:
                invoice_id = str(element.get("InvoiceID") or "").lower()
                if invoice_id and request.method == "POST":
                    self._get_invoice(invoice_id)
                    invoice = self.state.update_invoice(invoice_id, element, parse_date=parse_date,
                                                        unit_dp=unitdp(request))
                else:
                    invoice = self.state.create_invoice(element, app=request.state.app, parse_date=parse_date,
                                                        unit_dp=unitdp(request))
                out.append({**r.invoice(self.state, invoice, unitdp=unitdp(request)), "StatusAttributeString": "OK"})
            except UnknownContact:
                raise XeroError(404, None, content_type="text/html") from None
            except InvoiceProblem as exc:
                failed = True
                out.append(r.failed_element(element, exc.messages, "InvoiceID"))
        return self._batch_response("Invoices", out, failed, request)

    async def _invoice(self, request: Request) -> Response:
        invoice = self._get_invoice(request.path_params["invoice_id"])
        if request.method == "POST":
            self._need(request, WRITE_INVOICES)
            elements = await self._body(request, "Invoices")
            for element in elements:
                element.setdefault("InvoiceID", invoice.invoice_id)
            return self._write_invoices(request, elements[:1])
        self._need(request, READ_INVOICES)
        if "application/pdf" in request.headers.get("accept", ""):
            from .sandbox_pdf import invoice_pdf

            pdf = invoice_pdf(self.state, invoice)
            return Response(pdf, media_type="application/pdf")
        return self._envelope("Invoices", [r.invoice(self.state, invoice, unitdp=unitdp(request))])

    async def _online(self, request: Request) -> Response:
        self._need(request, READ_INVOICES)
        invoice = self._get_invoice(request.path_params["invoice_id"])
        if invoice.status in ("DRAFT", "SUBMITTED", "DELETED") or invoice.type != "ACCREC":
            raise XeroError(400, r.validation_error(
                [], f"An online invoice is not available for an invoice with status {invoice.status}."))
        url = str(request.url).split("/api.xro/2.0/", 1)[0] + f"/in/{invoice.online_token}"
        return self._envelope("OnlineInvoices", [{"OnlineInvoiceUrl": url}])

    async def _email(self, request: Request) -> Response:
        self._need(request, WRITE_INVOICES)
        invoice = self._get_invoice(request.path_params["invoice_id"])
        if invoice.status not in self.email_statuses or invoice.type != "ACCREC":
            raise XeroError(400, r.validation_error([], "The invoice must be of Type ACCREC and a valid Status for "
                                                        "sending (SUBMITTED, AUTHORISED or PAID)."))
        contact = self.state.contacts[invoice.contact_id]
        if not contact.email:
            raise XeroError(400, r.validation_error([], f"The contact {contact.name} has no email address."))
        invoice.sent_to_contact = True
        self.state.emails.append(invoice.invoice_id)
        self.state.touch(invoice, "Emailed", f"Invoice {invoice.number} emailed to {contact.email}")
        return Response(status_code=204)

    # ---- payments -------------------------------------------------------------------------------------------

    async def _payments(self, request: Request) -> Response:
        self._need(request, WRITE_PAYMENTS)
        out, failed = [], False
        for element in await self._body(request, "Payments"):
            try:
                out.append({**r.payment(self.state, self.pay(element)), "StatusAttributeString": "OK"})
            except InvoiceProblem as exc:
                failed = True
                out.append(r.failed_element(element, exc.messages, "PaymentID"))
        return self._batch_response("Payments", out, failed, request)

    def pay(self, element: dict[str, Any]):
        """One payment element: its invoice (404 when unknown), its account (which must accept payments) and
        amount; raises InvoiceProblem for an element error."""
        invoice_id = str((element.get("Invoice") or {}).get("InvoiceID") or "").lower()
        self._get_invoice(invoice_id)
        account = self.state.payment_account(element.get("Account"))
        return self.state.add_payment(invoice_id, element.get("Amount"),
                                      date=parse_date(element["Date"]) if element.get("Date") else None,
                                      account_code=account["Code"])

    async def _payment(self, request: Request) -> Response:
        self._need(request, WRITE_PAYMENTS)
        payment_id = request.path_params["payment_id"].lower()
        if payment_id not in self.state.payments:
            raise XeroError(404, None, content_type="text/html")
        elements = await self._body(request, "Payments")
        if not elements or str(elements[0].get("Status")) != "DELETED":
            raise XeroError(400, r.validation_error([], "Only Status DELETED can be applied to a payment."))
        try:
            payment = self.state.remove_payment(payment_id)
        except InvoiceProblem as exc:
            raise XeroError(400, r.validation_error([{"ValidationErrors": [{"Message": m} for m in exc.messages]}])) from exc
        return self._envelope("Payments", [r.payment(self.state, payment)])

def create_sandbox(**options: Any) -> XeroSandbox:
    """A new Xero sandbox (see :class:`XeroSandbox` for the options); seeded with the demo organisation
    unless ``seed=None``."""
    return XeroSandbox(**options)


__all__ = ["XeroSandbox", "create_sandbox", "new_id"]
