"""OAuth 2.0 for the connector kit: the app's client credentials, the authorization URL (with PKCE), token
requests (code exchange, refresh, revocation) and the :class:`TokenKeeper` of one connection.

The request mechanics come from Authlib (``prepare_grant_uri``, ``prepare_token_request`` and its ``ClientAuth``
for HTTP Basic, form or public-client authentication); the requests go through the connection's
:class:`~.connector.Connector`, so they get its HTTP client, retry policy and error mapping.

The keeper refreshes ahead of expiry under one ``asyncio.Lock`` per connection, so two tasks never spend the same
refresh token (a service that rotates it would refuse the loser with ``invalid_grant``). It saves a mark before
the refresh and the rotated refresh token before it returns the new access token: a crash can never leave us
holding only a dead refresh token. A refresh whose answer was lost is resent with the same refresh token, which
the service keeps accepting for its ``grace`` period. A refused grant raises :class:`ReconnectNeeded`.
"""

from __future__ import annotations

import asyncio
import inspect
import datetime as dt
import json
from typing import Any, Awaitable, Callable, Iterable

import attrs
from authlib.common.urls import url_encode
from authlib.oauth2.auth import ClientAuth
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri, prepare_token_request

from ..errors import AuthError, BackendError, ReconnectNeeded

REFUSED_GRANTS = frozenset({"invalid_grant", "invalid_client", "unauthorized_client"})


@attrs.frozen
class OAuthApp:
    """The app registered with the service. ``auth_method``: ``client_secret_basic`` (the default with a
    secret), ``client_secret_post`` or ``none`` (a public PKCE client: ``client_id`` in the form)."""

    client_id: str
    client_secret: str = ""
    token_url: str = ""
    authorize_url: str = ""
    revoke_url: str = ""
    auth_method: str = ""

    @property
    def method(self) -> str:
        return self.auth_method or ("client_secret_basic" if self.client_secret else "none")


def authorization_url(app: OAuthApp, *, redirect_uri: str, state: str, scope: str = "", code_challenge: str = "",
                      **extra: str) -> str:
    """Where to send the browser; ``code_challenge`` is the S256 PKCE challenge (none when empty)."""
    params: dict[str, str] = dict(extra)
    if code_challenge:
        params |= {"code_challenge": code_challenge, "code_challenge_method": "S256"}
    return prepare_grant_uri(app.authorize_url, app.client_id, "code", redirect_uri=redirect_uri,
                             scope=scope or None, state=state, **params)


def _json(content: bytes) -> dict[str, Any]:
    try:
        data = json.loads(content) if content else {}
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


async def token_request(connector: Any, app: OAuthApp, grant_type: str, *, reconnect: str, url: str = "",
                        retry: Any = None, **fields: str) -> dict[str, Any]:
    """POST a grant to the token endpoint (or ``url``) and return the JSON answer. A refused grant raises
    :class:`ReconnectNeeded` with the plugin's ``reconnect`` message (``%(error)s``: the OAuth error code); other
    failures the dialect's error."""
    body = prepare_token_request(grant_type, **{k: v for k, v in fields.items() if v})
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
    target, headers, body = ClientAuth(app.client_id, app.client_secret, app.method).prepare(
        "POST", url or app.token_url, headers, body)
    response = await connector.request("POST", target, authorize=False, limited=False, headers=headers,
                                       content=body, passthrough=(400, 401), retry=retry)
    payload = _json(response.content)
    if response.status_code >= 400:
        if payload.get("error") in REFUSED_GRANTS:
            raise ReconnectNeeded(reconnect % {"error": payload["error"]}, backend=connector.dialect.backend, method="POST", url=target,
                                  status=response.status_code, detail=str(payload["error"]))
        raise connector.dialect.error_for(response) or BackendError(
            reconnect % {"error": response.status_code}, backend=connector.dialect.backend)
    return payload


async def revoke_token(connector: Any, app: OAuthApp, token: str, hint: str = "") -> None:
    """RFC 7009 revocation of ``token`` at the app's revocation endpoint."""
    body = url_encode([("token", token)] + ([("token_type_hint", hint)] if hint else []))
    target, headers, body = ClientAuth(app.client_id, app.client_secret, app.method).prepare(
        "POST", app.revoke_url, {"Content-Type": "application/x-www-form-urlencoded"}, body)
    await connector.request("POST", target, authorize=False, limited=False, headers=headers, content=body)


def expires_at(secrets: dict[str, Any]) -> float:
    """The stored expiry as epoch seconds (an ISO 8601 time stored by older versions is read too)."""
    raw = secrets.get("expires_at") or 0
    if isinstance(raw, str):
        try:
            return dt.datetime.fromisoformat(raw).timestamp()
        except ValueError:
            return 0.0
    return float(raw)


