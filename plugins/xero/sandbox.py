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

import asyncio
import base64
import datetime as dt
import email.utils
import hashlib
import hmac
import json
import secrets
import urllib.parse
from typing import Any, Callable

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from . import sandbox_render as r
from .msdate import parse_date
from .sandbox_identity import GrantError, Identity
from .sandbox_state import InvoiceProblem, SandboxState, UnknownContact, new_id
from .sandbox_where import WhereError, compile_where

IDEMPOTENCY_WINDOW = dt.timedelta(minutes=6)
MINUTE_LIMIT, DAY_LIMIT, CONCURRENT_LIMIT, APP_MINUTE_LIMIT = 60, 5000, 5, 10000
READ_INVOICES = {"accounting.transactions", "accounting.transactions.read", "accounting.invoices", "accounting.invoices.read"}
WRITE_INVOICES = {"accounting.transactions", "accounting.invoices"}
READ_CONTACTS = {"accounting.contacts", "accounting.contacts.read"}
WRITE_CONTACTS = {"accounting.contacts"}
READ_SETTINGS = {"accounting.settings", "accounting.settings.read"}
WRITE_PAYMENTS = {"accounting.transactions", "accounting.payments"}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class XeroError(Exception):
    def __init__(self, status: int, body: Any = None, *, content_type: str = "application/json", headers=None) -> None:
        self.status, self.body, self.content_type, self.headers = status, body, content_type, headers or {}


