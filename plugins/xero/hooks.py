"""Hook implementations of the xero plugin: it registers :class:`XeroBackend` and mounts its sandbox."""

from __future__ import annotations

from invoicebridge.core import hookimpl

from .backend import NAME, XeroBackend
from .config import XeroConfig

SANDBOX_PREFIX = "/sandbox/xero"


@hookimpl
def invoicebridge_register_backends(register):
    register(XeroBackend)


@hookimpl
def invoicebridge_sandboxes(runtime):
    """The Xero sandbox, one instance per runtime, mounted at /sandbox/xero with webhooks to our receiver."""
    key = ("xero", "sandbox")
    sandbox = runtime.cache.get(key)
    if sandbox is None:
        from .sandbox import create_sandbox

        cfg = XeroConfig.from_runtime(runtime)
        sandbox = runtime.cache[key] = create_sandbox(
            client_id=cfg.client_id or "sandbox-client",
            client_secret=cfg.client_secret or "sandbox-secret",
            webhook_key=cfg.webhook_key or "sandbox-webhook-key",
            webhook_url=f"{runtime.public_url.rstrip('/')}/webhooks/xero",
            seed="demo",
        )
    return [(NAME, SANDBOX_PREFIX, sandbox)]
