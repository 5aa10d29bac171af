"""Issue #14, Xero: the sandbox's resources behave as the spec and the fact sheet say. Every exchange goes through
the validating transport (the ``transport`` fixture fails the test on any spec violation)."""

from __future__ import annotations

import json

import httpx
import pytest
from xero_support import BASE

pytestmark = pytest.mark.anyio
SCOPE = ("offline_access accounting.transactions accounting.contacts accounting.settings.read "
         "accounting.payments")


@pytest.fixture
async def api(sandbox, transport):
    token = sandbox.issue_tokens(scope=SCOPE)["access_token"]
    async with httpx.AsyncClient(transport=transport, base_url=f"{BASE}/api.xro/2.0/", headers={
            "Authorization": f"Bearer {token}", "xero-tenant-id": sandbox.tenant_id,
            "Accept": "application/json"}) as client:
        yield client


def invoice_body(unit=10.1234, status="AUTHORISED", quantity=3):
    return {"Invoices": [{"Type": "ACCREC", "Contact": {"Name": "Fidelity Ltd", "EmailAddress": "f@f.example"},
                          "Date": "2026-11-20", "DueDate": "2026-11-27", "Status": status,
                          "LineItems": [{"Description": "Widget", "Quantity": quantity, "UnitAmount": unit,
                                         "AccountCode": "200", "TaxType": "NONE"}]}]}


async def new_invoice(api, **kwargs) -> dict:
    response = await api.put("Invoices", params={"unitdp": 4}, json=invoice_body(**kwargs))
    assert response.status_code == 200, response.text
    return response.json()["Invoices"][0]


