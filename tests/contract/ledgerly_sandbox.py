"""An emulator of Ledgerly's API for the third-party backend in ``ledgerly.py``, built on the emulator kit only.

OAuth 2.0 (``/oauth/authorize`` approves at once, ``/oauth/token`` with authorization codes and PKCE, refresh
tokens that rotate, ``/oauth/revoke``); under ``/v1`` the bearer-checked JSON API: ``/me``, and per book
``/catalog``, ``/invoices`` (create with ``Idempotency-Key`` replay; list by ``id``, ``key`` or
``updated_since``), ``/invoices/{id}``, ``/invoices/{id}/cancel``, ``/invoices/{id}/pdf`` and ``PUT /webhook``.
120 calls a minute per book (429 with ``Retry-After``; ``X-RateLimit-Remaining`` on every answer), fault switches,
a request log, and invoice changes delivered as HMAC-SHA256-signed webhooks. Status words: ``open``, ``sent``,
``settled``, ``cancelled``; no drafts, no approval step. Tests drive the remote side with :meth:`settle`,
:meth:`mark_sent` and :meth:`deliver_webhooks`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import itertools
import urllib.parse
from decimal import Decimal
from typing import Any, Callable

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from invoicebridge.sandbox_kit import (AuthorizationServer, DemoOffer, Faults, IdempotencyStore, KeyReused, Limiter,
                                       LossyTransport, OAuthError, Outbox, RequestLog, SimulatedClock, TokenRejected,
                                       Window, basic_credentials)

CLIENT_ID, CLIENT_SECRET, WEBHOOK_SECRET = "ledgerly-app", "ledgerly-app-secret", "ledgerly-hook-secret"
BOOK = {"id": "book-1", "name": "Books One", "currency": "GBP"}
TAX_RATES = {"std": Decimal(20), "zero": Decimal(0)}
CENT = Decimal("0.01")


class Refusal(Exception):
    def __init__(self, status: int, error: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.error, self.message, self.headers = status, error, message, headers or {}


def config(base: str = "https://ledgerly.test", browser_base: str = "") -> dict[str, str]:
    """The backend's settings for a sandbox reached at ``base`` (``browser_base``: where the browser finds it)."""
    return {"api_base": f"{base}/v1", "authorize_url": f"{browser_base or base}/oauth/authorize",
            "token_url": f"{base}/oauth/token", "revoke_url": f"{base}/oauth/revoke", "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET, "webhook_secret": WEBHOOK_SECRET}


class LedgerlySandbox:
    name = "ledgerly"
    mount_path = "/sandbox/ledgerly"

    def __init__(self, *, clock: SimulatedClock | None = None, webhook_transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.clock = clock or SimulatedClock()
        now: Callable[[], dt.datetime] = lambda: self.clock.now()  # noqa: E731
        self.oauth = AuthorizationServer(clock=now, clients={CLIENT_ID: CLIENT_SECRET}, rotate_refresh=True)
        self.idempotency = IdempotencyStore(clock=now, window=dt.timedelta(hours=24))
        self.limiter = Limiter(clock=now)
        self.limiter.add("minute", Window(120, 60))
        self.faults, self.log = Faults(), RequestLog(clock=now)
        self.outbox = Outbox(clock=now, signer=lambda body: {"X-Ledgerly-Signature": self.sign(body)},
                             transport=webhook_transport, retry_delays=(60.0, 600.0))
        self.webhook_url = ""
        self.invoices: dict[str, dict[str, Any]] = {}
        self.numbers = itertools.count(1)
        self.events = itertools.count(1)
        self.app = Starlette(routes=[
            Route("/oauth/authorize", self._authorize), Route("/oauth/token", self._token, methods=["POST"]),
            Route("/oauth/revoke", self._revoke, methods=["POST"]), Route("/v1/me", self.api(self._me)),
            Route("/v1/books/{book}/catalog", self.api(self._catalog)),
            Route("/v1/books/{book}/invoices", self.api(self._create), methods=["POST"]),
            Route("/v1/books/{book}/invoices", self.api(self._list)),
            Route("/v1/books/{book}/invoices/{id}", self.api(self._read)),
            Route("/v1/books/{book}/invoices/{id}/cancel", self.api(self._cancel), methods=["POST"]),
            Route("/v1/books/{book}/invoices/{id}/pdf", self.api(self._pdf)),
            Route("/v1/books/{book}/webhook", self.api(self._subscribe), methods=["PUT"]),
        ])
        self.transport = LossyTransport(self.app)

    # ---- the Sandbox protocol and what tests use -----------------------------------------------------------

    def seed(self) -> None:
        return None

    def reset(self) -> None:
        self.__init__(clock=self.clock, webhook_transport=self.outbox.transport)  # type: ignore[misc]

    def demo_offer(self, *, public_url: str, transport: httpx.AsyncBaseTransport, secrets: dict[str, str]) -> DemoOffer:
        self.outbox.transport = transport
        return DemoOffer(config=config(f"{public_url}{self.mount_path}"), connect="oauth", label="Ledgerly")

    def issue_tokens(self) -> dict[str, Any]:
        """What the authorize page and the code exchange give, without the browser round trip."""
        code = self.oauth.authorize(client_id=CLIENT_ID, redirect_uri="urn:test", scope="invoices offline", user_id="owner")
        return self.oauth.exchange(CLIENT_ID, {"code": code, "redirect_uri": "urn:test"})[1]

    def sign(self, body: bytes) -> str:
        return hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()

    def settle(self, remote_id: str) -> None:
        invoice = self.invoices[remote_id]
        self._change(invoice, status="settled", paid=invoice["total"], due_amount="0.00")

    def mark_sent(self, remote_id: str) -> None:
        self._change(self.invoices[remote_id], status="sent")

    def created_with(self, key: str) -> list[dict[str, Any]]:
        return [x for x in self.invoices.values() if x["key"] == key]

    async def deliver_webhooks(self) -> list[Any]:
        return [d.results[-1][1] for d in await self.outbox.deliver()]

    def _change(self, invoice: dict[str, Any], **fields: Any) -> None:
        invoice.update(fields, updated_at=self.clock.now().isoformat())
        if self.webhook_url:
            self.outbox.queue(self.webhook_url, {"events": [{"id": f"ev-{next(self.events)}", "invoice": invoice["id"],
                                                             "status": invoice["status"]}]})

    # ---- OAuth ----------------------------------------------------------------------------------------------

    async def _authorize(self, request: Request) -> Response:
        q = request.query_params
        try:
            code = self.oauth.authorize(client_id=q.get("client_id", ""), redirect_uri=q.get("redirect_uri", ""),
                                        scope=q.get("scope", ""), user_id="owner", code_challenge=q.get("code_challenge", ""),
                                        code_challenge_method=q.get("code_challenge_method", "S256"))
        except OAuthError as exc:
            return JSONResponse({"error": exc.error, "message": exc.description}, status_code=400)
        query = urllib.parse.urlencode({"code": code, "state": q.get("state", "")})
        return RedirectResponse(f"{q['redirect_uri']}?{query}", status_code=302)

    async def _token(self, request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        self.log.add("POST", "/oauth/token", form.get("grant_type", ""))
        try:
            client = self.oauth.authenticate_client(basic_credentials(request.headers.get("authorization", "")), form)
            if form.get("grant_type") == "authorization_code":
                return JSONResponse(self.oauth.exchange(client, form)[1])
            if form.get("grant_type") == "refresh_token":
                return JSONResponse(self.oauth.refresh(client, form.get("refresh_token", ""))[1])
            raise OAuthError("unsupported_grant_type")
        except OAuthError as exc:
            return JSONResponse({"error": exc.error, "error_description": exc.description}, status_code=exc.status)

    async def _revoke(self, request: Request) -> Response:
        self.oauth.revoke(str((await request.form()).get("token", "")))
        return Response(status_code=200)

    # ---- the API frame: bearer, limits, faults, idempotency, log ---------------------------------------------

    def api(self, handler: Callable) -> Callable:
        async def endpoint(request: Request) -> Response:
            self.log.add(request.method, request.url.path)
            book = request.path_params.get("book", BOOK["id"])
            try:
                try:
                    self.oauth.validate(request.headers.get("authorization", "").removeprefix("Bearer "))
                except TokenRejected as exc:
                    raise Refusal(401, "token_expired" if exc.expired_at else "unauthorized", str(exc)) from None
                if book != BOOK["id"]:
                    raise Refusal(404, "not_found", f"no book {book}")
                refusal = self.limiter.check(book)
                if refusal is not None:
                    raise Refusal(429, "rate_limited", "too many calls", {"Retry-After": str(refusal.retry_after)})
                status = self.faults.take()
                if status is not None:
                    raise Refusal(status, "fault", "an injected fault")
                response = await self._idempotent(request, handler)
            except Refusal as exc:
                response = JSONResponse({"error": exc.error, "message": exc.message}, status_code=exc.status,
                                        headers=exc.headers)
            response.headers["X-RateLimit-Remaining"] = str(self.limiter.remaining("minute", book))
            return response

        return endpoint

    async def _idempotent(self, request: Request, handler: Callable) -> Response:
        key = request.headers.get("idempotency-key")
        request.state.key = key or ""

        async def answer() -> Response:
            try:
                return await handler(request)
            except Refusal as exc:  # refusals are replayed too
                return JSONResponse({"error": exc.error, "message": exc.message}, status_code=exc.status)

        if not key or request.method != "POST":
            return await handler(request)
        try:
            return await self.idempotency.run(key, request, answer)
        except KeyReused:
            raise Refusal(422, "key_reused", f"Idempotency-Key {key} was used with a different request") from None

    # ---- resources ------------------------------------------------------------------------------------------

    def _invoice(self, request: Request) -> dict[str, Any]:
        invoice = self.invoices.get(request.path_params["id"])
        if invoice is None:
            raise Refusal(404, "not_found", f"no invoice {request.path_params['id']}")
        return invoice

    async def _me(self, request: Request) -> Response:
        return JSONResponse({"user": {"name": "Olive Owner", "role": "owner"}, "books": [BOOK]})

    async def _catalog(self, request: Request) -> Response:
        return JSONResponse({"currency": BOOK["currency"], "accounts": [{"code": "sales", "name": "Sales"}],
                             "tax_rates": [{"code": c, "name": "Standard" if r else "Zero", "rate": str(r)}
                                           for c, r in TAX_RATES.items()]})

    async def _create(self, request: Request) -> Response:
        body = await request.json()
        lines = body.get("lines") or []
        if not lines or any(line.get("account") != "sales" for line in lines):
            raise Refusal(422, "validation", "Ledgerly books revenue to the 'sales' account only")
        if any(line.get("tax") not in TAX_RATES for line in lines):
            raise Refusal(422, "validation", "unknown tax code")
        nets = [(Decimal(li["quantity"]) * Decimal(li["unit_price"])).quantize(CENT) for li in lines]
        subtotal = sum(nets, Decimal(0))
        tax = sum(((n * TAX_RATES[li["tax"]] / 100).quantize(CENT) for n, li in zip(nets, lines, strict=True)), Decimal(0))
        remote_id = f"lg-{len(self.invoices) + 1}"
        invoice = {"id": remote_id, "number": f"LG-{next(self.numbers):03d}", "status": "open", "key": request.state.key,
                   "customer": body["customer"], "currency": body["currency"], "date": body["date"],
                   "due_date": body.get("due_date"), "reference": body.get("reference") or "", "lines": lines,
                   "subtotal": str(subtotal), "tax": str(tax), "total": str(subtotal + tax), "paid": "0.00",
                   "due_amount": str(subtotal + tax), "pay_url": f"https://pay.ledgerly.example/{remote_id}"}
        self.invoices[remote_id] = invoice
        self._change(invoice)
        return JSONResponse(invoice, status_code=201)

    async def _list(self, request: Request) -> Response:
        q = request.query_params
        found = list(self.invoices.values())
        if q.getlist("id"):
            found = [x for x in found if x["id"] in q.getlist("id")]
        if q.getlist("key"):
            found = [x for x in found if x["key"] in q.getlist("key")]
        if q.get("updated_since"):
            found = [x for x in found if dt.datetime.fromisoformat(x["updated_at"]) >= dt.datetime.fromisoformat(q["updated_since"])]
        return JSONResponse({"invoices": found})

    async def _read(self, request: Request) -> Response:
        return JSONResponse(self._invoice(request))

    async def _cancel(self, request: Request) -> Response:
        invoice = self._invoice(request)
        if invoice["status"] not in ("open", "sent"):
            raise Refusal(409, "conflict", f"an invoice that is {invoice['status']} cannot be cancelled")
        self._change(invoice, status="cancelled", due_amount="0.00")
        return JSONResponse(invoice)

    async def _pdf(self, request: Request) -> Response:
        return Response(b"%PDF-1.4 Ledgerly " + self._invoice(request)["number"].encode(), media_type="application/pdf")

    async def _subscribe(self, request: Request) -> Response:
        self.webhook_url = (await request.json())["url"]
        return JSONResponse({"url": self.webhook_url})
