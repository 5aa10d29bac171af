"""The demo: one server with the backends' sandboxes mounted, connected, seeded and mapped.

Every installed backend's sandbox (the ``invoicebridge_sandboxes`` hook, the ``invoicebridge[sandbox]`` extra)
is mounted at its own path and connected the way its :class:`~invoicebridge.core.sandboxes.DemoOffer` says.
The sandboxes keep their state in memory, so each demo run starts from a fresh demo database (the secret key in
the data folder is kept). The app reaches the sandboxes in-process (``httpx.ASGITransport`` over the app
itself, so requests travel the same paths as over loopback), and the sandboxes deliver their webhooks to our
receivers the same way. Connecting goes through the real flows (the OAuth authorization-code exchange with PKCE,
or an API token), as each sandbox's offer asks.
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


def build_demo(config: AppConfig, *, plugins: Plugins | None = None,
               accounting: str | None = None) -> tuple[Starlette, dict[str, Any]]:
    """``accounting``: the accounting backend whose sandbox the demo connects (every sandbox is mounted; one
    accounting connection at a time). None: the first whose offer does not ask to be connected only on request."""
    make_private_dir(config.data_dir)
    for suffix in ("", "-wal", "-shm"):  # the sandboxes live in memory: a kept database would point at nothing
        Path(f"{config.db_path}{suffix}").unlink(missing_ok=True)
    store = Store.open(config.db_path)
    password = config.admin_password or secrets.token_urlsafe(DEMO_PASSWORD_BYTES)
    config.admin_password = password
    app = create_app(config, store=store, plugins=plugins)
    runtime = app.state.runtime
    transport = httpx.ASGITransport(app=app)
    sandboxes = app.state.plugins.sandboxes(runtime)
    if not sandboxes:
        raise RuntimeError("No sandbox is installed: install the demo with pip install 'invoicebridge[sandbox]'")
    keys = dict(store.get_app_secret("demo_keys", {}) or {})  # kept across runs, like the secret key
    offers = {s.name: s.demo_offer(public_url=config.public_url, transport=transport, secrets=keys) for s in sandboxes}
    store.set_app_secret("demo_keys", keys)
    backend = {name: dict(offer.config) for name, offer in offers.items()}
    store.set_app_secret("backend_config", backend)
    runtime.config.update(backend)
    for sandbox in sandboxes:
        # Unnamed mounts: the sandboxes use url_for on their own routes.
        app.router.routes.insert(0, Mount(sandbox.mount_path, app=sandbox.app))
        runtime.transports[sandbox.name] = transport
    app.state.sandboxes = {s.name: (s.mount_path, s) for s in sandboxes}  # name -> (mount path, Sandbox)
    app.state.demo_offers = offers
    accounting = _chosen_accounting(app.state.plugins, offers, accounting)

    api_key = store.create_api_key("demo")
    info: dict[str, Any] = {
        "app_url": config.public_url,
        "admin_password": password,
        "api_key": api_key,
        "data_dir": str(config.data_dir.resolve()),
        "demo_json": str((config.data_dir / "demo.json").resolve()),
        **{name: dict(offer.info) for name, offer in offers.items()},
        "accounting": accounting,
        "suggested_deal": next((o.hints["suggested_record"] for o in offers.values() if o.hints.get("suggested_record")), "1"),
    }

    async def connect(app: Starlette) -> None:
        await connect_demo(app, config, accounting=accounting)

    app.state.startup_hooks.append(connect)
    demo_json = config.data_dir / "demo.json"  # holds the password and keys: never readable by others, not even briefly
    with os.fdopen(os.open(demo_json, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as fh:
        fh.write(json.dumps(info, indent=2))
    demo_json.chmod(0o600)
    return app, info


def _chosen_accounting(plugins: Plugins, offers: dict[str, Any], wanted: str | None) -> str:
    names = [n for n in offers if plugins.backend(n).role is Role.ACCOUNTING]
    if wanted:
        if wanted not in names:
            raise ValueError(f"no accounting sandbox named {wanted!r}; installed: {', '.join(names) or 'none'}")
        return wanted
    return next((n for n in names if not offers[n].hints.get("on_request")), names[0] if names else "")


async def _connect_oauth(runtime: Any, plugins: Plugins, config: AppConfig, backend: str) -> Any:
    """The authorization-code flow with PKCE through the plugin's own hooks; the sandbox approves at once."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    redirect_uri = f"{config.public_url}/connect/{backend}/callback"
    state = secrets.token_urlsafe(16)
    url = await plugins.authorize_url(runtime, backend=backend, redirect_uri=redirect_uri, state=state, code_challenge=challenge, settings={})
    async with runtime.http_client(backend) as client:
        answer = await client.get(url, follow_redirects=False)
    query = parse_qs(urlsplit(answer.headers.get("location", "")).query)
    if query.get("state", [""])[0] != state or not query.get("code"):
        raise RuntimeError(f"the {backend} sandbox did not authorize the demo ({answer.status_code})")
    return await plugins.complete_oauth(runtime, backend=backend, code=query["code"][0], redirect_uri=redirect_uri,
                                        code_verifier=verifier, settings={})


async def connect_demo(app: Starlette, config: AppConfig, *, accounting: str | None = None) -> None:
    """Connect the sandboxes through the real flows (of the accounting ones, only ``accounting``) and preset the
    mapping."""
    runtime = app.state.runtime
    plugins = app.state.plugins
    store = runtime.store
    accounting = _chosen_accounting(plugins, app.state.demo_offers, accounting)
    for name, offer in app.state.demo_offers.items():
        info = plugins.backend(name)
        if store.active_connection(info.role) is not None or (info.role is Role.ACCOUNTING and name != accounting):
            continue
        if offer.connect == "token":
            result = await plugins.connect_with_token(runtime, backend=name, token=offer.token, settings={})
        else:
            result = await _connect_oauth(runtime, plugins, config, name)
        settings = dict(result.settings)
        choices = getattr(result, "choices", None)
        if choices and "tenant_id" not in settings:
            settings.update(tenant_id=choices[0][0], tenant_name=choices[0][1])
        label = getattr(result, "label", "") or settings.get("tenant_name") or f"{info.label} sandbox"
        conn = store.add_connection(backend=name, role=info.role, label=label, settings=settings, secrets=dict(result.secrets))
        await app.state.pipeline.check_connection(conn)
        await plugins.connected(runtime, connection=conn, public_url=config.public_url)
    if store.get_mapping_data() is None:
        store.set_mapping_data(MappingConfig(tax_number="organization.custom:VAT number", due_date=DueDateRule(days=14),
                                             account_code="200").to_dict())
    store.audit("demo", lazy_("Demo connected to its sandboxes"))
