"""The demo: one server with the Xero and Pipedrive sandboxes mounted, connected, seeded and mapped.

The sandboxes keep their state in memory, so each demo run starts from a fresh demo database (the secret key in
the data folder is kept). The app reaches the sandboxes in-process (``httpx.ASGITransport`` over the app
itself, so requests travel the same paths as over loopback), and the sandboxes deliver their webhooks to our
receivers the same way. Connecting goes through the real flows: Xero's OAuth authorization-code exchange (with
PKCE) and Pipedrive's API-token check.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from starlette.applications import Starlette
from starlette.routing import Mount

from invoicebridge.core.i18n import lazy_
from invoicebridge.core.mapping import DueDateRule, MappingConfig
from invoicebridge.core.model import Role
from invoicebridge.core.plugins import Plugins
from invoicebridge.core.store import Store, make_private_dir

from .app import create_app
from .config import AppConfig

DEMO_PASSWORD_BYTES = 9
PIPEDRIVE_TOKEN = "sandbox-token"


def demo_backend_config(public_url: str, store: Store) -> dict[str, dict[str, Any]]:
    from invoicebridge.plugins.xero.config import sandbox_config

    keys = store.app_secret_or_create("demo_keys", lambda: {
        "xero_webhook_key": secrets.token_urlsafe(32),
        "pipedrive_webhook_password": secrets.token_urlsafe(24),
        "pipedrive_jwt_secret": secrets.token_urlsafe(32),
    })
    return {
        "xero": {**sandbox_config(f"{public_url}/sandbox/xero"), "client_id": "sandbox-client", "client_secret": "sandbox-secret",
                 "webhook_key": keys["xero_webhook_key"]},
        "pipedrive": {"api_base": f"{public_url}/sandbox/pipedrive", "client_id": "sandbox-client", "client_secret": "sandbox-secret",
                      "authorize_url": f"{public_url}/sandbox/pipedrive/oauth/authorize", "token_url": f"{public_url}/sandbox/pipedrive/oauth/token",
                      "webhook_user": "invoicebridge", "webhook_password": keys["pipedrive_webhook_password"],
                      "jwt_secret": keys["pipedrive_jwt_secret"]},
    }


def build_demo(config: AppConfig, *, plugins: Plugins | None = None) -> tuple[Starlette, dict[str, Any]]:
    make_private_dir(config.data_dir)
    for suffix in ("", "-wal", "-shm"):  # the sandboxes live in memory: a kept database would point at nothing
        Path(f"{config.db_path}{suffix}").unlink(missing_ok=True)
    store = Store.open(config.db_path)
    password = config.admin_password or secrets.token_urlsafe(DEMO_PASSWORD_BYTES)
    config.admin_password = password
    backend = demo_backend_config(config.public_url, store)
    store.set_app_secret("backend_config", backend)
    app = create_app(config, store=store, plugins=plugins)
    runtime = app.state.runtime
    runtime.config.update(backend)
    transport = httpx.ASGITransport(app=app)
    runtime.transports.update({"xero": transport, "pipedrive": transport})

    sandboxes = {name: (prefix, sandbox) for name, prefix, sandbox in app.state.plugins.sandboxes(runtime)}
    for name, (prefix, sandbox) in sandboxes.items():
        # Unnamed mounts: the sandboxes use url_for on their own routes.
        app.router.routes.insert(0, Mount(prefix, app=sandbox))
    app.state.sandboxes = sandboxes
    xero = sandboxes["xero"][1]
    xero.webhook_key = backend["xero"]["webhook_key"]
    xero.webhook_url = f"{config.public_url}/webhooks/xero"
    xero.webhook_transport = transport
    pipedrive_state = sandboxes["pipedrive"][1].state.sandbox
    pipedrive_state.delivery_transport = transport

    api_key = store.create_api_key("demo")
    info: dict[str, Any] = {
        "app_url": config.public_url,
        "admin_password": password,
        "api_key": api_key,
        "data_dir": str(config.data_dir.resolve()),
        "demo_json": str((config.data_dir / "demo.json").resolve()),
        "xero": {"base_url": f"{config.public_url}/sandbox/xero", "console_url": f"{config.public_url}/sandbox/xero/",
                 "api_base": backend["xero"]["api_base"], "client_id": "sandbox-client", "client_secret": "sandbox-secret",
                 "webhook_key": backend["xero"]["webhook_key"], "tenant_id": xero.tenant_id},
        "pipedrive": {"base_url": f"{config.public_url}/sandbox/pipedrive", "console_url": f"{config.public_url}/sandbox/pipedrive/",
                      "api_base": backend["pipedrive"]["api_base"], "api_token": PIPEDRIVE_TOKEN,
                      "webhook_user": backend["pipedrive"]["webhook_user"], "webhook_password": backend["pipedrive"]["webhook_password"]},
        "suggested_deal": _suggested_deal(pipedrive_state),
    }

    async def connect(app: Starlette) -> None:
        await connect_demo(app, config)

    app.state.startup_hooks.append(connect)
    demo_json = config.data_dir / "demo.json"  # holds the password and keys: never readable by others, not even briefly
    with os.fdopen(os.open(demo_json, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as fh:
        fh.write(json.dumps(info, indent=2))
    demo_json.chmod(0o600)
    return app, info


def _suggested_deal(state: Any) -> str:
    deals = sorted(state.deals.values(), key=lambda d: d["id"]) if isinstance(getattr(state, "deals", None), dict) else []
    for deal in deals:
        if deal.get("org_id") and state.lines_of(deal["id"]):
            return str(deal["id"])
    return str(deals[0]["id"]) if deals else "1"


async def connect_demo(app: Starlette, config: AppConfig) -> None:
    """Connect both sandboxes through the real flows and preset the mapping."""
    runtime = app.state.runtime
    plugins = app.state.plugins
    store = runtime.store
    if store.active_connection(Role.ACCOUNTING) is None:
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        redirect_uri = f"{config.public_url}/connect/xero/callback"
        state = secrets.token_urlsafe(16)
        url = await plugins.authorize_url(runtime, backend="xero", redirect_uri=redirect_uri, state=state, code_challenge=challenge, settings={})
        async with runtime.http_client("xero") as client:
            answer = await client.get(url, follow_redirects=False)
        query = parse_qs(urlsplit(answer.headers.get("location", "")).query)
        if query.get("state", [""])[0] != state or not query.get("code"):
            raise RuntimeError(f"the Xero sandbox did not authorize the demo ({answer.status_code})")
        result = await plugins.complete_oauth(runtime, backend="xero", code=query["code"][0], redirect_uri=redirect_uri,
                                              code_verifier=verifier, settings={})
        settings = dict(result.settings)
        account = result.account or (result.choices[0] if result.choices else None)
        if account is not None:
            settings.update(account.settings)
        conn = store.add_connection(backend="xero", role=Role.ACCOUNTING, label=account.name if account else "Xero sandbox",
                                    settings=settings, secrets=dict(result.secrets))
        await app.state.pipeline.check_connection(conn)
    if store.active_connection(Role.CRM) is None:
        result = await plugins.connect_with_token(runtime, backend="pipedrive", token=PIPEDRIVE_TOKEN, settings={})
        conn = store.add_connection(backend="pipedrive", role=Role.CRM, label=result.label or "Pipedrive sandbox",
                                    settings=dict(result.settings), secrets=dict(result.secrets))
        await app.state.pipeline.check_connection(conn)
        await plugins.connected(runtime, connection=conn, public_url=config.public_url)
    if store.get_mapping_data() is None:
        store.set_mapping_data(MappingConfig(tax_number="organization.custom:VAT number", due_date=DueDateRule(days=14),
                                             account_code="200").to_dict())
    store.audit("demo", lazy_("Demo connected to its sandboxes"))
