"""OAuth 2.0 with Xero on the connector kit: authorize URL (state + PKCE), code exchange, revoke, and the
connection's token keeper.

The kit's :class:`~invoicebridge.core.connector.TokenKeeper` refreshes 60 s before expiry under one lock per
connection (Xero rotates the refresh token; a second refresh with the old one would get ``invalid_grant``), saves
the rotated refresh token before the new access token is used, and resends a refresh whose answer was lost within
Xero's 30-minute grace for the old refresh token (fact sheet §1.2).
"""

from __future__ import annotations

from typing import Any

from invoicebridge.core.connector import Connector, OAuthApp, TokenKeeper, authorization_url, revoke_token, token_request
from invoicebridge.core.connector import token_secrets as kit_token_secrets
from invoicebridge.core.errors import AuthError

from .i18n import _

from .config import XeroConfig
from .converter import TokenSet, structure

EXPIRY_BUFFER = 60.0  # seconds before expiry at which we refresh (the official SDK does the same)
GRACE = 1800.0  # the old refresh token keeps working this long after a rotation (fact sheet §1.2)
LIFETIME = 1800.0  # an access token lives 30 minutes


def oauth_app(config: XeroConfig) -> OAuthApp:
    """HTTP Basic for a confidential app; ``client_id`` in the form for a PKCE app without a secret."""
    return OAuthApp(client_id=config.client_id, client_secret=config.client_secret, token_url=config.token_url,
                    authorize_url=config.authorize_url, revoke_url=config.revoke_url)


def reconnect_message() -> str:
    return _("Xero refused the connection's credentials (%(error)s); reconnect Xero on the Connections page")


def authorize_url(config: XeroConfig, *, redirect_uri: str, state: str, code_challenge: str, scopes: str = "") -> str:
    return authorization_url(oauth_app(config), redirect_uri=redirect_uri, state=state,
                             scope=scopes or config.scopes, code_challenge=code_challenge)


async def exchange_code(connector: Connector, config: XeroConfig, *, code: str, redirect_uri: str,
                        code_verifier: str) -> TokenSet:
    payload = await token_request(connector, oauth_app(config), "authorization_code", reconnect=reconnect_message(),
                                  code=code, redirect_uri=redirect_uri, code_verifier=code_verifier)
    tokens = structure(payload, TokenSet)
    if not tokens.access_token:
        raise AuthError(_("Xero's token endpoint answered without an access token; reconnect Xero"), backend="xero")
    return tokens


async def revoke(connector: Connector, config: XeroConfig, refresh_token: str) -> None:
    await revoke_token(connector, oauth_app(config), refresh_token)


def token_secrets(tokens: TokenSet, runtime: Any, previous: dict[str, Any] | None = None) -> dict[str, Any]:
    """What we store: ``access_token``, ``refresh_token`` (kept from before if Xero sent none) and
    ``expires_at`` (epoch seconds)."""
    payload = {"access_token": tokens.access_token, "refresh_token": tokens.refresh_token,
               "expires_in": tokens.expires_in}
    return kit_token_secrets(payload, runtime.now(), previous, lifetime=LIFETIME)


def keeper(runtime: Any, connection: Any, connector: Connector, config: XeroConfig) -> TokenKeeper:
    return TokenKeeper(runtime, connection, connector, oauth_app(config), reconnect=reconnect_message(),
                       expiry_buffer=EXPIRY_BUFFER, grace=GRACE, lifetime=LIFETIME)
