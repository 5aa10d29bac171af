"""A pipeline over the in-memory CRM and accounting fakes (tests/helpers/fakes.py), connected, on a clock the test
moves, with one deal ("1", GBP 100 for Acme Ltd): the world the outbox tests run in.

``pipeline, crm, acct, clock = memory_world(store)``; ``clock["now"] = NOW + ...`` moves time. ``deals`` adds (or
replaces) deals; ``capabilities`` changes what the accounting fake declares (before the pipeline reads them).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Sequence

import attrs

from fakes import MemoryAccounting, MemoryCRM

from invoicebridge.core import Deal, Organization
from invoicebridge.core.pipeline import Pipeline
from invoicebridge.core.plugins import Plugins, make_plugin_manager
from invoicebridge.core.runtime import Runtime

NOW = dt.datetime(2026, 3, 13, 9, 0, tzinfo=dt.timezone.utc)


class Crash(BaseException):
    """A simulated kill of the worker (no ``except Exception`` catches it)."""


def memory_world(store: Any, *, settings: dict | None = None, deals: Sequence[Deal] = (),
                 capabilities: dict | None = None) -> tuple[Pipeline, MemoryCRM, MemoryAccounting, dict]:
    crm, acct = MemoryCRM(), MemoryAccounting()
    if capabilities:
        acct.capabilities = attrs.evolve(acct.capabilities, **capabilities)
    plugins = Plugins(make_plugin_manager(load_entry_points=False, extra=[crm, acct]))
    clock = {"now": NOW}
    runtime = Runtime(store=store, now=lambda: clock["now"])
    store.add_connection(backend="memcrm", role="crm", label="CRM")
    store.add_connection(backend="memacct", role="accounting", label="Books", secrets={"token": "t"})
    if settings:
        store.update_settings(settings)
    crm.deals["1"] = Deal(id="1", title="Website", value=100, currency="GBP", organization=Organization(id="5", name="Acme Ltd"))
    crm.deals.update({d.id: d for d in deals})
    return Pipeline(runtime, plugins), crm, acct, clock
