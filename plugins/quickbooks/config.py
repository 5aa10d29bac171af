"""App-level QuickBooks settings from ``runtime.backend_config("quickbooks")``; Intuit's real hosts by default
(fact sheet §1.1, §2). ``environment``: ``production`` or ``sandbox`` (Intuit's own sandbox companies)."""

from __future__ import annotations

from typing import Any, Mapping

from attrs import frozen

SCOPES = "com.intuit.quickbooks.accounting openid email"
DEFAULTS = {
    "authorize_url": "https://appcenter.intuit.com/connect/oauth2",
    "token_url": "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer",
    "revoke_url": "https://developer.api.intuit.com/v2/oauth2/tokens/revoke",
    "api_base": "https://quickbooks.api.intuit.com",
    "deep_link_base": "https://app.qbo.intuit.com",
}
SANDBOX_HOSTS = {"api_base": "https://sandbox-quickbooks.api.intuit.com",
                 "deep_link_base": "https://app.sandbox.qbo.intuit.com"}
KEYS = ("client_id", "client_secret", "verifier_token", "scopes", "environment", "minor_version", *DEFAULTS)


@frozen
class QboConfig:
    client_id: str = ""
    client_secret: str = ""
    verifier_token: str = ""  # the webhook verifier token of the app (signs intuit-signature)
    scopes: str = SCOPES
    environment: str = "production"
    minor_version: str = "75"
    authorize_url: str = DEFAULTS["authorize_url"]
    token_url: str = DEFAULTS["token_url"]
    revoke_url: str = DEFAULTS["revoke_url"]
    api_base: str = DEFAULTS["api_base"]
    deep_link_base: str = DEFAULTS["deep_link_base"]

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> "QboConfig":
        data = {k: str(v) for k, v in values.items() if k in KEYS and v not in (None, "")}
        if data.get("environment") == "sandbox":
            data = {**SANDBOX_HOSTS, **data}
        for url_key in DEFAULTS:
            if url_key in data:
                data[url_key] = data[url_key].rstrip("/")
        data["scopes"] = " ".join(data.get("scopes", SCOPES).replace(",", " ").split())
        return cls(**data)

    @classmethod
    def from_runtime(cls, runtime: Any) -> "QboConfig":
        return cls.from_mapping(runtime.backend_config("quickbooks"))

    def company_url(self, realm_id: str, path: str) -> str:
        return f"{self.api_base}/v3/company/{realm_id}/{path.lstrip('/')}"


def sandbox_config(base_url: str, **extra: Any) -> dict[str, Any]:
    """Config keys pointing the client at the QBO sandbox served at ``base_url`` (e.g. ``…/sandbox/quickbooks``)."""
    base = base_url.rstrip("/")
    return {
        "authorize_url": f"{base}/connect/oauth2",
        "token_url": f"{base}/oauth2/v1/tokens/bearer",
        "revoke_url": f"{base}/oauth2/v1/tokens/revoke",
        "api_base": base,
        "deep_link_base": base,
        **extra,
    }