def plain_client(sandbox, api) -> httpx.AsyncClient:
    """The sandbox without the validating transport: for requests the spec's path table cannot describe."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=sandbox), base_url=str(api.base_url),
                             headers=api.headers)


async def test_resource_paths_take_any_casing(api, sandbox):
    """Xero accepts both casings of its resource paths (issue #14; /api.xro/2.0/invoices gave 404)."""
    invoice = await new_invoice(api)
    async with plain_client(sandbox, api) as plain:
        lower = await plain.get("invoices", params={"page": 1})
        upper = await plain.get(f"INVOICES/{invoice['InvoiceID']}")
        organisation = await plain.get("organisation")
    assert lower.status_code == upper.status_code == 200
    assert [i["InvoiceID"] for i in lower.json()["Invoices"]] == [invoice["InvoiceID"]]
    assert organisation.json()["Organisations"][0]["ShortCode"] == "!dEm0k"


async def test_post_payments_creates_a_single_payment(api, sandbox):
    """spec: POST /Payments (createPayment, "Creates a single payment for invoice or credit notes")."""
    invoice = await new_invoice(api, unit=100)
    response = await api.post("Payments", json={"Invoice": {"InvoiceID": invoice["InvoiceID"]},
                                                "Account": {"Code": "090"}, "Date": "2026-11-21", "Amount": 100})
    assert response.status_code == 200, response.text
    [payment] = response.json()["Payments"]
    assert payment["Amount"] == 100 and payment["Account"]["Code"] == "090"
    assert sandbox.state.invoices[invoice["InvoiceID"]].amount_paid == 100


async def test_unit_amounts_have_two_decimals_unless_unitdp_is_4(api):
    """spec parameters.unitdp ("You can opt in to use four decimal places for unit amounts"); fact sheet §2 Money."""
    plain = (await api.put("Invoices", json=invoice_body(unit=10.1234))).json()["Invoices"][0]
    assert plain["LineItems"][0]["UnitAmount"] == 10.12 and plain["LineItems"][0]["LineAmount"] == 30.36
    four = await new_invoice(api, unit=10.1234)
    assert four["LineItems"][0]["UnitAmount"] == 10.1234 and four["LineItems"][0]["LineAmount"] == 30.37
    shown = await api.get(f"Invoices/{four['InvoiceID']}")
    assert '"UnitAmount":10.12,' in shown.text  # read without unitdp: two decimals
    assert '"UnitAmount":10.1234,' in (await api.get(f"Invoices/{four['InvoiceID']}", params={"unitdp": 4})).text
    item = (await api.get("Items", params={"where": 'Code=="CONSULT-H"'})).text
    assert '"UnitPrice":120.00,' in item


async def test_a_payment_needs_an_account_that_accepts_payments(api):
    """spec schemas.Account.EnablePaymentsToAccount; Payment.Account by AccountID or Code."""
    invoice = await new_invoice(api, unit=100)
    ref = {"InvoiceID": invoice["InvoiceID"]}
    params = {"summarizeErrors": "false"}
    missing = await api.put("Payments", params=params, json={"Payments": [{"Invoice": ref, "Amount": 10}]})
    sales = await api.put("Payments", params=params, json={"Payments": [
        {"Invoice": ref, "Account": {"Code": "200"}, "Amount": 10}]})
    assert missing.json()["Payments"][0]["ValidationErrors"][0]["Message"].startswith("Account must be specified")
    assert sales.json()["Payments"][0]["ValidationErrors"][0]["Message"] == \
        "Account type is invalid for making a payment to/from"
    accounts = (await api.get("Accounts")).json()["Accounts"]
    equity = next(a for a in accounts if a["Code"] == "970")
    assert equity["EnablePaymentsToAccount"] is True
    paid = await api.put("Payments", json={"Payments": [
        {"Invoice": ref, "Account": {"AccountID": equity["AccountID"]}, "Amount": 10}]})
    assert paid.status_code == 200
    assert paid.json()["Payments"][0]["Account"] == {"AccountID": equity["AccountID"], "Code": "970",
                                                     "Name": "Owner A Funds Introduced"}
    # a summarised batch (the default) answers 400 for the missing account
    assert (await api.put("Payments", json={"Payments": [{"Invoice": ref, "Amount": 1}]})).status_code == 400


async def test_submitted_invoices_can_be_emailed_drafts_cannot(api, sandbox):
    """Xero's emailInvoice documentation: "Type ACCREC and a valid Status for sending (SUBMITTED, AUTHORISED or
    PAID)"."""
    submitted = await new_invoice(api, status="SUBMITTED")
    draft = await new_invoice(api, status="DRAFT")
    assert (await api.post(f"Invoices/{submitted['InvoiceID']}/Email", json={})).status_code == 204
    refused = await api.post(f"Invoices/{draft['InvoiceID']}/Email", json={})
    assert refused.status_code == 400 and "SUBMITTED, AUTHORISED or PAID" in refused.json()["Message"]
    assert sandbox.state.emails == [submitted["InvoiceID"]]


async def test_online_invoice_answer_has_the_envelope(api):
    """spec getOnlineInvoice 200 example: Id, Status, ProviderName, DateTimeUTC around OnlineInvoices."""
    invoice = await new_invoice(api)
    body = (await api.get(f"Invoices/{invoice['InvoiceID']}/OnlineInvoice")).json()
    assert {"Id", "Status", "ProviderName", "DateTimeUTC", "OnlineInvoices"} <= set(body)
    assert body["Status"] == "OK" and body["OnlineInvoices"][0]["OnlineInvoiceUrl"].endswith(
        sandbox_token(body))


def sandbox_token(body: dict) -> str:
    return body["OnlineInvoices"][0]["OnlineInvoiceUrl"].rsplit("/", 1)[1]


async def test_updated_dates_carry_the_offset_the_envelope_time_does_not(api):
    """spec examples: UpdatedDateUTC "/Date(1552432238623+0000)/", DateTimeUTC "/Date(1552331100745)/"."""
    invoice = await new_invoice(api)
    assert invoice["UpdatedDateUTC"].endswith("+0000)/")
    body = (await api.get(f"Invoices/{invoice['InvoiceID']}")).json()
    assert body["DateTimeUTC"].startswith("/Date(") and "+" not in body["DateTimeUTC"]
    assert body["Invoices"][0]["UpdatedDateUTC"].endswith("+0000)/")
    assert (await api.get("Users")).json()["Users"][0]["UpdatedDateUTC"].endswith("+0000)/")


async def test_invoice_list_without_page_has_no_line_items(api):
    """spec getInvoices `page`: "Up to 100 invoices will be returned ... with line items shown for each invoice"."""
    await new_invoice(api)
    unpaged = (await api.get("Invoices")).json()["Invoices"]
    paged = (await api.get("Invoices", params={"page": 1})).json()["Invoices"]
    assert "LineItems" not in unpaged[0] and len(paged[0]["LineItems"]) == 1


async def test_single_reads_of_settings_payments_and_contact_history(api, sandbox):
    """getAccount, getBrandingTheme, getItem, getTaxRateByTaxType, getUser, getOrganisationActions, getPayments,
    getPayment, getPaymentHistory, updateContact, getContactHistory, createContactHistory."""
    state = sandbox.state
    for path, key in ((f"Accounts/{state.accounts[0]['AccountID']}", "Accounts"),
                      (f"BrandingThemes/{state.themes[0]['BrandingThemeID']}", "BrandingThemes"),
                      (f"Items/{state.items[0]['ItemID']}", "Items"), ("TaxRates/OUTPUT2", "TaxRates"),
                      (f"Users/{state.users[0]['UserID']}", "Users"), ("Organisation/Actions", "Actions")):
        response = await api.get(path)
        assert response.status_code == 200 and len(response.json()[key]) >= 1, path
    assert (await api.get("Users/00000000-0000-0000-0000-000000000000")).status_code == 404
    invoice = await new_invoice(api, unit=100)
    paid = (await api.put("Payments", json={"Payments": [{"Invoice": {"InvoiceID": invoice["InvoiceID"]},
                                                          "Account": {"Code": "090"}, "Amount": 50}]})).json()
    pid = paid["Payments"][0]["PaymentID"]
    listed = (await api.get("Payments", params={"where": 'Status=="AUTHORISED"', "order": "Amount DESC"})).json()
    assert [p["PaymentID"] for p in listed["Payments"]] == [pid]
    assert (await api.get(f"Payments/{pid}")).json()["Payments"][0]["Amount"] == 50
    assert (await api.get(f"Payments/{pid}/History")).json()["HistoryRecords"][0]["Changes"] == "Created"
    contact_id = invoice["Contact"]["ContactID"]
    updated = await api.post(f"Contacts/{contact_id}", json={"Contacts": [{"EmailAddress": "new@f.example"}]})
    assert updated.json()["Contacts"][0]["EmailAddress"] == "new@f.example"
    await api.put(f"Contacts/{contact_id}/History", json={"HistoryRecords": [{"Details": "Called them"}]})
    history = (await api.get(f"Contacts/{contact_id}/History")).json()["HistoryRecords"]
    assert [h["Changes"] for h in history] == ["Created", "Note"]


async def test_an_operation_the_sandbox_does_not_emulate_answers_501(api, sandbox):
    response = await api.get("Invoices/00000000-0000-0000-0000-000000000000/Attachments")
    assert response.status_code == 501 and json.loads(response.text)["Title"] == "Not Implemented"
    async with plain_client(sandbox, api) as plain:  # a method the spec does not give at all
        assert (await plain.delete("Invoices")).status_code == 405


async def test_contacts_and_settings_lists_follow_order(api, sandbox):
    """spec parameters.order on getContacts, getAccounts, getUsers (``Name ASC|DESC``)."""
    for name in ("Beta Ltd", "Alpha Ltd", "Gamma Ltd"):
        sandbox.state.create_contact({"Name": name})
    names = [c["Name"] for c in (await api.get("Contacts", params={"order": "Name DESC"})).json()["Contacts"]]
    assert names == ["Gamma Ltd", "Beta Ltd", "Alpha Ltd"]
    codes = [a["Code"] for a in (await api.get("Accounts", params={"order": "Code ASC"})).json()["Accounts"]]
    assert codes == sorted(codes) and codes != [a["Code"] for a in sandbox.state.accounts]
