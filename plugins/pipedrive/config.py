"""App-level Pipedrive settings from ``runtime.backend_config("pipedrive")``, with Pipedrive's defaults."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import attrs

DEFAULT_AUTHORIZE_URL = "https://oauth.pipedrive.com/oauth/authorize"
DEFAULT_TOKEN_URL = "https://oauth.pipedrive.com/oauth/token"
DEFAULT_API_BASE = "https://api.pipedrive.com"


@attrs.frozen
class PipedriveConfig:
    client_id: str = ""
    client_secret: str = ""
    authorize_url: str = DEFAULT_AUTHORIZE_URL
    token_url: str = DEFAULT_TOKEN_URL
    revoke_url: str = ""
    # The API's base for API-token connections, which Pipedrive gives no api_domain (default: the company's own
    # domain). OAuth connections always use their token answer's api_domain, "the base URL path … where the
    # requests can be sent to" (fact sheet §2): the demo's sandbox names itself there, no override needed.
    api_base: str = ""
    webhook_user: str = ""
    webhook_password: str = ""
    jwt_secret: str = ""

    @classmethod
    def from_runtime(cls, runtime: Any) -> "PipedriveConfig":
        raw = runtime.backend_config("pipedrive")
        known = {a.name for a in attrs.fields(cls)}
        return cls(**{k: str(v) for k, v in raw.items() if k in known and v is not None and v != ""})

    @property
    def effective_revoke_url(self) -> str:
        if self.revoke_url:
            return self.revoke_url
        return self.token_url.rsplit("/", 1)[0] + "/revoke"

    @property
    def panel_secret(self) -> str:
        """Pipedrive signs extension JWTs with the JWT secret, which defaults to the client secret."""
        return self.jwt_secret or self.client_secret


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
