"""The Pipedrive sandbox's frame, built on the emulator kit: OAuth (authorize, token, revoke) with the app's
scopes, and around every API call the token check, scope check, rate limit and the request log.

Facts (fact sheet §2, §7.1; specs ``components.securitySchemes.oauth2`` and each operation's ``security``):
* the token answer's ``api_domain`` is "the base URL path … where the requests can be sent to": here, the
  sandbox's own mount URL, so a client that follows it reaches the sandbox without any override;
* the scopes an operation accepts are alternatives; a token holding none of them gets 403 "Scope and URL
  mismatch"; API tokens (not OAuth) carry the user's full access;
* the app's scopes are chosen when the app is registered, not in the authorize URL (:attr:`client_scopes`).
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any, Awaitable, Callable
from urllib.parse import urlencode

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from invoicebridge.sandbox_kit import AuthorizationServer, DemoOffer, OAuthError, TokenRejected, basic_credentials

from .sandbox_state import SandboxError, SandboxState

Handler = Callable[[Request, SandboxState], Awaitable[Any]]
ACCESS_LIFETIME = dt.timedelta(seconds=3599)
# The app's scopes in the sandbox's app registration: what invoicebridge needs (README of the plugin).
DEFAULT_SCOPES = ("base", "deals:full", "contacts:read", "products:read", "activities:full", "search:read", "admin")
# Accepted scopes per operation, from the specs' security blocks (v1 and v2).
SCOPES: dict[str, tuple[str, ...]] = {
    "getDeals": ("deals:read", "deals:full"), "getDeal": ("deals:read", "deals:full"), "updateDeal": ("deals:full",),
    "searchDeals": ("deals:read", "deals:full", "search:read"),
    "searchOrganization": ("contacts:read", "contacts:full", "search:read"),
    "getDealsProducts": ("products:read", "products:full", "deals:read", "deals:full"),
    "getDealProducts": ("products:read", "products:full", "deals:read", "deals:full"),
    "addDealProduct": ("products:full", "deals:full"), "getAdditionalDiscounts": ("deals:read", "deals:full"),
    "getOrganizations": ("contacts:read", "contacts:full"), "getOrganization": ("contacts:read", "contacts:full"),
    "getPersons": ("contacts:read", "contacts:full"), "getPerson": ("contacts:read", "contacts:full"),
    "getProducts": ("products:read", "products:full"), "getProduct": ("products:read", "products:full"),
    "getActivities": ("activities:read", "activities:full"), "getActivity": ("activities:read", "activities:full"),
    "addActivity": ("activities:full",), "updateActivity": ("activities:full",),
    "getCurrentUser": ("base",), "getCurrencies": ("base",),
    "getActivityTypes": ("activities:read", "activities:full", "admin"),
    "getNotes": ("deals:read", "deals:full", "contacts:read", "contacts:full"), "addNote": ("deals:full", "contacts:full"),
    "getWebhooks": ("admin",), "addWebhook": ("admin",), "deleteWebhook": ("admin",),
    "getFields:deal": ("deals:read", "deals:full", "deal-fields:full", "admin"),
    "getFields:organization": ("contacts:read", "contacts:full", "contact-fields:full", "admin"),
    "getFields:person": ("contacts:read", "contacts:full", "contact-fields:full", "admin"),
    "deleteField:deal": ("deal-fields:full", "admin"),
    "deleteField:organization": ("contact-fields:full", "admin"), "deleteField:person": ("contact-fields:full", "admin"),
}


def accepted_scopes(operation: str, path: str) -> tuple[str, ...]:
    if operation in ("getFields", "deleteField"):
        entity = path.rsplit("Fields", 1)[0].rsplit("/", 1)[-1]
        operation = f"{operation}:{entity}"
    return SCOPES.get(operation, ("admin",))


def _fail(status: int, message: str, info: str = "Please check developers.pipedrive.com") -> JSONResponse:
    return JSONResponse({"success": False, "error": message, "error_info": info, "data": None,
                         "additional_data": None}, status_code=status)


def new_oauth(state: SandboxState, client_scopes: dict[str, tuple[str, ...]]) -> AuthorizationServer:
    """Pipedrive's authorization server: opaque tokens, 60-minute access, a refresh token that stays the same
    (fact sheet §2), comma-separated scopes."""
    return AuthorizationServer(
        clock=state.now, clients=state.oauth_clients, access_lifetime=ACCESS_LIFETIME, rotate_refresh=False,
        scope_separator=",", mint=lambda grant, now, expires: "v1u:" + secrets.token_urlsafe(24),
        mint_refresh=lambda grant: f"{state.company_id}:{grant.user_id}:" + secrets.token_hex(16))


def api(operation: str, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        s: SandboxState = request.app.state.sandbox
        s.log.add(request.method, request.url.path, operation)
        token = request.headers.get("x-api-token", "")
        bearer = request.headers.get("authorization", "")
        grant = None
        if bearer.lower().startswith("bearer "):
            try:
                grant = s.oauth.validate(bearer[7:].strip())
                ok = True
            except TokenRejected:
                ok = False
        else:
            ok = s.token_ok(token or request.query_params.get("api_token", ""), bearer=False) if (
                token or request.url.path.startswith(("/v1", "/api/v1"))) else False
        status, headers = s.charge(operation)
        if not ok:
            return JSONResponse({"success": False, "error": "unauthorized access", "errorCode": 401,
                                 "error_info": "Please check developers.pipedrive.com"}, status_code=401,
                                headers={**headers, "x-401-by-gw": "true"})
        if status == 403:  # the firewall's page, not the API's JSON
            return HTMLResponse("<html><head><title>Attention Required! | Cloudflare</title></head><body>"
                                "<h1>Sorry, you have been blocked</h1></body></html>", status_code=403)
        if status == 429:
            return JSONResponse({"success": False, "error": "Request over limit",
                                 "error_info": "Please check developers.pipedrive.com"}, status_code=429,
                                headers=headers)
        if grant is not None and not s.oauth.allows(grant, accepted_scopes(operation, request.url.path)):
            # fact sheet §2 (OAuth API errors): 403 "Scope and URL mismatch"
            response = _fail(403, "Scope and URL mismatch")
            response.headers.update(headers)
            return response
        try:
            result = await handler(request, s)
        except SandboxError as exc:
            response = _fail(exc.status, exc.message, exc.info or "Please check developers.pipedrive.com")
            response.headers.update(headers)
            return response
        if isinstance(result, Response):
            result.headers.update(headers)
            return result
        code, body = result if isinstance(result, tuple) else (200, result)
        response = JSONResponse(body, status_code=code, headers=headers)
        if s.auto_deliver_api_changes and s.outbox:
            response.background = BackgroundTask(s.deliver_webhooks)
        return response
    return endpoint


def _mount_url(request: Request) -> str:
    """Where this sandbox answers: scheme and host plus the mount's root path (``base_url`` is the server's root)."""
    return f"{request.url.scheme}://{request.url.netloc}{request.scope.get('root_path', '')}".rstrip("/")


async def oauth_authorize(request: Request) -> Response:
    s: SandboxState = request.app.state.sandbox
    q = request.query_params
    client_id = q.get("client_id", "")
    try:
        scopes = s.client_scopes.get(client_id, DEFAULT_SCOPES)
        code = s.oauth.authorize(client_id=client_id, redirect_uri=q.get("redirect_uri", ""), scope=",".join(scopes),
                                 user_id=str(s.user["id"]), code_challenge=q.get("code_challenge", ""),
                                 code_challenge_method=q.get("code_challenge_method", "S256"))
    except OAuthError:
        return JSONResponse({"success": False, "error": "Invalid client_id or redirect_uri"}, status_code=400)
    redirect_uri = q["redirect_uri"]
    query = urlencode({"code": code, "state": q.get("state", "")})
    return RedirectResponse(f"{redirect_uri}{'&' if '?' in redirect_uri else '?'}{query}", status_code=302)


async def oauth_token(request: Request) -> Response:
    s: SandboxState = request.app.state.sandbox
    form = {k: str(v) for k, v in (await request.form()).items()}
    try:
        client_id = s.oauth.authenticate_client(basic_credentials(request.headers.get("authorization", "")), {})
    except OAuthError:
        return JSONResponse({"success": False, "error": "Invalid client credentials"}, status_code=401)
    try:
        if form.get("grant_type") == "authorization_code":
            _, tokens = s.oauth.exchange(client_id, form)
        elif form.get("grant_type") == "refresh_token":
            _, tokens = s.oauth.refresh(client_id, form.get("refresh_token", ""))
        else:
            return JSONResponse({"success": False, "error": "Unsupported grant type"}, status_code=400)
    except OAuthError as exc:
        return JSONResponse({"success": False, "error": f"Invalid grant: {exc.description or exc.error}"}, status_code=400)
    tokens["api_domain"] = _mount_url(request)
    return JSONResponse(tokens)


async def oauth_revoke(request: Request) -> Response:
    s: SandboxState = request.app.state.sandbox
    try:
        s.oauth.authenticate_client(basic_credentials(request.headers.get("authorization", "")), {})
    except OAuthError:
        return JSONResponse({"success": False, "error": "Invalid client credentials"}, status_code=401)
    form = await request.form()
    s.oauth.revoke(str(form.get("token", "")))
    return Response(status_code=200)


def oauth_routes() -> list[Route]:
    return [Route("/oauth/authorize", oauth_authorize), Route("/oauth/token", oauth_token, methods=["POST"]),
            Route("/oauth/revoke", oauth_revoke, methods=["POST"])]


class PipedriveSandbox:
    """The :class:`~invoicebridge.core.sandboxes.Sandbox` the plugin offers: the app, its state and the demo
    settings (OAuth through the sandbox, whose token answer names the API's base)."""

    name = "pipedrive"
    mount_path = "/sandbox/pipedrive"
    client_id, client_secret = "sandbox-client", "sandbox-secret"

    def __init__(self, clock: Callable[[], dt.datetime]) -> None:
        self._clock = clock
        self.reset()

    def reset(self) -> None:
        from .sandbox import create_sandbox

        self.app = create_sandbox(clock=self._clock, oauth_clients={self.client_id: self.client_secret})

    async def __call__(self, scope, receive, send) -> None:
        await self.app(scope, receive, send)

    @property
    def state(self):
        """The app's state, as for ``create_sandbox()``: ``.state.sandbox`` is the :class:`SandboxState`."""
        return self.app.state

    def seed(self) -> None:
        self.state.sandbox.seed_demo()

    def demo_offer(self, *, public_url: str, transport, secrets: dict[str, str]) -> DemoOffer:
        import secrets as random

        base = f"{public_url}{self.mount_path}"
        self.state.sandbox.delivery_transport = transport
        webhook_password = secrets.setdefault("pipedrive_webhook_password", random.token_urlsafe(24))
        jwt_secret = secrets.setdefault("pipedrive_jwt_secret", random.token_urlsafe(32))
        config = {"client_id": self.client_id, "client_secret": self.client_secret,
                  "authorize_url": f"{base}/oauth/authorize", "token_url": f"{base}/oauth/token",
                  "revoke_url": f"{base}/oauth/revoke", "webhook_user": "invoicebridge",
                  # API-token connections only (they get no api_domain); OAuth follows the token answer's
                  "api_base": base,
                  "webhook_password": webhook_password, "jwt_secret": jwt_secret}
        token = sorted(self.state.sandbox.api_tokens)[0] if self.state.sandbox.api_tokens else ""
        deals = sorted(self.state.sandbox.deals.values(), key=lambda d: d["id"])
        suggested = next((d for d in deals if d.get("org_id") and self.state.sandbox.lines_of(d["id"])), deals[0] if deals else None)
        return DemoOffer(config=config, connect="oauth", info={
            "base_url": base, "console_url": f"{base}/", "api_base": base, "api_token": token,
            "webhook_user": config["webhook_user"], "webhook_password": webhook_password},
            hints={"suggested_record": str(suggested["id"]) if suggested else ""},
            mapping={"tax_number": "organization.custom:VAT number"},  # the seeded organisations' VAT field
            label="Pipedrive", console_hint="win a deal")
