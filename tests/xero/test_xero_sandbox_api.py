"""Sandbox endpoints the client does not use day to day, checked against the spec through the validating
transport: payments (full, partial, removal), history, contacts read, where filters."""

from __future__ import annotations

from decimal import Decimal

import pytest

from invoicebridge.plugins.xero.client import XeroClient

from xero_support import connect
from test_xero_invoices import create, make_draft

pytestmark = pytest.mark.anyio


async def test_payments_over_http_move_status_both_ways(runtime, store, sandbox, clock, transport):
    # paying is what a person does in Xero; our app's scopes do not include it, so connect with them here
    connection = connect(store, sandbox, clock, scope="offline_access accounting.invoices accounting.payments "
                                                      "accounting.contacts accounting.settings.read")
    [result] = await create(runtime, connection, make_draft("1", status="AWAITING_PAYMENT"))
    rid = result.invoice.remote_id
    async with XeroClient(runtime, connection) as xero:
        body = {"Payments": [{"Invoice": {"InvoiceID": rid}, "Account": {"Code": "090"}, "Amount": 93.02,
                              "Date": "2026-11-21"}]}
        part = (await xero.request("PUT", "Payments", body=body, idempotency_key="pay-1")).json()["Payments"][0]
        assert part["Invoice"]["Status"] == "AUTHORISED"
        body["Payments"][0]["Amount"] = 300.01
        over = await xero.request("PUT", "Payments", params={"summarizeErrors": "false"}, body=body,
                                  idempotency_key="pay-3")
        assert over.json()["Payments"][0]["ValidationErrors"][0]["Message"].startswith("Payment amount exceeds")
        body["Payments"][0]["Amount"] = 300
        full = (await xero.request("PUT", "Payments", body=body, idempotency_key="pay-2")).json()["Payments"][0]
        assert full["Invoice"]["Status"] == "PAID"
        await xero.request("POST", f"Payments/{full['PaymentID']}", body={"Status": "DELETED"},  # the spec's PaymentDelete shape
                           idempotency_key="unpay-1")
        invoice = await xero.invoice(rid)
        history = (await xero.get_json(f"Invoices/{rid}/History"))["HistoryRecords"]
    assert invoice.status == "AUTHORISED" and invoice.amount_paid == Decimal("93.02")
    assert [h["Changes"] for h in history] == ["Created", "Payment", "Paid", "Payment removed"]
    assert all(note == "validated" for req, _, note in transport.log if "/Payments" in req.url.path)


async def test_contacts_where_and_search(runtime, connection, sandbox):
    sandbox.state.create_contact({"Name": 'Quote "Q" Ltd', "EmailAddress": "q@q.example"})
    sandbox.state.create_contact({"Name": "Other Ltd"})
    async with XeroClient(runtime, connection) as xero:
        found = await xero.find_contacts('Name=="quote \\"q\\" ltd" OR EmailAddress=="nobody@x"')
        searched = (await xero.get_json("Contacts", params={"searchTerm": "other"}))["Contacts"]
    assert [c.name for c in found] == ['Quote "Q" Ltd']
    assert [c["Name"] for c in searched] == ["Other Ltd"] and len(searched[0]["Phones"]) == 4
