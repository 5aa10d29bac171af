"""A QuickBooks Online emulator for tests and the demo: ``create_sandbox(...)`` returns an ASGI app you can mount.

Mounted at ``/sandbox/quickbooks`` it answers the Accounting API at ``…/v3/company/{realmId}/…``, Intuit's OAuth
endpoints at ``…/connect/oauth2`` (auto-approves), ``…/oauth2/v1/tokens/bearer`` and ``…/oauth2/v1/tokens/revoke``,
payment links at ``…/pay/{token}``, the app's deep link ``…/app/invoice?txnId=`` and a console at ``…/`` where a
person acts as the QBO user (receive a payment, void, delete, email), each change queuing a signed CloudEvents
webhook. Behaviour follows the fact sheet §10; state is :attr:`QboSandbox.state`, time the injectable ``clock``.
"""

from __future__ import annotations

import datetime as dt
import json
import urllib.parse
from decimal import Decimal
from typing import Any, Callable

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from invoicebridge.sandbox_kit import Faults, OAuthError, RequestLog, SandboxKnobs, basic_credentials

from . import sandbox_faults as f
from .sandbox_coverage import NOT_EMULATED, NOT_EMULATED_ROUTES
from .qbotime import pacific
from .sandbox_api import Api
from .sandbox_limits import Limits
from .sandbox_oauth import IntuitOAuth
from .sandbox_pdf import invoice_pdf
from .sandbox_seed import seed as seed_state
from .sandbox_state import QboState
from .sandbox_webhooks import Outbox

