"""Every operation of the resources the QBO sandbox emulates (sandbox_coverage.OPERATIONS: the fact sheet's URL
forms applied to Invoice, Customer, Item, Account, TaxCode, Term, CompanyInfo, Preferences, Payment, plus batch,
cdc and query) is performed, refused as QBO refuses it, or answered 501 as not emulated, with a reason; every
answer is checked against the XSDs (the ``transport`` fixture). SANDBOX.md is the readable form."""

from __future__ import annotations

import json
from typing import Any

import pytest
from test_qbo_sandbox_invoices import customer, make_invoice

from invoicebridge.plugins.quickbooks.sandbox_coverage import NOT_EMULATED, OPERATIONS, REFUSED_AS_QBO_DOES

pytestmark = pytest.mark.anyio


async def _entity(raw, resource: str) -> dict[str, Any]:
    """A fresh one to read, update, delete or void."""
    if resource == "Invoice":
        return await make_invoice(raw, customer_name="Coverage Invoice Ltd", BillEmail={"Address": "ap@acme.example"})
    if resource == "Customer":
        return await customer(raw, "Coverage Customer")
    if resource == "Payment":
        inv = await make_invoice(raw, customer_name="Coverage Payer Ltd")
        return (await raw.ok("POST", "payment", {"CustomerRef": inv["CustomerRef"], "TotalAmt": 10, "Line": [
            {"Amount": 10, "LinkedTxn": [{"TxnId": inv["Id"], "TxnType": "Invoice"}]}]}))["Payment"]
    return (await raw.ok("POST", resource.lower(), _create_body(await _income(raw), resource)))[resource]


async def _income(raw) -> str:
    rows = (await raw.ok("GET", "query", params={"query": "select * from Account where AccountType = 'Income'"}))
    return rows["QueryResponse"]["Account"][0]["Id"]


def _create_body(income: str, resource: str) -> dict[str, Any]:
    return {"Item": {"Name": "Coverage item", "Type": "Service", "IncomeAccountRef": {"value": income}},
            "Account": {"Name": "Coverage income", "AccountType": "Income"},
            "Term": {"Name": "Net 45", "DueDays": 45},
            "TaxCode": {"Name": "Coverage code"}}.get(resource, {})


async def perform(raw, op) -> Any:
    r, name = op.resource, op.operation
    path = op.path.lstrip("/")
    params = dict(p.split("=") for p in op.query.split("&")) if op.query else {}
    if name == "batch":
        return await raw.call("POST", path, {"BatchItemRequest": [{"bId": "1", "Query": "select * from Term"}]})
    if name == "cdc":
        return await raw.call("GET", path, params={"entities": "Invoice,Customer", "changedSince": "2026-11-19T00:00:00-08:00"})
    if name == "query":
        return await raw.call("POST", path, content=f"select * from {r}".encode(), headers={"Content-Type": "application/text"})
    if "{realmId}" in path:
        return await raw.call(op.method, path.replace("{realmId}", raw.sandbox.realm_id))
    if r in ("CompanyInfo", "Preferences") or name == "create through TaxService":
        return await raw.call(op.method, path, {"Id": "1", "SyncToken": "1", "sparse": True})
    if name == "create" and r != "Payment":
        if r in ("Invoice", "Customer"):
            made = await _entity(raw, r)
            return _Answer(200, {r: made})
        return await raw.call("POST", path, _create_body(await _income(raw), r))
    if name == "create":  # Payment
        made = await _entity(raw, r)
        return _Answer(200, {r: made})
    if r == "TaxCode":
        code = (await raw.ok("GET", "query", params={"query": "select * from TaxCode"}))["QueryResponse"]["TaxCode"][0]
        return await raw.call(op.method, path.replace("{id}", code["Id"]))
    row = await _entity(raw, r)
    if "{id}" in path:
        return await raw.call(op.method, path.replace("{id}", row["Id"]))
    body = {"Id": row["Id"], "SyncToken": row["SyncToken"]}
    if name == "update":
        body.update(sparse=True, PrivateNote="coverage") if r in ("Invoice", "Payment") else body.update(sparse=True, Active=True)
    return await raw.call("POST", path, body, params=params)


class _Answer:
    def __init__(self, status_code: int, body: dict[str, Any]) -> None:
        self.status_code, self.content = status_code, json.dumps(body, default=str).encode()


@pytest.mark.parametrize("op", OPERATIONS, ids=lambda op: f"{op.resource}-{op.operation}")
async def test_every_operation_is_served_refused_as_qbo_does_or_not_emulated(raw, op):
    answer = await perform(raw, op)
    key = (op.resource, op.operation)
    if key in NOT_EMULATED:
        body = json.loads(answer.content)
        assert answer.status_code == 501 and body["Fault"]["type"] == "SystemFault"
        assert NOT_EMULATED[key] in body["Fault"]["Error"][0]["Detail"]
    elif key in REFUSED_AS_QBO_DOES:
        assert answer.status_code == 400 and json.loads(answer.content)["Fault"]["type"] == "ValidationFault"
    else:
        assert answer.status_code == 200, answer.content[:300]


def test_the_tables_name_only_listed_operations_with_reasons():
    keys = {(op.resource, op.operation) for op in OPERATIONS}
    assert set(NOT_EMULATED) <= keys and set(REFUSED_AS_QBO_DOES) <= keys
    assert not set(NOT_EMULATED) & set(REFUSED_AS_QBO_DOES)
    assert all(reason.strip() for reason in (*NOT_EMULATED.values(), *REFUSED_AS_QBO_DOES.values()))
    resources = {op.resource for op in OPERATIONS}
    assert resources >= {"Invoice", "Customer", "Item", "Account", "TaxCode", "Term", "CompanyInfo", "Preferences", "Payment"}


async def test_an_unknown_path_or_method_is_a_fault_not_plain_text(raw):
    for method, path in (("GET", "estimate/1/whatever"), ("PUT", "invoice"), ("DELETE", "customer/1")):
        answer = await raw.call(method, path)
        assert answer.status_code == 400, (method, path, answer.status_code)
        assert json.loads(answer.content)["Fault"]["Error"][0]["code"] == "2010"
