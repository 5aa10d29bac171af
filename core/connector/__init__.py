"""The connector kit: what a plugin needs to talk to a remote HTTP API well, in one place.

* :class:`Connector` — the request loop of one connection: limiter, token, send, pacing, error mapping through
  the plugin's :class:`Dialect`, retries; one kept-open ``httpx.AsyncClient`` (:func:`connector_for`,
  :func:`close_connectors`).
* :class:`TokenKeeper`, :class:`OAuthApp`, :func:`authorization_url`, :func:`token_request`,
  :func:`revoke_token` — OAuth 2.0 on Authlib's request mechanics.
* :class:`RetryPolicy` — which failures to retry, after how long.
* :class:`Limiter`, :class:`Budget` — concurrency, rolling windows, a daily count, and pacing from headers.

See "How a plugin uses the connector kit" in the README.
"""

from .connector import Connector, Dialect, close_connectors, connector_for
from .limiter import Budget, Limiter, seconds_to_utc_midnight
from .oauth import OAuthApp, TokenKeeper, authorization_url, expires_at, revoke_token, token_request, token_secrets
from .retry import IDEMPOTENT_METHODS, RetryDecision, RetryPolicy, proportional_jitter

__all__ = [
    "Budget", "Connector", "Dialect", "IDEMPOTENT_METHODS", "Limiter", "OAuthApp", "RetryDecision", "RetryPolicy",
    "TokenKeeper", "authorization_url", "close_connectors", "connector_for", "expires_at", "proportional_jitter",
    "revoke_token", "seconds_to_utc_midnight", "token_request", "token_secrets",
]
