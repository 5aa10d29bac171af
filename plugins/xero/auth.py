"""OAuth 2.0 with Xero: authorize URL (state + PKCE), code exchange, refresh, revoke, and an ``httpx.Auth``
that keeps the access token fresh.

Refresh happens 60 s before expiry under one ``asyncio.Lock`` per connection (kept in ``runtime.cache``),
so two tasks never spend the same refresh token (Xero rotates it; the loser would get ``invalid_grant``).
The rotated refresh token is saved with ``runtime.save_secrets`` BEFORE the new access token is used, so a
crash right after a refresh never leaves us holding only a dead refresh token.
"""

from __future__ import annotations

import asyncio
import urllib.parse
from typing import Any, AsyncGenerator

import httpx

from invoicebridge.core.i18n import _
from invoicebridge.core.errors import AuthError

from .config import XeroConfig
from .converter import TokenSet, loads, structure
from .transport import call

EXPIRY_BUFFER = 60.0  # seconds before expiry at which we refresh (the official SDK does the same)


def authorize_url(config: XeroConfig, *, redirect_uri: str, state: str, code_challenge: str, scopes: str = "") -> str:
    params = {
        "response_type": "code",
        "client_id": config.client_id,
        "redirect_uri": redirect_uri,
        "scope": scopes or config.scopes,
        "state": state,
    }
    if code_challenge:
        params |= {"code_challenge": code_challenge, "code_challenge_method": "S256"}
    return f"{config.authorize_url}?{urllib.parse.urlencode(params, quote_via=urllib.parse.quote)}"


def _client_auth(config: XeroConfig, form: dict[str, str]) -> dict[str, Any]:
    """HTTP Basic for a confidential app; ``client_id`` in the form for a PKCE app without a secret."""
    if config.client_secret:
        return {"auth": httpx.BasicAuth(config.client_id, config.client_secret), "data": form}
    return {"data": {**form, "client_id": config.client_id}}


async def _token_request(runtime: Any, config: XeroConfig, form: dict[str, str]) -> TokenSet:
    async with runtime.http_client("xero") as http:
        response = await call(runtime, http, "POST", config.token_url, headers={"Accept": "application/json"},
                              **_client_auth(config, form))
    tokens = structure(loads(response.content), TokenSet)
    if not tokens.access_token:
        raise AuthError(_("Xero's token endpoint answered without an access token; reconnect Xero"), backend="xero")
    return tokens


async def exchange_code(runtime: Any, config: XeroConfig, *, code: str, redirect_uri: str, code_verifier: str) -> TokenSet:
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
    if code_verifier:
        form["code_verifier"] = code_verifier
    return await _token_request(runtime, config, form)


async def refresh_tokens(runtime: Any, config: XeroConfig, refresh_token: str) -> TokenSet:
    if not refresh_token:
        raise AuthError(_("The Xero connection has no refresh token; reconnect Xero on the Connections page"), backend="xero")
    return await _token_request(runtime, config, {"grant_type": "refresh_token", "refresh_token": refresh_token})


async def revoke(runtime: Any, config: XeroConfig, refresh_token: str) -> None:
    async with runtime.http_client("xero") as http:
        await call(runtime, http, "POST", config.revoke_url, **_client_auth(config, {"token": refresh_token}))


def token_secrets(tokens: TokenSet, runtime: Any, previous: dict[str, Any] | None = None) -> dict[str, Any]:
    """What we store: ``access_token``, ``refresh_token`` (kept from before if Xero sent none) and
    ``expires_at`` (epoch seconds)."""
    previous = previous or {}
    return {
        **previous,
        "access_token": tokens.access_token,
        "refresh_token": tokens.refresh_token or previous.get("refresh_token", ""),
        "expires_at": runtime.now().timestamp() + float(tokens.expires_in or 1800),
    }


class TokenKeeper:
    """The access token of one connection, refreshed when needed."""

    def __init__(self, runtime: Any, connection: Any, config: XeroConfig) -> None:
        self.runtime = runtime
        self.connection = connection
        self.config = config
        self.lock: asyncio.Lock = runtime.cache.setdefault(("xero", "token-lock", connection.id), asyncio.Lock())

    def _fresh(self, secrets: dict[str, Any]) -> bool:
        if secrets.get("refresh_started_at"):
            return False  # a refresh was cut short (crash, dropped answer): finish it within Xero's grace period
        expires_at = float(secrets.get("expires_at") or 0)
        return bool(secrets.get("access_token")) and self.runtime.now().timestamp() < expires_at - EXPIRY_BUFFER

    async def token(self, *, stale: str | None = None) -> str:
        """A usable access token. ``stale``: a token Xero just refused, refreshed even if not yet expired."""
        secrets = self.runtime.secrets(self.connection)
        if self._fresh(secrets) and secrets["access_token"] != stale:
            return secrets["access_token"]
        async with self.lock:
            secrets = self.runtime.secrets(self.connection)  # another task may have refreshed meanwhile
            if self._fresh(secrets) and secrets["access_token"] != stale:
                return secrets["access_token"]
            # Xero rotates the refresh token when it answers; if we die before saving the answer, the one we
            # hold stays usable for 30 minutes only. The mark makes the next process refresh at once, not
            # when the access token expires (by then the old refresh token is dead: "reconnect Xero").
            self.runtime.save_secrets(self.connection, {**secrets, "refresh_started_at": self.runtime.now().timestamp()})
            tokens = await refresh_tokens(self.runtime, self.config, secrets.get("refresh_token", ""))
            updated = token_secrets(tokens, self.runtime, secrets)
            updated.pop("refresh_started_at", None)
            self.runtime.save_secrets(self.connection, updated)  # persist the rotated refresh token first
            return updated["access_token"]


class XeroAuth(httpx.Auth):
    """Bearer auth that refreshes ahead of expiry, and once more if Xero says the token expired."""

    requires_response_body = True

    def __init__(self, keeper: TokenKeeper) -> None:
        self.keeper = keeper

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        token = await self.keeper.token()
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401 and b"TokenExpired" in response.content:
            token = await self.keeper.token(stale=token)
            request.headers["Authorization"] = f"Bearer {token}"
            yield request

    def sync_auth_flow(self, request: httpx.Request):  # pragma: no cover - the plugin is async only
        raise RuntimeError("XeroAuth works with httpx.AsyncClient only")