def token_secrets(payload: dict[str, Any], now: dt.datetime, previous: dict[str, Any] | None = None, *,
                  lifetime: float = 1800.0, keep: Iterable[str] = ()) -> dict[str, Any]:
    """What is stored from a token answer: the access token, the refresh token (the previous one when the service
    sent none), ``expires_at`` in epoch seconds, and the answer's fields named in ``keep``."""
    previous = dict(previous or {})
    out = {
        **previous,
        "access_token": payload.get("access_token", ""),
        "refresh_token": payload.get("refresh_token") or previous.get("refresh_token", ""),
        "expires_at": now.timestamp() + float(payload.get("expires_in") or lifetime),
    }
    out.update({k: payload[k] for k in keep if k in payload})
    return out


class TokenKeeper:
    """The access token of one connection, refreshed when needed and saved before it is used.

    ``reconnect``: the message of :class:`ReconnectNeeded` (``%(error)s``: what was refused); ``on_refresh(payload, secrets)``: the plugin's look at
    a token answer (e.g. a new API host), called after the tokens are saved.
    """

    MARK = "refresh_started_at"

    def __init__(self, runtime: Any, connection: Any, connector: Any, app: OAuthApp, *, reconnect: str,
                 expiry_buffer: float = 60.0, grace: float = 1800.0, lifetime: float = 1800.0,
                 keep: Iterable[str] = (), on_refresh: Callable[[dict, dict], Awaitable[None] | None] | None = None) -> None:
        self.runtime = runtime
        self.connection = connection
        self.connector = connector
        self.app = app
        self.reconnect = reconnect
        self.expiry_buffer = expiry_buffer
        self.grace = grace
        self.lifetime = lifetime
        self.keep = tuple(keep)
        self.on_refresh = on_refresh
        self.refreshes = 0

    @property
    def lock(self) -> asyncio.Lock:
        """One lock per connection (and event loop), shared by every keeper of it through ``runtime.cache``."""
        locks = self.runtime.cache.setdefault(("connector", "token-locks"), {})
        key = (self.connector.dialect.backend, self.connection.id, id(asyncio.get_running_loop()))
        return locks.setdefault(key, asyncio.Lock())

    def fresh(self, secrets: dict[str, Any]) -> bool:
        if secrets.get(self.MARK):
            return False  # a refresh was cut short (crash, lost answer): finish it while the old token still works
        if "expires_at" not in secrets:  # expiry unknown: use the token until the service refuses it
            return bool(secrets.get("access_token"))
        return bool(secrets.get("access_token")) and self.runtime.now().timestamp() < expires_at(secrets) - self.expiry_buffer

    async def token(self, *, stale: str | None = None) -> str:
        """A usable access token. ``stale``: a token the service just refused, renewed even if not yet expired."""
        secrets = self.runtime.secrets(self.connection)
        if self.fresh(secrets) and secrets["access_token"] != stale:
            return secrets["access_token"]
        async with self.lock:
            secrets = self.runtime.secrets(self.connection)  # another task may have refreshed meanwhile
            if self.fresh(secrets) and secrets["access_token"] != stale:
                return secrets["access_token"]
            return (await self.refresh(secrets))["access_token"]

    async def refresh(self, secrets: dict[str, Any]) -> dict[str, Any]:
        """Refresh now (the caller holds the lock); returns the saved secrets."""
        refresh_token = secrets.get("refresh_token") or ""
        if not refresh_token:
            raise ReconnectNeeded(self.reconnect % {"error": "no refresh token"}, backend=self.connector.dialect.backend)
        started = float(secrets.get(self.MARK) or 0) or self.runtime.now().timestamp()
        await self.runtime.save_secrets(self.connection, {**secrets, self.MARK: started})
        # within the grace period a lost answer may be resent with the same refresh token, whatever the method
        within_grace = self.runtime.now().timestamp() - started < self.grace
        retry = attrs.evolve(self.connector.retry, retry_methods=None) if within_grace else None
        payload = await token_request(self.connector, self.app, "refresh_token", reconnect=self.reconnect,
                                      refresh_token=refresh_token, retry=retry)
        if not payload.get("access_token"):
            raise AuthError(self.reconnect % {"error": "no access token"}, backend=self.connector.dialect.backend)
        updated = token_secrets(payload, self.runtime.now(), secrets, lifetime=self.lifetime, keep=self.keep)
        updated.pop(self.MARK, None)
        await self.runtime.save_secrets(self.connection, updated)  # the rotated refresh token is saved before any use
        self.refreshes += 1
        if self.on_refresh is not None:
            seen = self.on_refresh(payload, updated)
            if inspect.isawaitable(seen):  # a plugin that writes (settings) looks asynchronously
                await seen
        return updated
