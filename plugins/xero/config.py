"""App-level Xero settings from ``runtime.backend_config("xero")``; real hosts by default."""

from __future__ import annotations

from typing import Any, Mapping

from attrs import frozen

GRANULAR_SCOPES = "offline_access accounting.invoices accounting.contacts accounting.settings.read"
BROAD_SCOPES = "offline_access accounting.transactions accounting.contacts accounting.settings.read"
DEFAULTS = {
    "authorize_url": "https://login.xero.com/identity/connect/authorize",
    "token_url": "https://identity.xero.com/connect/token",
    "revoke_url": "https://identity.xero.com/connect/revocation",
    "connections_url": "https://api.xero.com/connections",
    "api_base": "https://api.xero.com/api.xro/2.0",
    "deep_link_base": "https://go.xero.com",
}
KEYS = ("client_id", "client_secret", "webhook_key", "scopes", *DEFAULTS)


@frozen
class XeroConfig:
    client_id: str = ""
    client_secret: str = ""
    webhook_key: str = ""
    scopes: str = GRANULAR_SCOPES
    authorize_url: str = DEFAULTS["authorize_url"]
    token_url: str = DEFAULTS["token_url"]
    revoke_url: str = DEFAULTS["revoke_url"]
    connections_url: str = DEFAULTS["connections_url"]
    api_base: str = DEFAULTS["api_base"]
    deep_link_base: str = DEFAULTS["deep_link_base"]

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> "XeroConfig":
        data = {k: str(v) for k, v in values.items() if k in KEYS and v not in (None, "")}
        scopes = data.get("scopes", "granular").strip()
        data["scopes"] = {"granular": GRANULAR_SCOPES, "broad": BROAD_SCOPES, "legacy": BROAD_SCOPES}.get(
            scopes.lower(), " ".join(scopes.replace(",", " ").split())
        )
        for url_key in DEFAULTS:
            if url_key in data:
                data[url_key] = data[url_key].rstrip("/")
        return cls(**data)

    @classmethod
    def from_runtime(cls, runtime: Any) -> "XeroConfig":
        return cls.from_mapping(runtime.backend_config("xero"))


def sandbox_config(base_url: str, **extra: Any) -> dict[str, Any]:
    """Config keys pointing the client at a Xero sandbox served at ``base_url`` (e.g. ``…/sandbox/xero``)."""
    base = base_url.rstrip("/")
    return {
        "authorize_url": f"{base}/identity/connect/authorize",
        "token_url": f"{base}/identity/connect/token",
        "revoke_url": f"{base}/identity/connect/revocation",
        "connections_url": f"{base}/connections",
        "api_base": f"{base}/api.xro/2.0",
        "deep_link_base": base,
        **extra,
    }