REQUEST_ID_MAX, BATCH_REQUEST_ID_MAX = 50, 36


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value) if value != value.to_integral_value() or "." in str(value) else int(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def to_json(payload: Any) -> bytes:
    return json.dumps(payload, default=_default, separators=(",", ":"), ensure_ascii=False).encode()


class QboSandbox(SandboxKnobs):
    """The emulator: an ASGI app plus the state and knobs tests use."""

    def __init__(self, *, clock: Callable[[], dt.datetime] = utcnow, client_id: str = "sandbox-client",
                 client_secret: str = "sandbox-secret", verifier_token: str = "sandbox-verifier",
                 webhook_url: str = "", webhook_transport: httpx.AsyncBaseTransport | None = None,
                 seed: str | None = "demo", realm_id: str = "9341455555555555") -> None:
        self.clock = clock
        self.state = QboState(clock=clock, realm_id=realm_id)
        if seed:
            seed_state(self.state, seed)
        self.api = Api(self.state)
        now = lambda: self.clock()  # noqa: E731 (every part reads the sandbox's current clock)
        self.oauth = IntuitOAuth(clock=now, client_id=client_id, client_secret=client_secret)
        self.limits = Limits(now)
        self.outbox = Outbox(self.state, clock=now, verifier_token=verifier_token, url=webhook_url,
                             transport=webhook_transport)
        self.faults = Faults()
        self.log = RequestLog(clock=now)
        self.auto_deliver = True  # after console actions
        self.request_ids: dict[str, tuple[int, bytes, str]] = {}  # requestid -> (status, body, content type)
        from .sandbox_console import console_routes

        base = "/v3/company/{realm}"
        api = [
            Route(f"{base}/companyinfo/{{entity_id}}", self._company_info, methods=["GET"]),
            Route(f"{base}/preferences", self._preferences, methods=["GET"]),
            Route(f"{base}/query", self._query, methods=["GET", "POST"]),
            Route(f"{base}/batch", self._batch, methods=["POST"]),
            Route(f"{base}/cdc", self._cdc, methods=["GET"]),
            Route(f"{base}/invoice/{{entity_id}}/pdf", self._pdf, methods=["GET"]),
            Route(f"{base}/invoice/{{entity_id}}/send", self._send, methods=["POST"]),
            *[Route(f"{base}{path}", self._not_emulated(key), methods=[method]) for method, path, key in NOT_EMULATED_ROUTES],
            Route(f"{base}/{{entity}}/{{entity_id}}", self._read, methods=["GET"]),
            Route(f"{base}/{{entity}}", self._write, methods=["POST"]),
            Route(f"{base}/{{rest:path}}", self._unknown, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),  # a Fault
        ]
        routes = [
            Route("/connect/oauth2", self._authorize, methods=["GET"]),
            Route("/oauth2/v1/tokens/bearer", self._token, methods=["POST"]),
            Route("/oauth2/v1/tokens/revoke", self._revoke, methods=["POST"]),
            *[Route(rt.path, self._guard(rt.endpoint), methods=list(rt.methods or [])) for rt in api],
            *console_routes(self),
        ]
        self.app = Starlette(routes=routes)

    async def __call__(self, scope, receive, send) -> None:
        await self.app(scope, receive, send)

    # ---- the Sandbox protocol (invoicebridge.core.sandboxes) ------------------------------------------------

    name = "quickbooks"
    mount_path = "/sandbox/quickbooks"

    def seed(self) -> None:
        seed_state(self.state, "demo")

    def reset(self) -> None:
        """Start empty: a new company, no grants, limits, request ids or queued webhooks."""
        QboSandbox.__init__(self, clock=self.clock, client_id=self.oauth.client_id, client_secret=self.oauth.client_secret,
                             verifier_token=self.outbox.verifier_token, webhook_url=self.outbox.url,
                             webhook_transport=self.outbox.transport, seed=None, realm_id=self.realm_id)

    def demo_offer(self, *, public_url: str, transport: Any, secrets: dict[str, str]) -> Any:
        """Point the sandbox at the demo and say how to connect (OAuth) and what demo.json shows."""
        from invoicebridge.core.sandboxes import DemoOffer

        from .config import sandbox_config

        base = f"{public_url}{self.mount_path}"
        self.outbox.verifier_token = secrets.setdefault("quickbooks_verifier_token", self.outbox.verifier_token)
        self.outbox.url = f"{public_url}/webhooks/quickbooks"
        self.outbox.transport = transport
        self.api.link_base = base
        credentials = {"client_id": self.oauth.client_id, "client_secret": self.oauth.client_secret}
        config = {**sandbox_config(base), **credentials, "verifier_token": self.outbox.verifier_token}
        # connected only when the demo is asked for it (one accounting connection at a time)
        return DemoOffer(config=config, connect="oauth", hints={"on_request": True}, info={
            "base_url": base, "console_url": f"{base}/", "api_base": config["api_base"], **credentials,
            "verifier_token": self.outbox.verifier_token, "realm_id": self.realm_id},
            mapping={"account_code": "200"},  # the demo company's Sales income account
            label="QuickBooks", console_hint="receive payments, void, delete as the QuickBooks user")

    # ---- test helpers ----------------------------------------------------------------------------------

    @property
    def realm_id(self) -> str:
        return self.state.realm_id

    def issue_tokens(self, scope: str = "com.intuit.quickbooks.accounting openid") -> dict[str, Any]:
        """Connect without the browser round trip (what authorize + the code exchange produce)."""
        code = self.oauth.issue_code(client_id=self.oauth.client_id, redirect_uri="urn:test", scope=scope,
                                     realm_id=self.realm_id)
        return self.oauth.exchange(self.oauth.client_id, {"code": code, "redirect_uri": "urn:test"})

    async def deliver_webhooks(self) -> list[int | str]:
        return await self.outbox.deliver()

    # ---- envelope ------------------------------------------------------------------------------------------

    def respond(self, status: int, payload: dict[str, Any]) -> Response:
        body = to_json({**payload, "time": pacific(self.clock())})
        return Response(body, status_code=status, media_type="application/json",
                        headers={"intuit_tid": f"1-{self.state.next_id('tid')}-sandbox"})

    def fault(self, fault: f.QboFault) -> Response:
        return self.respond(fault.status, {"Fault": fault.body()})

    # ---- identity -----------------------------------------------------------------------------------------

    async def _authorize(self, request: Request) -> Response:
        q = request.query_params
        redirect_uri = q.get("redirect_uri", "")
        try:
            if q.get("response_type") != "code" or not redirect_uri:
                raise OAuthError("invalid_request", "response_type=code and redirect_uri are required")
            code = self.oauth.issue_code(client_id=q.get("client_id", ""), redirect_uri=redirect_uri,
                                         scope=q.get("scope", ""), realm_id=self.realm_id)
        except OAuthError as exc:
            return HTMLResponse(f"<h1>Sandbox authorize error</h1><p>{exc.error}</p>", status_code=400)
        sep = "&" if "?" in redirect_uri else "?"
        query = urllib.parse.urlencode({"code": code, "state": q.get("state", ""), "realmId": self.realm_id})
        return RedirectResponse(f"{redirect_uri}{sep}{query}", status_code=302)

    async def _token(self, request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        try:
            client_id = self.oauth.authenticate(basic_credentials(request.headers.get("authorization", "")), form)
            grant = form.get("grant_type")
            if grant == "authorization_code":
                answer = self.oauth.exchange(client_id, form)
            elif grant == "refresh_token":
                answer = self.oauth.refresh(client_id, form)
            else:
                raise OAuthError("unsupported_grant_type")
        except OAuthError as exc:
            error = {"error": exc.error, **({"error_description": exc.description} if exc.description else {})}
            return Response(to_json(error), status_code=exc.status, media_type="application/json")
        return Response(to_json(answer), media_type="application/json",
                        headers={"intuit_tid": f"1-{self.state.next_id('tid')}-sandbox"})

    async def _revoke(self, request: Request) -> Response:
        """JSON ``{"token": …}`` (Intuit's Python client) or ``token=`` form-encoded (the Java SDK)."""
        raw = await request.body()
        try:
            self.oauth.authenticate(basic_credentials(request.headers.get("authorization", "")), {})
        except OAuthError:
            return Response(to_json({"error": "invalid_client"}), status_code=401, media_type="application/json")
        if "json" in request.headers.get("content-type", ""):
            token = str((json.loads(raw or b"{}") or {}).get("token", ""))
        else:
            token = urllib.parse.parse_qs(raw.decode()).get("token", [""])[0]
        self.oauth.revoke(token)
        return Response(status_code=200)

    # ---- the guard around every API call: auth, realm, limits, requestid ---------------------------------------

    def _guard(self, handler: Callable) -> Callable:
        async def endpoint(request: Request) -> Response:
            self.log.add(request.method, request.url.path)
            token = request.headers.get("authorization", "")
            realm = self.oauth.bearer(token[7:]) if token.lower().startswith("bearer ") else None
            if realm is None:
                detail = "Token expired: " + token[7:17] if token else "Authorization header missing"
                body = f.authentication_body(detail, int(self.clock().timestamp() * 1000))
                return Response(to_json(body), status_code=401, media_type="application/json")
            if request.path_params.get("realm") != realm or realm != self.realm_id:
                return self.fault(f.QboFault("3100", "ApplicationAuthorizationFailed",
                                             "message=ApplicationAuthorizationFailed; errorCode=003100; statusCode=403",
                                             status=403, type="AuthorizatonFault"))  # sic: the XSD enum's spelling
            status = self.faults.take()
            if status is not None:
                return self.fault(f.QboFault("10000", "An application error has occurred while processing your "
                                             "request", "System Failure Error", status=status, type="SystemFault"))
            batch = request.url.path.endswith("/batch")
            rejected = self.limits.admit(self.realm_id, batch=batch)
            if rejected:
                return Response(f.throttle_xml(pacific(self.clock())), status_code=429, media_type="application/xml")
            with self.limits.hold(self.realm_id):
                request_id = request.query_params.get("requestid", "")
                if request_id:
                    limit = BATCH_REQUEST_ID_MAX if batch else REQUEST_ID_MAX
                    if len(request_id) > limit:
                        return self.fault(f.business(
                            f"You cannot enter more than {limit} characters in the request_id field. You tried "
                            f"entering {request_id}, which is {len(request_id)} characters."))
                    if request_id in self.request_ids:  # replay the first answer (fact sheet §2.3)
                        status, first, ctype = self.request_ids[request_id]
                        return Response(first, status_code=status, media_type=ctype)
                try:
                    response = await handler(request)
                except f.QboFault as fault:
                    response = self.fault(fault)
                if request_id and request.method == "POST":
                    self.request_ids[request_id] = (response.status_code, bytes(response.body),
                                                    response.media_type or "application/json")
                return response
        return endpoint

    # ---- handlers -------------------------------------------------------------------------------------------

    @staticmethod
    async def _json_body(request: Request) -> Any:
        raw = await request.body()
        try:
            return json.loads(raw.decode("utf-8"), parse_float=Decimal) if raw else {}
        except UnicodeDecodeError:
            raise f.QboFault("500", "Unsupported Operation", "Invalid byte 1 of 1-byte UTF-8 sequence.") from None
        except json.JSONDecodeError as exc:
            raise f.QboFault("2010", "Request has invalid or unsupported property", f"Malformed JSON: {exc}") from None

    async def _company_info(self, request: Request) -> Response:
        if request.path_params["entity_id"] != self.realm_id:
            raise f.not_found("CompanyInfo", request.path_params["entity_id"])
        return self.respond(200, {"CompanyInfo": self.api.company_info()})

    async def _preferences(self, request: Request) -> Response:
        return self.respond(200, {"Preferences": self.api.preferences()})

    def _not_emulated(self, key: tuple[str, str]) -> Callable:
        async def endpoint(request: Request) -> Response:
            raise f.not_emulated(f"{key[0]} {key[1]}", NOT_EMULATED[key])
        return endpoint

    async def _unknown(self, request: Request) -> Response:
        raise f.unsupported(f"Unsupported operation: {request.method} {request.url.path}")

    async def _read(self, request: Request) -> Response:
        entity = self.api.entity(request.path_params["entity"])
        row = self.api.read(entity, request.path_params["entity_id"], include=request.query_params.get("include", ""))
        return self.respond(200, {entity: row})

    async def _write(self, request: Request) -> Response:
        entity = self.api.entity(request.path_params["entity"])
        q = request.query_params
        row = self.api.write(entity, await self._json_body(request), operation=q.get("operation", ""),
                             include=q.get("include", ""))
        return self.respond(200, {entity: row})

    async def _query(self, request: Request) -> Response:
        if request.method == "POST":
            text = (await request.body()).decode("utf-8", "replace")
        else:
            text = request.query_params.get("query", "")
        return self.respond(200, {"QueryResponse": self.api.query(text)})

    async def _batch(self, request: Request) -> Response:
        return self.respond(200, {"BatchItemResponse": self.api.batch(await self._json_body(request))})

    async def _cdc(self, request: Request) -> Response:
        q = request.query_params
        return self.respond(200, {"CDCResponse": [self.api.cdc(q.get("entities", ""), q.get("changedSince", ""))]})

    async def _send(self, request: Request) -> Response:
        row = self.api.send(request.path_params["entity_id"], request.query_params.get("sendTo", ""))
        return self.respond(200, {"Invoice": row})

    async def _pdf(self, request: Request) -> Response:
        row = self.state.read("Invoice", request.path_params["entity_id"])
        customer = self.state.get("Customer", row["CustomerRef"]["value"]) or {}
        return Response(invoice_pdf(self.state, row, customer), media_type="application/pdf")


def create_sandbox(**options: Any) -> QboSandbox:
    return QboSandbox(**options)
