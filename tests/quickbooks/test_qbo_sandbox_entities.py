"""The QBO sandbox's name lists, company settings and envelope, every answer checked against Intuit's XSDs by the
transport: CompanyInfo, Preferences, Customer (DisplayName rules, 6240 across customers/vendors/employees,
SyncToken 5010), Item, Account, TaxCode/TaxRate, Term, the Fault envelope, Pacific timestamps, auth and realm."""

from __future__ import annotations

import pytest
from qbo_xsd import pacific_ok

pytestmark = pytest.mark.anyio


async def test_company_info_and_preferences(raw, sandbox):
    info = (await raw.ok("GET", f"companyinfo/{sandbox.realm_id}"))
    prefs = (await raw.ok("GET", "preferences"))["Preferences"]
    assert info["CompanyInfo"]["CompanyName"] == "Demo Company (UK)" and pacific_ok(info["time"])
    assert prefs["CurrencyPrefs"]["HomeCurrency"]["value"] == "GBP"
    assert prefs["SalesFormsPrefs"]["CustomTxnNumbers"] is False and prefs["TaxPrefs"]["PartnerTaxEnabled"] is False


async def test_lists_items_accounts_tax_terms(raw):
    items = (await raw.ok("GET", "query", params={"query": "select * from Item"}))["QueryResponse"]["Item"]
    codes = (await raw.ok("GET", "query", params={"query": "select * from TaxCode"}))["QueryResponse"]["TaxCode"]
    rates = (await raw.ok("GET", "query", params={"query": "select * from TaxRate"}))["QueryResponse"]["TaxRate"]
    terms = (await raw.ok("GET", "query", params={"query": "select * from Term"}))["QueryResponse"]["Term"]
    accounts = (await raw.ok("GET", "query", params={"query": "select * from Account where AccountType = 'Income'"}))
    assert {i["Sku"] for i in items} >= {"CONSULT-H", "TRAIN", "BOOK"} and all(i["IncomeAccountRef"] for i in items)
    assert sorted(r["RateValue"] for r in rates) == [0, 5, 20]
    assert {c["Name"] for c in codes} == {"20.0% S", "5.0% R", "0.0% Z", "Exempt"}
    assert [t["DueDays"] for t in terms] == [0, 15, 30]
    assert [a["Name"] for a in accounts["QueryResponse"]["Account"]] == ["Sales"]


async def test_customer_create_read_and_metadata(raw):
    made = (await raw.ok("POST", "customer", {"DisplayName": "Acme Ltd", "CompanyName": "Acme Ltd",
                                              "PrimaryEmailAddr": {"Address": "ap@acme.example"}}))["Customer"]
    again = (await raw.ok("GET", f"customer/{made['Id']}"))["Customer"]
    assert made["SyncToken"] == "0" and made["domain"] == "QBO" and made["Active"] is True
    assert pacific_ok(made["MetaData"]["CreateTime"]) and made["MetaData"]["CreateTime"].endswith("-08:00")
    assert again == made and made["CurrencyRef"]["value"] == "GBP"


async def test_display_name_built_from_name_parts(raw):
    made = (await raw.ok("POST", "customer", {"GivenName": "Ada", "FamilyName": "Lovelace"}))["Customer"]
    assert made["DisplayName"] == "Ada Lovelace"
    err = await raw.fault("POST", "customer", {"CompanyName": ""})
    assert err["code"] == "2020"


@pytest.mark.parametrize("taken", ["Office Supplies Co", "emily employee", "Acme Ltd"])
async def test_display_name_unique_across_customers_vendors_employees(raw, taken):
    await raw.ok("POST", "customer", {"DisplayName": "Acme Ltd"})
    err = await raw.fault("POST", "customer", {"DisplayName": taken})
    assert err["code"] == "6240" and err["Message"] == "Duplicate Name Exists Error"
    assert "Another customer, vendor or employee is already using this name" in err["Detail"]


async def test_customer_update_sync_token_and_stale_5010(raw):
    made = (await raw.ok("POST", "customer", {"DisplayName": "Beta GmbH"}))["Customer"]
    sparse = {"Id": made["Id"], "SyncToken": "0", "sparse": True, "PrimaryEmailAddr": {"Address": "b@beta.example"}}
    updated = (await raw.ok("POST", "customer", sparse))["Customer"]
    stale = await raw.fault("POST", "customer", {**sparse, "PrimaryEmailAddr": {"Address": "late@beta.example"}})
    assert updated["SyncToken"] == "1" and updated["DisplayName"] == "Beta GmbH"
    assert updated["PrimaryEmailAddr"]["Address"] == "b@beta.example"
    assert stale["code"] == "5010" and stale["Message"] == "Stale Object Error"


async def test_full_update_clears_omitted_fields(raw):
    made = (await raw.ok("POST", "customer", {"DisplayName": "Gamma", "CompanyName": "Gamma Inc"}))["Customer"]
    full = (await raw.ok("POST", "customer", {"Id": made["Id"], "SyncToken": "0", "DisplayName": "Gamma"}))["Customer"]
    assert "CompanyName" not in full


async def test_inactive_customers_hidden_from_plain_query(raw):
    made = (await raw.ok("POST", "customer", {"DisplayName": "Old Co"}))["Customer"]
    await raw.ok("POST", "customer", {"Id": made["Id"], "SyncToken": "0", "sparse": True, "Active": False})
    plain = await raw.ok("GET", "query", params={"query": "select * from Customer where DisplayName = 'Old Co'"})
    with_inactive = await raw.ok("GET", "query", params={
        "query": "select * from Customer where DisplayName = 'Old Co' and Active = false"})
    assert plain["QueryResponse"] == {} and len(with_inactive["QueryResponse"]["Customer"]) == 1


async def test_unknown_entity_and_missing_object(raw):
    err = await raw.fault("GET", "customer/999999")
    assert err["code"] == "610"
    err = await raw.fault("POST", "widget", {"Name": "x"})
    assert err["code"] == "2010"


async def test_item_needs_income_account_and_unique_name(raw):
    err = await raw.fault("POST", "item", {"Name": "New service", "Type": "Service"})
    assert err["code"] == "2020" and err["element"] == "IncomeAccountRef"
    err = await raw.fault("POST", "item", {"Name": "Handbook", "Type": "NonInventory", "IncomeAccountRef": {"value": "1"}})
    assert err["code"] == "6240"


async def test_bad_bearer_gets_the_authentication_shape(sandbox, transport):
    import httpx

    async with httpx.AsyncClient(transport=transport, base_url="http://qbo.test") as http:
        response = await http.get(f"/v3/company/{sandbox.realm_id}/preferences",
                                  headers={"Authorization": "Bearer nope", "Accept": "application/json"})
    body = response.json()
    assert response.status_code == 401 and body["fault"]["error"][0]["code"] == "3200"
    assert body["fault"]["type"] == "AUTHENTICATION" and isinstance(body["time"], int)


async def test_other_realm_is_refused(raw):
    response = await raw.http.get("/v3/company/123/preferences", headers={"Authorization": f"Bearer {raw.token}",
                                                                           "Accept": "application/json"})
    assert response.status_code == 403 and response.json()["Fault"]["Error"][0]["code"] == "3100"


async def test_non_utf8_body_is_fault_500_code(raw):
    response = await raw.call("POST", "customer", content=b'{"DisplayName": "\xff"}',
                              headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and response.json()["Fault"]["Error"][0]["code"] == "500"


async def test_any_minorversion_is_accepted(raw):
    for version in ("4", "75", "99"):
        assert (await raw.call("GET", "preferences", params={"minorversion": version})).status_code == 200
