"""The plugin as the core sees it: registration, the sandbox hook, and the sandbox mounted under a prefix."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from invoicebridge.core.model import Role
from invoicebridge.core.plugins import Plugins, builtin_plugins, make_plugin_manager
from invoicebridge.core.runtime import Runtime
from invoicebridge.core.sandboxes import Sandbox

pytestmark = pytest.mark.anyio


def test_plugin_registers_the_pipedrive_crm_backend():
    plugins = Plugins(make_plugin_manager(load_entry_points=False, extra=builtin_plugins()))
    info = plugins.backend("pipedrive")
    assert info.role is Role.CRM and set(info.auth_methods) == {"oauth", "token"}


async def test_mounted_sandbox_serves_the_client_under_its_prefix(store, clock, validating):
    plugins = Plugins(make_plugin_manager(load_entry_points=False, extra=builtin_plugins()))
    boot = Runtime(store=store, now=clock.now)
    sandbox, = [s for s in plugins.sandboxes(boot) if s.name == "pipedrive"]
    prefix, sandbox_app = sandbox.mount_path, sandbox.app
    assert prefix == "/sandbox/pipedrive" and isinstance(sandbox, Sandbox)
    demo = Starlette(routes=[Mount(prefix, app=sandbox_app)])
    transport = validating(demo)
    runtime = Runtime(store=store, transports={"pipedrive": transport}, now=clock.now,
                      config={"pipedrive": {"api_base": "http://demo.local/sandbox/pipedrive"}})
    conn = store.add_connection(backend="pipedrive", role="crm", settings={"company_domain": "acme-sandbox"},
                                secrets={"api_token": "sandbox-token"})
    deal = await plugins.get_deal(runtime, connection=conn, deal_id="2")
    assert deal.organization.address.country == "Germany" and deal.currency == "EUR"
    assert {r.url.path for r, _, _ in transport.log} >= {"/sandbox/pipedrive/api/v2/deals/2"}
    assert {note for *_, note in transport.log} == {"validated"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=demo), base_url="http://demo.local") as c:
        console = await c.get("/sandbox/pipedrive/")
    assert 'action="http://demo.local/sandbox/pipedrive/console/deals/4/win"' in console.text
