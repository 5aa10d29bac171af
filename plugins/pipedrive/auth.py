"""Authentication: API tokens in ``x-api-token``, and OAuth 2.0 (authorize, code exchange, refresh, revoke).

Token endpoint calls use HTTP Basic auth with the app's client id and secret, and a form-encoded body, as
Pipedrive documents. Access tokens live 60 minutes; :class:`PipedriveAuth` refreshes them shortly before
expiry and once more on a 401, and persists the new tokens through a callback.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, AsyncGenerator, Awaitable, Callable
from urllib.parse import urlencode

import httpx

from invoicebridge.core.i18n import _
from invoicebridge.core.errors import AuthError, ConfigurationError, TransportError

from .config import PipedriveConfig
from .errors import error_for_response

EXPIRY_MARGIN = dt.timedelta(seconds=60)


def authorize_url(cfg: PipedriveConfig, redirect_uri: str, state: str) -> str:
    if not cfg.client_id:
        raise ConfigurationError(_("Pipedrive OAuth needs client_id and client_secret in the pipedrive config; "
                                   "create an app in Pipedrive's Developer Hub (see plugins/pipedrive/README.md)"))
    return f"{cfg.authorize_url}?{urlencode({'client_id': cfg.client_id, 'redirect_uri': redirect_uri, 'state': state})}"


def token_secrets(payload: dict[str, Any], now: dt.datetime, previous: dict[str, Any] | None = None) -> dict[str, Any]:
    """What we store from a token response (the refresh token may be omitted on refresh: keep the old one)."""
    previous = previous or {}
    if not payload.get("access_token"):
        raise AuthError(_("Pipedrive's token endpoint answered without an access token; reconnect Pipedrive"),
                        backend="pipedrive")
    expires_in = float(payload.get("expires_in") or 3599)
    return {
        "access_token": payload["access_token"],
        "refresh_token": payload.get("refresh_token") or previous.get("refresh_token", ""),
        "expires_at": (now + dt.timedelta(seconds=expires_in)).isoformat(),
        "scope": payload.get("scope", previous.get("scope", "")),
    }


async def _token_call(client: httpx.AsyncClient, cfg: PipedriveConfig, url: str, form: dict[str, str]) -> httpx.Response:
    if not (cfg.client_id and cfg.client_secret):
        raise ConfigurationError(_("Pipedrive OAuth needs client_id and client_secret in the pipedrive config"))
    try:
        response = await client.post(url, data=form, auth=httpx.BasicAuth(cfg.client_id, cfg.client_secret))
    except httpx.HTTPError as exc:
        raise TransportError(_("Could not reach Pipedrive's OAuth server: %(error)s") % {"error": exc}, backend="pipedrive",
                             method="POST", url=url) from exc
    if response.status_code >= 400:
        raise error_for_response(response, what="The OAuth grant")
    return response


async def exchange_code(client: httpx.AsyncClient, cfg: PipedriveConfig, code: str, redirect_uri: str) -> dict[str, Any]:
    response = await _token_call(client, cfg, cfg.token_url,
                                 {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri})
    return response.json()


async def refresh(client: httpx.AsyncClient, cfg: PipedriveConfig, refresh_token: str) -> dict[str, Any]:
    if not refresh_token:
        raise AuthError(_("The Pipedrive connection has no refresh token; reconnect Pipedrive"), backend="pipedrive")
    response = await _token_call(client, cfg, cfg.token_url,
                                 {"grant_type": "refresh_token", "refresh_token": refresh_token})
    return response.json()


async def revoke(client: httpx.AsyncClient, cfg: PipedriveConfig, token: str, hint: str = "refresh_token") -> None:
    """Revoking the refresh token uninstalls the app for the company (Pipedrive answers 200 even if invalid)."""
    await _token_call(client, cfg, cfg.effective_revoke_url, {"token": token, "token_type_hint": hint})


class PipedriveAuth(httpx.Auth):
    """``x-api-token`` for API tokens; ``Bearer`` for OAuth with refresh before expiry and once on a 401."""

    def __init__(self, secrets: dict[str, Any], *, now: Callable[[], dt.datetime],
                 refresher: Callable[[dict[str, Any]], Awaitable[dict[str, Any]]] | None = None) -> None:
        self.secrets = dict(secrets)
        self.now = now
        self.refresher = refresher

    @property
    def is_oauth(self) -> bool:
        return not self.secrets.get("api_token") and bool(self.secrets.get("access_token"))

    def _expired(self) -> bool:
        raw = self.secrets.get("expires_at")
        if not raw:
            return False
        return dt.datetime.fromisoformat(raw) - EXPIRY_MARGIN <= self.now()

    def _apply(self, request: httpx.Request) -> None:
        if self.secrets.get("api_token"):
            request.headers["x-api-token"] = self.secrets["api_token"]
        elif self.secrets.get("access_token"):
            request.headers["Authorization"] = f"Bearer {self.secrets['access_token']}"
        else:
            raise AuthError(_("The Pipedrive connection has no API token or access token; reconnect Pipedrive"),
                            backend="pipedrive")

    async def _refresh(self) -> None:
        assert self.refresher is not None
        self.secrets = await self.refresher(self.secrets)

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        if self.is_oauth and self.refresher and self._expired():
            await self._refresh()
        self._apply(request)
        response = yield request
        if response.status_code == 401 and self.is_oauth and self.refresher:
            await self._refresh()
            self._apply(request)
            yield request

    def sync_auth_flow(self, request):  # pragma: no cover - the plugin is async only
        raise RuntimeError("PipedriveAuth works with httpx.AsyncClient only")
