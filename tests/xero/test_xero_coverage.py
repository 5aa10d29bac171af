"""Issue #14: every operation (path + method) of the official specs for the resources the Xero sandbox emulates is
either served or listed in ``NOT_EMULATED`` with its reason, where it answers 501 with Xero's problem shape. The
coverage table in plugins/xero/README.md is the readable form of this test."""

from __future__ import annotations

import re

import httpx
import pytest
import yaml
from starlette.routing import Match
from xero_support import BASE, SPECS

from invoicebridge.plugins.xero.sandbox_resources import NOT_EMULATED

pytestmark = pytest.mark.anyio
RESOURCES = ("Organisation", "Contacts", "Items", "Accounts", "TaxRates", "Currencies", "BrandingThemes", "Users",
             "Invoices", "Payments")
# The spec's own alias: getInvoiceAsPdf has ``x-path: /Invoices/{InvoiceID}`` (the plain path, Accept: application/pdf)
ALIASES = {("GET", "/Invoices/{InvoiceID}/pdf"): ("GET", "/Invoices/{InvoiceID}")}


def operations() -> list[tuple[str, str, str]]:
    """(spec, METHOD, path) of every operation of the emulated resources."""
    out = []
    accounting = yaml.load((SPECS / "xero_accounting.yaml").read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    for path, ops in accounting["paths"].items():
        if path.strip("/").split("/")[0] in RESOURCES:
            out += [("accounting", m.upper(), path) for m in ops if m in ("get", "put", "post", "delete", "patch")]
    identity = yaml.load((SPECS / "xero-identity.yaml").read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    for path, ops in identity["paths"].items():
        out += [("identity", m.upper(), path) for m in ops if m in ("get", "put", "post", "delete", "patch")]
    return out


def concrete(spec: str, path: str) -> str:
    path = re.sub(r"\{[^}]+\}", "00000000-0000-0000-0000-000000000001", path)
    return f"/api.xro/2.0{path}" if spec == "accounting" else path.lower()


def routed(sandbox, method: str, path: str) -> bool:
    scope = {"type": "http", "method": method, "path": path, "root_path": "", "headers": []}
    return any(route.matches(scope)[0] == Match.FULL for route in sandbox.app.routes)


def test_every_operation_is_served_or_listed_as_not_emulated(sandbox):
    ops = operations()
    assert len(ops) > 60  # the spec was read
    unserved = []
    for spec, method, path in ops:
        if (method, path) in NOT_EMULATED:
            continue
        alias_method, alias_path = ALIASES.get((method, path), (method, path))
        if not routed(sandbox, alias_method, concrete(spec, alias_path)):
            unserved.append(f"{method} {path}")
    assert unserved == []
    spec_ops = {(m, p) for _, m, p in ops}
    assert set(NOT_EMULATED) <= spec_ops, "NOT_EMULATED names operations the spec does not have"
    assert all(reason.strip() for reason in NOT_EMULATED.values())


async def test_not_emulated_operations_answer_501(sandbox):
    token = sandbox.issue_tokens(scope="offline_access accounting.transactions accounting.contacts "
                                       "accounting.settings")["access_token"]
    headers = {"Authorization": f"Bearer {token}", "xero-tenant-id": sandbox.tenant_id}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sandbox), base_url=BASE, headers=headers) as c:
        for method, path in NOT_EMULATED:
            response = await c.request(method, concrete("accounting", path), json={})
            assert response.status_code == 501, (method, path, response.status_code)
            assert response.json()["Title"] == "Not Implemented"
