"""What the demo needs from the Xero sandbox: the app settings pointing at it (OAuth through the sandbox's identity
server), its webhooks delivered to the app in-process, and what the demo lists for it."""

from __future__ import annotations

import secrets
from typing import Any

from invoicebridge.core import DemoBackend, hookimpl

from .config import sandbox_config

NAME = "xero"
CLIENT_ID, CLIENT_SECRET = "sandbox-client", "sandbox-secret"


@hookimpl
def invoicebridge_demo_backend(runtime: Any, name: str, sandbox: Any, public_url: str, transport: Any) -> DemoBackend | None:
    if name != NAME:
        return None
    base = f"{public_url.rstrip('/')}/sandbox/xero"
    webhook_key = secrets.token_urlsafe(32)
    config = {**sandbox_config(base), "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "webhook_key": webhook_key}
    sandbox.webhook_key = webhook_key
    sandbox.webhook_url = f"{public_url.rstrip('/')}/webhooks/xero"
    sandbox.webhook_transport = transport
    return DemoBackend(
        config=config,
        mapping={"account_code": "200"},  # the demo company's Sales account
        info={"base_url": base, "console_url": f"{base}/", "api_base": config["api_base"], "client_id": CLIENT_ID,
              "client_secret": CLIENT_SECRET, "webhook_key": webhook_key, "tenant_id": sandbox.tenant_id},
        label="Xero", console_hint="approve, pay, void as the Xero user")
