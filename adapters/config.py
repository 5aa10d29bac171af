"""Application configuration from arguments and the environment.

Environment variables:

* ``INVOICEBRIDGE_DATA_DIR``: where the SQLite file, the secret key and demo.json live (default ``./data``).
* ``INVOICEBRIDGE_PUBLIC_URL``: the URL remote services use to reach us (OAuth redirects, webhooks).
* ``INVOICEBRIDGE_ADMIN_PASSWORD``: the admin password (otherwise set on first visit, with the one-time setup
  code that ``serve`` prints or ``invoicebridge setup-code`` gives).
* ``INVOICEBRIDGE_TRUSTED_PROXIES``: comma-separated addresses (or networks) of reverse proxies whose
  ``X-Forwarded-For``/``X-Forwarded-Proto`` headers are believed; empty (the default) believes no one.
* ``INVOICEBRIDGE_SECRET_KEY``: the Fernet key for secrets at rest (otherwise generated into the data dir).
* ``INVOICEBRIDGE_SYNC_INTERVAL``: seconds between reconciliation passes (default 300; 0 turns it off).
* ``INVOICEBRIDGE_<BACKEND>_<KEY>``: settings for a backend plugin, e.g. ``INVOICEBRIDGE_<BACKEND>_CLIENT_ID``,
  ``INVOICEBRIDGE_<BACKEND>_CLIENT_SECRET``, ``INVOICEBRIDGE_<BACKEND>_WEBHOOK_KEY`` … (the backend is the plugin's
  name, upper-cased; the key is lower-cased: ``client_id``); each plugin's README lists its keys.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

import attrs

PREFIX = "INVOICEBRIDGE_"
CORE_KEYS = {"DATA_DIR", "PUBLIC_URL", "ADMIN_PASSWORD", "SECRET_KEY", "SYNC_INTERVAL", "HOST", "PORT", "COOKIE_SECURE",
             "TRUSTED_PROXIES"}


@attrs.define
class AppConfig:
    data_dir: Path = attrs.field(converter=Path, default=Path("data"))
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str = ""
    admin_password: str | None = attrs.field(default=None, repr=False)
    sync_interval: float = 300.0
    cookie_secure: bool = False
    backends: dict[str, dict[str, Any]] = attrs.field(factory=dict, repr=False)
    demo: bool = False
    trusted_proxies: list[str] = attrs.field(factory=list)  # whose X-Forwarded-* headers we believe

    def __attrs_post_init__(self) -> None:
        if not self.public_url:
            self.public_url = f"http://{self.host}:{self.port}"
        self.public_url = self.public_url.rstrip("/")

    def uvicorn_options(self) -> dict[str, Any]:
        """How uvicorn treats forwarded headers: only from :attr:`trusted_proxies` (uvicorn's own default
        believes any loopback client, so anyone on the machine, or a proxy passing headers through, could claim
        any address)."""
        if not self.trusted_proxies:
            return {"proxy_headers": False, "forwarded_allow_ips": ""}
        return {"proxy_headers": True, "forwarded_allow_ips": list(self.trusted_proxies)}

    @property
    def db_path(self) -> Path:
        return self.data_dir / "invoicebridge.db"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> "AppConfig":
        env = dict(os.environ if env is None else env)
        backends: dict[str, dict[str, Any]] = {}
        for name, value in env.items():
            if not name.startswith(PREFIX) or name[len(PREFIX):] in CORE_KEYS:
                continue
            backend, _, key = name[len(PREFIX):].partition("_")
            if key:
                backends.setdefault(backend.lower(), {})[key.lower()] = value
        values: dict[str, Any] = {
            "data_dir": env.get(PREFIX + "DATA_DIR", "data"),
            "host": env.get(PREFIX + "HOST", "127.0.0.1"),
            "port": int(env.get(PREFIX + "PORT", "8000")),
            "public_url": env.get(PREFIX + "PUBLIC_URL", ""),
            "admin_password": env.get(PREFIX + "ADMIN_PASSWORD") or None,
            "sync_interval": float(env.get(PREFIX + "SYNC_INTERVAL", "300")),
            "cookie_secure": env.get(PREFIX + "COOKIE_SECURE", "").lower() in ("1", "true", "yes"),
            "backends": backends,
            "trusted_proxies": [p.strip() for p in env.get(PREFIX + "TRUSTED_PROXIES", "").split(",") if p.strip()],
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)
