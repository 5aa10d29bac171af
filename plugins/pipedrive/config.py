"""App-level Pipedrive settings from ``runtime.backend_config("pipedrive")``, with Pipedrive's defaults."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import attrs

from invoicebridge.core.connector import OAuthApp

DEFAULT_AUTHORIZE_URL = "https://oauth.pipedrive.com/oauth/authorize"
DEFAULT_TOKEN_URL = "https://oauth.pipedrive.com/oauth/token"
DEFAULT_API_BASE = "https://api.pipedrive.com"


def oauth_app(raw: dict[str, str]) -> OAuthApp:
    """The one OAuth app of the plugin: the configured endpoints (Pipedrive's by default; the revocation endpoint
    next to the token endpoint unless named), HTTP Basic client authentication."""
    token_url = raw.get("token_url") or DEFAULT_TOKEN_URL
    return OAuthApp(client_id=raw.get("client_id", ""), client_secret=raw.get("client_secret", ""), token_url=token_url,
                    authorize_url=raw.get("authorize_url") or DEFAULT_AUTHORIZE_URL,
                    revoke_url=raw.get("revoke_url") or token_url.rsplit("/", 1)[0] + "/revoke",
                    auth_method="client_secret_basic")


@attrs.frozen
class PipedriveConfig:
    oauth: OAuthApp = attrs.field(factory=lambda: oauth_app({}))  # client id and secret, and the endpoints
    # The API's base for API-token connections, which Pipedrive gives no api_domain (default: the company's own
    # domain). OAuth connections always use their token answer's api_domain, "the base URL path … where the
    # requests can be sent to" (fact sheet §2): the demo's sandbox names itself there, no override needed.
    api_base: str = ""
    webhook_user: str = ""
    webhook_password: str = ""
    jwt_secret: str = ""

    @classmethod
    def from_runtime(cls, runtime: Any) -> "PipedriveConfig":
        raw = {k: str(v) for k, v in runtime.backend_config("pipedrive").items() if v is not None and v != ""}
        known = {a.name for a in attrs.fields(cls)} - {"oauth"}
        return cls(oauth=oauth_app(raw), **{k: v for k, v in raw.items() if k in known})

    @property
    def panel_secret(self) -> str:
        """Pipedrive signs extension JWTs with the JWT secret, which defaults to the client secret."""
        return self.jwt_secret or self.oauth.client_secret


def base_url(cfg: PipedriveConfig, settings: Any) -> str:
    """Where the API of a connection lives: an OAuth connection's ``api_domain``; for an API-token connection the
    configured ``api_base``, else its company's domain."""
    settings = settings or {}
    if settings.get("api_domain") and settings.get("auth") != "token":
        base = settings["api_domain"]
    else:
        base = cfg.api_base or settings.get("api_domain") or DEFAULT_API_BASE
    return str(base).rstrip("/")


def company_domain(settings: Any) -> str:
    """The company's subdomain (``acme`` in acme.pipedrive.com) from the connection settings."""
    settings = settings or {}
    if settings.get("company_domain"):
        return str(settings["company_domain"])
    host = urlsplit(str(settings.get("api_domain", ""))).hostname or ""
    return host.split(".")[0] if host.endswith(".pipedrive.com") else ""
