"""The Xero sandbox's frame, built on the emulator kit: the identity endpoints (authorize, token, revocation,
connections), and around every Accounting API call the bearer and tenant checks, rate limits, fault switches,
idempotency replay and the request log; and the signed webhook outbox with intent-to-receive.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import secrets
import urllib.parse
from typing import TYPE_CHECKING, Any, Callable

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from invoicebridge.sandbox_kit import (Concurrency, DemoOffer, Faults, IdempotencyStore, KeyReused, Limiter, OAuthError, Outbox,
                                       RequestLog, SandboxKnobs, Window, basic_credentials)

from . import sandbox_render as r

if TYPE_CHECKING:
    from .sandbox_identity import Identity
    from .sandbox_state import SandboxState

IDEMPOTENCY_WINDOW = dt.timedelta(minutes=6)
# fact sheet §10: per tenant 60 a minute, 5,000 a day, 5 at once; app-wide across all tenants 10,000 a minute
MINUTE_LIMIT, DAY_LIMIT, CONCURRENT_LIMIT, APP_MINUTE_LIMIT = 60, 5000, 5, 10000
APP = "*app*"  # the limiter key of the app-wide window
WEBHOOK_RESOURCE_BASE = "https://api.xero.com/api.xro/2.0"


class XeroError(Exception):
    def __init__(self, status: int, body: Any = None, *, content_type: str = "application/json", headers=None) -> None:
        self.status, self.body, self.content_type, self.headers = status, body, content_type, headers or {}

    def response(self) -> Response:
        if self.body is None:
            return Response(b"", status_code=self.status, media_type=self.content_type, headers=self.headers)
        if isinstance(self.body, bytes):
            return Response(self.body, status_code=self.status, media_type=self.content_type, headers=self.headers)
        return json_response(self.status, self.body, self.headers)


def json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(r.to_json(payload), status_code=status, media_type="application/json", headers=headers)


class XeroFrame(SandboxKnobs):
    """Mixed into :class:`~.sandbox.XeroSandbox`, which provides ``clock``, ``state`` and ``identity``."""

    clock: Callable[[], dt.datetime]
    state: SandboxState
    identity: Identity

    def _init_frame(self, webhook_key: str, webhook_url: str, webhook_transport) -> None:
        now = lambda: self.clock()  # noqa: E731 (tests swap ``clock``: every part reads the current one)
        self.concurrency = Concurrency(CONCURRENT_LIMIT)
        self.limiter = Limiter(clock=now, concurrency=self.concurrency, count_rejected=True)
        self.limiter.add("day", Window(DAY_LIMIT, 86400))
        self.limiter.add("minute", Window(MINUTE_LIMIT, 60))
        # X-AppMinLimit-Remaining counts the app's calls to every organisation (fact sheet §10), not one tenant's
        self.limiter.add("app-minute", Window(APP_MINUTE_LIMIT, 60), key=lambda tenant: APP)
        self.faults = Faults()
        self.log = RequestLog(clock=now)
        self.idempotency = IdempotencyStore(clock=now, window=IDEMPOTENCY_WINDOW)
        self.webhook_key = webhook_key
        self.outbox = Outbox(clock=now, signer=lambda body: {"x-xero-signature": self._sign(body)},
                             transport=webhook_transport, timeout=5.0)
        self.webhook_url = webhook_url
        self.auto_deliver = True  # after console actions
        self.deliveries: list[dict[str, Any]] = []
        self.event_sequence = 0

    def frame_routes(self) -> list[Route]:
        # The identity spec's path is /Connections; the API answers both casings (issue #14).
        return [
            Route("/identity/connect/authorize", self._authorize, methods=["GET"]),
            Route("/identity/connect/token", self._token, methods=["POST"]),
            Route("/identity/connect/revocation", self._revoke, methods=["POST"]),
            *[Route(f"/{name}", self._connections, methods=["GET"]) for name in ("Connections", "connections")],
            *[Route(f"/{name}/{{connection_id}}", self._delete_connection, methods=["DELETE"])
              for name in ("Connections", "connections")],
        ]

    # ---- the Sandbox protocol (invoicebridge.core.sandboxes) ------------------------------------------------

    name = "xero"
    mount_path = "/sandbox/xero"

    def seed(self) -> None:
        self.state.seed_demo()

    def reset(self) -> None:
        """Start empty: a new organisation, no grants, limits, log or queued webhooks."""
        keep = (self.identity.client_id, self.identity.clients[self.identity.client_id], self.webhook_key,
                self.webhook_url, self.webhook_transport, self.clock)
        self.__init__(client_id=keep[0], client_secret=keep[1], webhook_key=keep[2], webhook_url=keep[3],  # type: ignore[misc]  # XeroSandbox's __init__ again
                      webhook_transport=keep[4], clock=keep[5], seed=None)

    def demo_offer(self, *, public_url: str, transport, secrets: dict[str, str]) -> DemoOffer:
        from .config import sandbox_config

        base = f"{public_url}{self.mount_path}"
        self.webhook_key = secrets.setdefault("xero_webhook_key", self.webhook_key)
        self.webhook_url = f"{public_url}/webhooks/xero"
        self.webhook_transport = transport
        client_id = self.identity.client_id
        credentials = {"client_id": client_id, "client_secret": self.identity.clients[client_id]}
        config = {**sandbox_config(base), **credentials, "webhook_key": self.webhook_key}
        return DemoOffer(config=config, connect="oauth", info={
            "base_url": base, "console_url": f"{base}/", "api_base": config["api_base"], **credentials,
            "webhook_key": self.webhook_key, "tenant_id": self.state.tenant_id},
            mapping={"account_code": "200"},  # the demo company's Sales account
            label="Xero", console_hint="approve, pay, void as the Xero user")

    # ---- knobs tests use ----------------------------------------------------------------------------------

    @property
    def webhook_transport(self):
        return self.outbox.transport

    @webhook_transport.setter
    def webhook_transport(self, transport) -> None:
        self.outbox.transport = transport

    @property
    def rejected(self) -> list[tuple[dt.datetime, str]]:
        return [(x.at, x.problem) for x in self.limiter.rejected]

    def force_rate_limit(self, problem: str = "minute", *, times: int = 1, retry_after: int | None = 7) -> None:
        """Answer the next ``times`` API calls with 429 (problem: minute, day or concurrent)."""
        self.limiter.force(problem, times=times, retry_after=retry_after)

    def issue_tokens(self, *, user_id: str | None = None, scope: str = "") -> dict[str, Any]:
        """Connect as a user without the browser round trip (what the authorize + token exchange produce)."""
        user = user_id or self.state.users[0]["UserID"]
        code = self.identity.issue_code(client_id=self.identity.client_id, redirect_uri="urn:test", user_id=user,
                                        scope=scope or "offline_access accounting.invoices accounting.contacts "
                                                       "accounting.settings.read", challenge="")
        return self.identity.exchange_code(self.identity.client_id, {"code": code, "redirect_uri": "urn:test"})

    # ---- identity -----------------------------------------------------------------------------------------

    async def _authorize(self, request: Request) -> Response:
        q = request.query_params
        redirect_uri = q.get("redirect_uri", "")
        try:
            if q.get("response_type") != "code":
                raise OAuthError("invalid_request", "response_type=code is required")
            user = q.get("login_hint_user") or self.state.users[0]["UserID"]
            code = self.identity.authorize(client_id=q.get("client_id", ""), redirect_uri=redirect_uri,
                                           scope=q.get("scope", ""), user_id=user,
                                           code_challenge=q.get("code_challenge", ""),
                                           code_challenge_method=q.get("code_challenge_method", "S256"))
        except OAuthError as exc:
            return HTMLResponse(f"<h1>Sandbox authorize error</h1><p>{exc.error}</p>", status_code=400)
        sep = "&" if "?" in redirect_uri else "?"
        query = urllib.parse.urlencode({"code": code, "scope": q.get("scope", ""), "state": q.get("state", "")})
        return RedirectResponse(f"{redirect_uri}{sep}{query}", status_code=302)

    async def _token(self, request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        try:
            client_id = self.identity.authenticate_client(basic_credentials(request.headers.get("authorization", "")), form)
            grant = form.get("grant_type")
            if grant == "authorization_code":
                return json_response(200, self.identity.exchange_code(client_id, form))
            if grant == "refresh_token":
                return json_response(200, self.identity.refresh(client_id, form.get("refresh_token", ""))[1])
            raise OAuthError("unsupported_grant_type")
        except OAuthError as exc:
            return json_response(400, {"error": exc.error, **({"error_description": exc.description} if exc.description else {})})

    async def _revoke(self, request: Request) -> Response:
        form = await request.form()
        self.identity.revoke(str(form.get("token", "")))
        return Response(status_code=200)

    def _grant(self, request: Request):
        try:
            return self.identity.grant_of(request.headers.get("authorization", ""))
        except PermissionError as exc:
            raise XeroError(401, r.problem(401, "Unauthorized", str(exc))) from None

    async def _connections(self, request: Request) -> Response:
        try:
            grant = self._grant(request)
        except XeroError as exc:
            return exc.response()
        return json_response(200, self.identity.connection_rows(grant, request.query_params.get("authEventId")))

    async def _delete_connection(self, request: Request) -> Response:
        try:
            grant = self._grant(request)
        except XeroError as exc:
            return exc.response()
        return Response(status_code=204 if self.identity.disconnect(grant, request.path_params["connection_id"]) else 404)

    # ---- the API frame: auth, tenant, scopes, limits, faults, idempotency ----------------------------------

    def api(self, handler: Callable) -> Callable:
        async def endpoint(request: Request) -> Response:
            tenant = request.headers.get("xero-tenant-id", "")
            self.log.add(request.method, request.url.path)
            try:
                grant = self._grant(request)
                if tenant != self.state.tenant_id or not self.identity.organisation_allowed(grant, tenant):
                    raise XeroError(403, r.problem(403, "Forbidden", "AuthenticationUnsuccessful"))
                request.state.scopes = set(grant.scopes)
                request.state.app = grant.client_id
                refusal = self.limiter.check(tenant)
                if refusal is not None:
                    headers = {"X-Rate-Limit-Problem": refusal.problem, **self._limit_headers(tenant)}
                    if refusal.retry_after is not None and refusal.problem != "concurrent":
                        headers["Retry-After"] = str(refusal.retry_after)
                    return Response(b"", status_code=429, headers=headers)
                status = self.faults.take()
                if status is not None:
                    return json_response(status, {"Title": "An error occurred", "Status": status,
                                                  "Detail": "An unhandled error with the Xero API"}, self._limit_headers(tenant))
                with self.concurrency.hold(tenant):
                    response = await self._idempotent(request, handler)
            except XeroError as exc:
                response = exc.response()
            response.headers.update(self._limit_headers(tenant))
            return response

        return endpoint

    def _limit_headers(self, tenant: str) -> dict[str, str]:
        return {"X-MinLimit-Remaining": str(self.limiter.remaining("minute", tenant)),
                "X-DayLimit-Remaining": str(self.limiter.remaining("day", tenant)),
                "X-AppMinLimit-Remaining": str(self.limiter.remaining("app-minute", tenant))}

    async def _idempotent(self, request: Request, handler: Callable) -> Response:
        key = request.headers.get("idempotency-key")
        if not key or request.method not in ("PUT", "POST", "PATCH"):
            return await handler(request)
        if len(key) > self.idempotency.max_key_length:
            raise XeroError(400, r.validation_error([], "Idempotency Key must be at most 128 characters long."))

        async def answer() -> Response:
            try:
                return await handler(request)
            except XeroError as exc:  # errors are replayed too
                return exc.response()

        try:
            return await self.idempotency.run(key, request, answer)
        except KeyReused:
            raise XeroError(400, r.validation_error([], f"Idempotency Key: {key} is used with a different request.")) from None

    # ---- outgoing webhooks ----------------------------------------------------------------------------------

    def _sign(self, body: bytes, key: str | None = None) -> str:
        digest = hmac.new((key or self.webhook_key).encode(), body, hashlib.sha256).digest()
        return base64.b64encode(digest).decode()

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
        events = [{
            "resourceUrl": f"{WEBHOOK_RESOURCE_BASE}/{'Invoices' if e['category'] == 'INVOICE' else 'Contacts'}/{e['resource_id']}",
            "resourceId": e["resource_id"], "eventDateUtc": e["at"].strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3],
            "eventType": e["type"], "eventCategory": e["category"], "tenantId": self.state.tenant_id,
            "tenantType": "ORGANISATION"} for e in batch]
        body = json.dumps({"events": events, "firstEventSequence": first, "lastEventSequence": self.event_sequence,
                           "entropy": secrets.token_hex(10)}).encode()
        outcome = await self.outbox.post(self.webhook_url, body, {})
        status = outcome if isinstance(outcome, int) else 0
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
            headers = {} if good else {"x-xero-signature": self._sign(body, key=secrets.token_hex(8))}
            outcome = await self.outbox.post(self.webhook_url, body, headers)
            ok = ok and outcome == (200 if good else 401)
        return ok
