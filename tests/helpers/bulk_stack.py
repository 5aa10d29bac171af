"""The whole product against both sandboxes in one process, on simulated time: for bulk tests and benchmarks.

``stack = await build_stack(path, deals=120)`` gives a connected :class:`Pipeline` whose Pipedrive sandbox has
that many won GBP deals, each for a new organization with one product whose code is a Xero item, and a Xero
sandbox that enforces its rate limits on the same simulated clock. ``stack.xero_calls()`` counts the Accounting
API calls Xero received (429s included); ``stack.pipedrive_calls()`` the same for Pipedrive.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import attrs
import httpx

from invoicebridge.core.mapping import DueDateRule, MappingConfig
from invoicebridge.core.model import Role
from invoicebridge.core.pipeline import Pipeline
from invoicebridge.core.plugins import Plugins
from invoicebridge.core.runtime import Runtime
from invoicebridge.core.store import Store
from invoicebridge.plugins.pipedrive.sandbox import create_sandbox as create_pipedrive
from invoicebridge.plugins.xero.config import sandbox_config
from invoicebridge.plugins.xero.sandbox import create_sandbox as create_xero
from invoicebridge.sandbox_kit.clock import SimulatedClock

PRODUCTS = (("CONSULT-H", "Consulting (hourly)", "150"), ("LIC-PRO", "Annual licence", "1200"),
            ("SUPPORT-M", "Support (monthly)", "99"))


@attrs.define
class Stack:
    pipeline: Pipeline
    runtime: Runtime
    store: Store
    clock: SimulatedClock
    xero: Any  # XeroSandbox
    pipedrive: Any  # the Pipedrive sandbox's state
    deal_ids: list[str]

    def xero_calls(self) -> int:
        return len(self.xero.requests)

    def xero_429s(self) -> int:
        return len(self.xero.rejected)

    def pipedrive_calls(self) -> int:
        return len(self.pipedrive.requests)

    def add_deals(self, count: int, *, org_prefix: str = "Customer", existing_orgs: list[int] | None = None,
                  won_days_ago: int = 1) -> list[str]:
        return add_won_deals(self.pipedrive, count, org_prefix=org_prefix, existing_orgs=existing_orgs,
                             won_days_ago=won_days_ago)


def add_won_deals(state: Any, count: int, *, org_prefix: str = "Customer", existing_orgs: list[int] | None = None,
                  won_days_ago: int = 1) -> list[str]:
    """``count`` won deals; each gets a new organization and person unless ``existing_orgs`` are given
    (then they are used in turn)."""
    by_code = {p.get("code"): pid for pid, p in state.products.items()}
    products = [by_code.get(code) or state.add_product(name, code, price, "GBP", "20") for code, name, price in PRODUCTS]
    won_at = state.now() - dt.timedelta(days=won_days_ago)
    ids = []
    start = len(state.deals)
    for n in range(count):
        serial = start + n + 1
        if existing_orgs:
            org = existing_orgs[n % len(existing_orgs)]
            person = None
        else:
            org = state.add_organization(f"{org_prefix} {serial:05d} Ltd")
            person = state.add_person(f"Buyer {serial:05d}", [f"buyer{serial:05d}@{org_prefix.lower()}.example"], org)
        deal = state.add_deal(f"Deal {serial:05d}", "GBP", org_id=org, person_id=person, status="won",
                              won_time=won_at)
        state.attach_product(deal, products[serial % len(products)], 1 + serial % 3, PRODUCTS[serial % 3][2],
                             tax=20, tax_method="exclusive")
        ids.append(str(deal))
    return ids


async def build_stack(path: Path, *, deals: int = 0, scale: float = 0.0, clock: SimulatedClock | None = None) -> Stack:
    clock = clock or SimulatedClock(scale=scale)
    store = Store.open(Path(path) / "bulk.db")
    xero = create_xero(clock=clock.now, seed="demo")
    pd_app = create_pipedrive(clock=clock.now, seed=False)
    pd = pd_app.state.sandbox
    runtime = Runtime(
        store=store, sleep=clock.sleep, now=clock.now, public_url="http://app.test",
        transports={"xero": httpx.ASGITransport(app=xero), "pipedrive": httpx.ASGITransport(app=pd_app)},
        config={"xero": sandbox_config("http://xero.test", client_id="sandbox-client", client_secret="sandbox-secret"), "pipedrive": {"api_base": "http://pipedrive.test"}},
    )
    plugins = Plugins()
    pipeline = Pipeline(runtime, plugins)
    tokens = xero.issue_tokens()
    store.add_connection(
        backend="xero", role=Role.ACCOUNTING, label="Xero: Demo",
        settings={"tenant_id": xero.tenant_id, "tenant_name": "Demo Company (UK)", "user_id": xero.state.users[0]["UserID"]},
        secrets={"access_token": tokens["access_token"], "refresh_token": tokens["refresh_token"],
                 "expires_at": clock.now().timestamp() + tokens["expires_in"]},
    )
    store.add_connection(backend="pipedrive", role=Role.CRM, label="Pipedrive sandbox",
                         settings={"api_domain": "http://pipedrive.test", "company_domain": "acme-sandbox",
                                   "company_id": 7001},
                         secrets={"api_token": "sandbox-token"})
    store.set_mapping_data(MappingConfig(due_date=DueDateRule(days=14), account_code="200").to_dict())
    ids = add_won_deals(pd, deals) if deals else []
    return Stack(pipeline=pipeline, runtime=runtime, store=store, clock=clock, xero=xero, pipedrive=pd, deal_ids=ids)
