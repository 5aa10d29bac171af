"""Authentication: API tokens in ``x-api-token``, and OAuth 2.0 (authorize, code exchange, refresh, revoke) on
the connector kit.

Token endpoint calls use HTTP Basic auth with the app's client id and secret, and a form-encoded body, as
Pipedrive documents (the kit builds them with Authlib). Access tokens live 60 minutes; the kit's
:class:`~invoicebridge.core.connector.TokenKeeper` refreshes them shortly before expiry and once more on a 401,
and saves the new tokens before using them.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from invoicebridge.core.connector import Connector, OAuthApp, TokenKeeper, revoke_token, token_request
from invoicebridge.core.connector import token_secrets as kit_token_secrets
from invoicebridge.core.errors import AuthError, ConfigurationError

from .i18n import _

from .config import PipedriveConfig

EXPIRY_MARGIN = 60.0  # seconds before expiry at which we refresh
LIFETIME = 3599.0


def authorize_url(cfg: PipedriveConfig, redirect_uri: str, state: str) -> str:
    """Pipedrive's authorize URL takes only these three parameters (fact sheet §1.3)."""
    if not cfg.oauth.client_id:
        raise ConfigurationError(_("Pipedrive OAuth needs client_id and client_secret in the pipedrive config; "
                                   "create an app in Pipedrive's Developer Hub (see plugins/pipedrive/README.md)"))
    app = cfg.oauth
    return f"{app.authorize_url}?{urlencode({'client_id': app.client_id, 'redirect_uri': redirect_uri, 'state': state})}"


def oauth_app(cfg: PipedriveConfig) -> OAuthApp:
    """The config's OAuth app, once it has the credentials the token endpoint needs."""
    if not (cfg.oauth.client_id and cfg.oauth.client_secret):
        raise ConfigurationError(_("Pipedrive OAuth needs client_id and client_secret in the pipedrive config"))
    return cfg.oauth


RECONNECT = "Pipedrive refused the connection's credentials (%(error)s); reconnect Pipedrive on the Connections page"


def token_secrets(payload: dict[str, Any], now: Any, previous: dict[str, Any] | None = None) -> dict[str, Any]:
    """What we store from a token response (the refresh token may be omitted on refresh: keep the old one)."""
    if not payload.get("access_token"):
        raise AuthError(_("Pipedrive's token endpoint answered without an access token; reconnect Pipedrive"),
                        backend="pipedrive")
    return kit_token_secrets(payload, now, previous, lifetime=LIFETIME, keep=("scope",))


async def exchange_code(connector: Connector, cfg: PipedriveConfig, code: str, redirect_uri: str) -> dict[str, Any]:
    return await token_request(connector, oauth_app(cfg), "authorization_code", reconnect=RECONNECT, code=code,
                               redirect_uri=redirect_uri)


async def revoke(connector: Connector, cfg: PipedriveConfig, token: str, hint: str = "refresh_token") -> None:
    """Revoking the refresh token uninstalls the app for the company (Pipedrive answers 200 even if invalid)."""
    await revoke_token(connector, oauth_app(cfg), token, hint)


def keeper(runtime: Any, connection: Any, connector: Connector, cfg: PipedriveConfig) -> TokenKeeper:
    """Pipedrive sends the same refresh token back (no rotation), and may move the company to another API host."""

    async def on_refresh(payload: dict[str, Any], secrets: dict[str, Any]) -> None:
        settings = runtime.store.get_connection(connection.id).settings
        if payload.get("api_domain") and payload["api_domain"] != settings.get("api_domain"):
            await runtime.update_settings(connection, {**settings, "api_domain": payload["api_domain"]})

    return TokenKeeper(runtime, connection, connector, oauth_app(cfg), reconnect=RECONNECT,
                       expiry_buffer=EXPIRY_MARGIN, lifetime=LIFETIME, keep=("scope",), on_refresh=on_refresh)