def _json(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(r.to_json(payload), status_code=status, media_type="application/json", headers=headers)


class XeroSandbox:
    """The emulator: an ASGI app plus the state and knobs tests use."""

    def __init__(
        self,
        *,
        clock: Callable[[], dt.datetime] = utcnow,
        client_id: str = "sandbox-client",
        client_secret: str = "sandbox-secret",
        webhook_key: str = "sandbox-webhook-key",
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
        self.webhook_key = webhook_key
        self.webhook_url = webhook_url
        self.webhook_transport = webhook_transport
        self.auto_deliver = True  # after console actions
        self.deliveries: list[dict[str, Any]] = []
        self.event_sequence = 0
        self.forced_limit: dict[str, Any] | None = None  # {"problem", "times", "retry_after"}
        self.fail_next: list[int] = []  # statuses to answer (e.g. 500) before handling the next API calls
        self.requests: list[tuple[str, str]] = []  # (method, path) of API calls, for tests
        self.rejected: list[tuple[dt.datetime, str]] = []  # (when, problem) of each 429 answered
        # An unknown ContactID fails the whole request with 404 (fact sheet §13.10). Whether the elements
        # before it were already saved is not known [?]: by default nothing is saved; True saves them.
        self.persist_before_404 = False
        # The largest page served, whatever pageSize asks for: 1,000 is second-hand (fact sheet §5.1, §14.5 [?]).
        self.max_page_size = 1000
        self._minute: dict[str, tuple[int, int]] = {}  # tenant -> (minute index, count)
        self._day: dict[str, tuple[int, int]] = {}
        self._in_flight: dict[str, int] = {}
        self._idempotency: dict[str, dict[str, Any]] = {}
        self._idem_locks: dict[str, asyncio.Lock] = {}
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
            Route("/api.xro/2.0/Invoices/{invoice_id}/History", self._history, methods=["GET", "PUT"]),
            Route("/api.xro/2.0/Payments", self._payments, methods=["PUT"]),
            Route("/api.xro/2.0/Payments/{payment_id}", self._payment, methods=["POST"]),
        ]
        routes = [
            Route("/identity/connect/authorize", self._authorize, methods=["GET"]),
            Route("/identity/connect/token", self._token, methods=["POST"]),
            Route("/identity/connect/revocation", self._revoke, methods=["POST"]),
            Route("/connections", self._connections, methods=["GET"]),
            Route("/connections/{connection_id}", self._delete_connection, methods=["DELETE"]),
            *[Route(rt.path, self._api(rt.endpoint), methods=list(rt.methods or [])) for rt in api],
            *console_routes(self),
        ]
        self.app = Starlette(routes=routes)

    async def __call__(self, scope, receive, send) -> None:
        await self.app(scope, receive, send)

    # ---- test helpers -----------------------------------------------------------------------------------

    @property
    def tenant_id(self) -> str:
        return self.state.tenant_id

    def issue_tokens(self, *, user_id: str | None = None, scope: str = "") -> dict[str, Any]:
        """Connect as a user without the browser round trip (what the authorize + token exchange produce)."""
        user = user_id or self.state.users[0]["UserID"]
        code = self.identity.issue_code(client_id=self.identity.client_id, redirect_uri="urn:test", user_id=user,
                                        scope=scope or "offline_access accounting.invoices accounting.contacts "
                                                       "accounting.settings.read", challenge="")
        return self.identity.exchange({"code": code, "redirect_uri": "urn:test"})

    def force_rate_limit(self, problem: str = "minute", *, times: int = 1, retry_after: int | None = 7) -> None:
        """Answer the next ``times`` API calls with 429 (problem: minute, day or concurrent)."""
        self.forced_limit = {"problem": problem, "times": times, "retry_after": retry_after}

    # ---- identity -----------------------------------------------------------------------------------------

    async def _authorize(self, request: Request) -> Response:
        q = request.query_params
        redirect_uri = q.get("redirect_uri", "")
        try:
            if q.get("response_type") != "code" or not redirect_uri:
                raise GrantError("invalid_request", "response_type=code and redirect_uri are required")
            if q.get("code_challenge") and q.get("code_challenge_method") != "S256":
                raise GrantError("invalid_request", "only code_challenge_method=S256 is supported")
            user = q.get("login_hint_user") or self.state.users[0]["UserID"]
            code = self.identity.issue_code(client_id=q.get("client_id", ""), redirect_uri=redirect_uri,
                                            scope=q.get("scope", ""), user_id=user,
                                            challenge=q.get("code_challenge", ""))
        except GrantError as exc:
            return HTMLResponse(f"<h1>Sandbox authorize error</h1><p>{exc.error}</p>", status_code=400)
        sep = "&" if "?" in redirect_uri else "?"
        query = urllib.parse.urlencode({"code": code, "scope": q.get("scope", ""), "state": q.get("state", "")})
        return RedirectResponse(f"{redirect_uri}{sep}{query}", status_code=302)

    async def _token(self, request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        basic = None
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("basic "):
            try:
                user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
                basic = (urllib.parse.unquote(user), urllib.parse.unquote(password))
            except ValueError:
                return _json(400, {"error": "invalid_client"})
        try:
            self.identity.authenticate_client(basic, form)
            grant = form.get("grant_type")
            if grant == "authorization_code":
                return _json(200, self.identity.exchange(form))
            if grant == "refresh_token":
                return _json(200, self.identity.refresh(form))
            raise GrantError("unsupported_grant_type")
        except GrantError as exc:
            return _json(400, {"error": exc.error, **({"error_description": exc.description} if exc.description else {})})

    async def _revoke(self, request: Request) -> Response:
        form = await request.form()
        self.identity.revoke(str(form.get("token", "")))
        return Response(status_code=200)

    def _bearer(self, request: Request) -> dict[str, Any]:
        try:
            return self.identity.access_claims(request.headers.get("authorization", ""))
        except PermissionError as exc:
            raise XeroError(401, r.problem(401, "Unauthorized", str(exc))) from None

    async def _connections(self, request: Request) -> Response:
        try:
            claims = self._bearer(request)
        except XeroError as exc:
            return _json(exc.status, exc.body)
        event = request.query_params.get("authEventId")
        rows = [c for c in self.identity.connections if c["authEventId"] == claims["authentication_event_id"]
                and (not event or c["authEventId"] == event)]
        return _json(200, rows)

    async def _delete_connection(self, request: Request) -> Response:
        try:
            self._bearer(request)
        except XeroError as exc:
            return _json(exc.status, exc.body)
        wanted = request.path_params["connection_id"]
        before = len(self.identity.connections)
        self.identity.connections = [c for c in self.identity.connections if c["id"] != wanted]
        return Response(status_code=204 if len(self.identity.connections) < before else 404)

    # ---- the API frame: auth, tenant, scopes, limits, idempotency -----------------------------------------

    def _api(self, handler: Callable) -> Callable:
        async def endpoint(request: Request) -> Response:
            tenant = request.headers.get("xero-tenant-id", "")
            self.requests.append((request.method, request.url.path))
            try:
                claims = self._bearer(request)
                if tenant != self.state.tenant_id or not self.identity.tenant_allowed(claims, tenant):
                    raise XeroError(403, r.problem(403, "Forbidden", "AuthenticationUnsuccessful"))
                request.state.scopes = set(claims.get("scope") or [])
                request.state.app = claims.get("client_id", "")
                limited = self._rate_limit(tenant)
                if limited is not None:
                    return limited
                if self.fail_next:
                    status = self.fail_next.pop(0)
                    return _json(status, {"Title": "An error occurred", "Status": status,
                                          "Detail": "An unhandled error with the Xero API"}, self._limit_headers(tenant))
                self._in_flight[tenant] = self._in_flight.get(tenant, 0) + 1
                try:
                    response = await self._idempotent(request, handler)
                finally:
                    self._in_flight[tenant] -= 1
            except XeroError as exc:
                if exc.body is None:
                    response = Response(b"", status_code=exc.status, media_type=exc.content_type, headers=exc.headers)
                elif isinstance(exc.body, bytes):
                    response = Response(exc.body, status_code=exc.status, media_type=exc.content_type)
                else:
                    response = _json(exc.status, exc.body, exc.headers)
            response.headers.update(self._limit_headers(tenant))
            return response

        return endpoint

    def _rate_limit(self, tenant: str) -> Response | None:
        now = self.clock()
        minute, day = int(now.timestamp() // 60), now.date().toordinal()
        m_index, m_count = self._minute.get(tenant, (minute, 0))
        d_index, d_count = self._day.get(tenant, (day, 0))
        m_count = m_count if m_index == minute else 0
        d_count = d_count if d_index == day else 0
        problem, retry_after = None, None
        if self.forced_limit and self.forced_limit["times"] > 0:
            self.forced_limit["times"] -= 1
            problem, retry_after = self.forced_limit["problem"], self.forced_limit["retry_after"]
        elif d_count >= DAY_LIMIT:
            problem = "day"
            tomorrow = dt.datetime.combine(now.date() + dt.timedelta(days=1), dt.time(), tzinfo=dt.timezone.utc)
            retry_after = int((tomorrow - now).total_seconds())
        elif m_count >= MINUTE_LIMIT:
            problem, retry_after = "minute", 60 - int(now.timestamp()) % 60
        elif self._in_flight.get(tenant, 0) >= CONCURRENT_LIMIT:
            problem = "concurrent"
        self._minute[tenant] = (minute, m_count + 1)
        self._day[tenant] = (day, d_count + 1)  # rejected calls count too
        if problem is None:
            return None
        self.rejected.append((now, problem))
        headers = {"X-Rate-Limit-Problem": problem, **self._limit_headers(tenant)}
        if retry_after is not None and problem != "concurrent":
            headers["Retry-After"] = str(retry_after)
        return Response(b"", status_code=429, headers=headers)

    def _limit_headers(self, tenant: str) -> dict[str, str]:
        m = self._minute.get(tenant, (0, 0))[1]
        d = self._day.get(tenant, (0, 0))[1]
        return {"X-MinLimit-Remaining": str(max(0, MINUTE_LIMIT - m)), "X-DayLimit-Remaining": str(max(0, DAY_LIMIT - d)),
                "X-AppMinLimit-Remaining": str(max(0, APP_MINUTE_LIMIT - m))}

    async def _idempotent(self, request: Request, handler: Callable) -> Response:
        key = request.headers.get("idempotency-key")
        if not key or request.method not in ("PUT", "POST", "PATCH"):
            return await handler(request)
        if len(key) > 128:
            raise XeroError(400, r.validation_error([], "Idempotency Key must be at most 128 characters long."))
        body = await request.body()
        fingerprint = hashlib.sha256(b"\n".join([request.method.encode(), str(request.url.path).encode(),
                                                 str(request.url.query).encode(), body])).hexdigest()
        lock = self._idem_locks.setdefault(key, asyncio.Lock())
        async with lock:  # a concurrent repeat waits for the first
            now = self.clock()
            seen = self._idempotency.get(key)
            if seen and seen["at"] + IDEMPOTENCY_WINDOW > now:
                if seen["fingerprint"] != fingerprint:
                    raise XeroError(400, r.validation_error([], f"Idempotency Key: {key} is used with a different request."))
                return Response(seen["body"], status_code=seen["status"], headers=seen["headers"])
            try:
                response = await handler(request)
            except XeroError as exc:  # errors are replayed too
                response = _json(exc.status, exc.body) if exc.body is not None and not isinstance(exc.body, bytes) \
                    else Response(exc.body or b"", status_code=exc.status, media_type=exc.content_type)
            self._idempotency[key] = {"fingerprint": fingerprint, "at": now, "status": response.status_code,
                                      "body": response.body, "headers": {k: v for k, v in response.headers.items()
                                                                         if k.lower() != "content-length"}}
            return response

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
            rows, extra = self._page(q, rows)
            return self._envelope("Contacts", [r.contact(c, full=q.get("summaryOnly") != "true") for c in rows], **extra)
        self._need(request, WRITE_CONTACTS)
        elements = await self._body(request, "Contacts")
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
        return self._envelope("Invoices", [r.invoice(self.state, i, summary=summary) for i in rows], **extra)

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
                    invoice = self.state.update_invoice(invoice_id, element, parse_date=parse_date)
                else:
                    invoice = self.state.create_invoice(element, app=request.state.app, parse_date=parse_date)
                out.append({**r.invoice(self.state, invoice), "StatusAttributeString": "OK"})
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
        return self._envelope("Invoices", [r.invoice(self.state, invoice)])

    async def _online(self, request: Request) -> Response:
        self._need(request, READ_INVOICES)
        invoice = self._get_invoice(request.path_params["invoice_id"])
        if invoice.status in ("DRAFT", "SUBMITTED", "DELETED") or invoice.type != "ACCREC":
            raise XeroError(400, r.validation_error(
                [], f"An online invoice is not available for an invoice with status {invoice.status}."))
        url = str(request.url).split("/api.xro/2.0/", 1)[0] + f"/in/{invoice.online_token}"
        return _json(200, {"OnlineInvoices": [{"OnlineInvoiceUrl": url}]})

    async def _email(self, request: Request) -> Response:
        self._need(request, WRITE_INVOICES)
        invoice = self._get_invoice(request.path_params["invoice_id"])
        if invoice.status not in ("AUTHORISED", "PAID") or invoice.type != "ACCREC":
            raise XeroError(400, r.validation_error([], "Only approved sales invoices can be emailed."))
        contact = self.state.contacts[invoice.contact_id]
        if not contact.email:
            raise XeroError(400, r.validation_error([], f"The contact {contact.name} has no email address."))
        invoice.sent_to_contact = True
        self.state.emails.append(invoice.invoice_id)
        self.state.touch(invoice, "Emailed", f"Invoice {invoice.number} emailed to {contact.email}")
        return Response(status_code=204)

    async def _history(self, request: Request) -> Response:
        invoice = self._get_invoice(request.path_params["invoice_id"])
        if request.method == "PUT":
            self._need(request, WRITE_INVOICES)
            for record in await self._body(request, "HistoryRecords"):
                invoice.history.append({"Changes": "Note", "DateUTC": self.clock(), "User": "API",
                                        "Details": str(record.get("Details") or "")})
        else:
            self._need(request, READ_INVOICES)
        records = [{**h, "DateUTCString": h["DateUTC"].strftime("%Y-%m-%dT%H:%M:%S")} for h in invoice.history]
        return self._envelope("HistoryRecords", records)

    # ---- payments -------------------------------------------------------------------------------------------

    async def _payments(self, request: Request) -> Response:
        self._need(request, WRITE_PAYMENTS)
        out, failed = [], False
        for element in await self._body(request, "Payments"):
            invoice_id = str((element.get("Invoice") or {}).get("InvoiceID") or "").lower()
            try:
                self._get_invoice(invoice_id)
                payment = self.state.add_payment(invoice_id, element.get("Amount"),
                                                 date=parse_date(element["Date"]) if element.get("Date") else None,
                                                 account_code=str((element.get("Account") or {}).get("Code") or "090"))
                out.append({**r.payment(self.state, payment), "StatusAttributeString": "OK"})
            except InvoiceProblem as exc:
                failed = True
                out.append(r.failed_element(element, exc.messages, "PaymentID"))
        return self._batch_response("Payments", out, failed, request)

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
            raise XeroError(400, r.validation_error([{"ValidationErrors": [{"Message": m} for m in exc.messages]}]))
        return self._envelope("Payments", [r.payment(self.state, payment)])

    # ---- outgoing webhooks ------------------------------------------------------------------------------------

    def _sign(self, body: bytes, key: str | None = None) -> str:
        digest = hmac.new((key or self.webhook_key).encode(), body, hashlib.sha256).digest()
        return base64.b64encode(digest).decode()

    async def _post(self, body: bytes, signature: str) -> int:
        async with httpx.AsyncClient(transport=self.webhook_transport, timeout=5.0) as client:
            try:
                response = await client.post(self.webhook_url, content=body, headers={
                    "x-xero-signature": signature, "Content-Type": "application/json"})
            except httpx.HTTPError:
                return 0
        return response.status_code

    def pending_events(self) -> list[dict[str, Any]]:
        return list(self.state.events)

    async def deliver_webhooks(self) -> list[int]:
        """Send queued events as one signed payload; keep them queued unless the receiver answers 200.
        Returns the HTTP statuses seen (empty when nothing was pending or no URL is set)."""
        if not self.webhook_url or not self.state.events:
            return []
        batch = list(self.state.events)
        first = self.event_sequence + 1
        self.event_sequence += len(batch)
        api = "https://api.xero.com/api.xro/2.0"
        events = [{
            "resourceUrl": f"{api}/{'Invoices' if e['category'] == 'INVOICE' else 'Contacts'}/{e['resource_id']}",
            "resourceId": e["resource_id"], "eventDateUtc": e["at"].strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3],
            "eventType": e["type"], "eventCategory": e["category"], "tenantId": self.state.tenant_id,
            "tenantType": "ORGANISATION"} for e in batch]
        body = json.dumps({"events": events, "firstEventSequence": first, "lastEventSequence": self.event_sequence,
                           "entropy": secrets.token_hex(10)}).encode()
        status = await self._post(body, self._sign(body))
        self.deliveries.append({"status": status, "body": body})
        if status == 200:
            self.state.events = [e for e in self.state.events if e not in batch]
        return [status]

    async def intent_to_receive(self) -> bool:
        """Xero's check of a new webhook URL: correctly signed empty payloads must get 200, badly signed 401."""
        ok = True
        for good in (True, False, True, False):
            body = json.dumps({"events": [], "firstEventSequence": 0, "lastEventSequence": 0,
                               "entropy": secrets.token_hex(10)}).encode()
            signature = self._sign(body) if good else self._sign(body, key=secrets.token_hex(8))
            status = await self._post(body, signature)
            ok = ok and status == (200 if good else 401)
        return ok


def create_sandbox(**options: Any) -> XeroSandbox:
    """A new Xero sandbox (see :class:`XeroSandbox` for the options); seeded with the demo organisation
    unless ``seed=None``."""
    return XeroSandbox(**options)


__all__ = ["XeroSandbox", "create_sandbox", "new_id"]
