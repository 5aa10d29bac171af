"""The demo: one server with the backends' sandboxes mounted, connected, seeded and mapped.

Every installed backend's sandbox (the ``invoicebridge_sandboxes`` hook, the ``invoicebridge[sandbox]`` extra)
is mounted at its own path and connected the way its :class:`~invoicebridge.core.sandboxes.DemoOffer` says.
The sandboxes keep their state in memory, so each demo run starts from a fresh demo database (the secret key in
the data folder is kept). The app reaches the sandboxes in-process (``httpx.ASGITransport`` over the app
itself, so requests travel the same paths as over loopback), and the sandboxes deliver their webhooks to our
receivers the same way. Connecting goes through the real flows (the OAuth authorization-code exchange with PKCE,
or an API token), as each sandbox's offer asks, through :mod:`invoicebridge.core.connect` like the pages.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from starlette.applications import Starlette
from starlette.routing import Mount

from invoicebridge.core.connect import ConnectFlow
from invoicebridge.core.errors import InvoiceBridgeError
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
    # The demo's backends are its sandboxes: no setting from the environment (a real account's client ID) may point
    # a sandbox, or the app, elsewhere; each sandbox's offer gives the settings below.
    runtime.config.clear()
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
    accounting_names = {i.name for i in app.state.plugins.backends() if i.role is Role.ACCOUNTING}

    api_key = store.create_api_key("demo")
    info: dict[str, Any] = {
        "app_url": config.public_url,
        "admin_password": password,
        "api_key": api_key,
        "data_dir": str(config.data_dir.resolve()),
        "demo_json": str((config.data_dir / "demo.json").resolve()),
        **{name: dict(offer.info) for name, offer in offers.items()},
        "backends": [{"name": name, "label": offer.label or name, "console_url": offer.info.get("console_url", ""),
                      "hint": offer.console_hint} for name, offer in offers.items()
                     if name not in accounting_names or name == accounting],
        "accounting": accounting,
        # the create form's main button for that backend (no drafts: the invoice is created as it is saved)
        "save_action": "Save as draft" if _drafts(app.state.plugins, accounting) else "Create invoice",
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


def _drafts(plugins: Plugins, accounting: str) -> bool:
    try:
        return plugins.backend(accounting).capabilities.drafts
    except InvoiceBridgeError:
        return True


def _chosen_accounting(plugins: Plugins, offers: dict[str, Any], wanted: str | None) -> str:
    roles = {info.name: info.role for info in plugins.backends()}  # a sandbox whose backend is not registered is skipped
    names = [n for n in offers if roles.get(n) is Role.ACCOUNTING]
    if wanted:
        if wanted not in names:
            raise ValueError(f"no accounting sandbox named {wanted!r}; installed: {', '.join(names) or 'none'}")
        return wanted
    return next((n for n in names if not offers[n].hints.get("on_request")), names[0] if names else "")


async def connect_demo(app: Starlette, config: AppConfig, *, accounting: str | None = None) -> None:
    """Connect the sandboxes through the real flows (the accounting system first; of the accounting ones, only
    ``accounting``) and preset the mapping."""
    runtime, plugins = app.state.runtime, app.state.plugins
    store = runtime.store
    flow = ConnectFlow(runtime, plugins, app.state.pipeline.check_connection, config.public_url)
    offers = getattr(app.state, "demo_offers", {})
    roles = {info.name: info.role for info in plugins.backends()}
    accounting = _chosen_accounting(plugins, offers, accounting)
    for name in sorted(offers, key=lambda n: roles.get(n) is not Role.ACCOUNTING):
        offer, role = offers[name], roles.get(name)
        if role is None or store.active_connection(role) is not None or (role is Role.ACCOUNTING and name != accounting):
            continue
        if offer.connect == "token":
            await flow.with_token(name, offer.token)
            continue
        started = await flow.begin(name)
        async with runtime.http_client(name) as client:  # the sandbox authorises at once and redirects back
            answer = await client.get(started.url, follow_redirects=False)
        params = {k: v[0] for k, v in parse_qs(urlsplit(answer.headers.get("location", "")).query).items()}
        if not params.get("code"):
            raise RuntimeError(f"the {offer.label or name} sandbox did not authorize the demo ({answer.status_code})")
        outcome = await flow.complete(name, started.pending, params)
        if outcome.choices:
            await flow.choose(name, outcome.choices[0][0])
    if store.get_mapping_data() is None:
        presets: dict[str, Any] = {}
        for name, offer in offers.items():
            if roles.get(name) is not Role.ACCOUNTING or name == accounting:
                presets.update(offer.mapping)
        store.set_mapping_data(MappingConfig(**{"due_date": DueDateRule(days=14), **presets}).to_dict())
    store.audit("demo", lazy_("Demo connected to its sandboxes"))
