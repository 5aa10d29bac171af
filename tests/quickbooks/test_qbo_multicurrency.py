"""Multicurrency (fact sheet §3.1, §3.5, §9): the demo company has it on, as the Xero demo organisation takes EUR
and USD deals. A customer's currency is set when it is created and never changes; an invoice is in its customer's
currency, with ``ExchangeRate`` and ``HomeTotalAmt``. The plugin makes each missing customer in its deal's currency
and refuses, for that deal only and with a clear message, a customer of the same name in another currency. Every
exchange is checked against the XSDs (the ``transport`` fixture)."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

import pytest

from invoicebridge.core.model import CreateRequest, Customer, InvoiceDraft, LineItem

pytestmark = pytest.mark.anyio
TODAY = dt.date(2026, 11, 20)


@pytest.fixture
def qbo_seed() -> str:
    return "demo"


def draft(deal_id: str, name: str, currency: str) -> InvoiceDraft:
    return InvoiceDraft(deal_id=deal_id, customer=Customer(name, email="ap@example.com"),
                        line_items=(LineItem("Training", 2, "850", item_code="TRAIN", tax_percent=5),), date=TODAY,
                        due_date=TODAY + dt.timedelta(days=14), currency=currency, reference=f"Deal {deal_id}")


async def create(backend, *drafts):
    ids = await backend.find_or_create_customers([d.customer for d in drafts])
    requests = [CreateRequest(operation_key=f"op-{d.deal_id}", draft=d, contact_id=i)
                for d, i in zip(drafts, ids, strict=True)]
    return await backend.create_invoices(requests)


async def ids(raw):
    item = (await raw.ok("GET", "query", params={"query": "select * from Item where Sku = 'TRAIN'"}))
    return item["QueryResponse"]["Item"][0]


def invoice_body(customer_id: str, item: dict, **extra) -> dict:
    return {"CustomerRef": {"value": customer_id}, "Line": [{
        "DetailType": "SalesItemLineDetail", "Amount": Decimal("100.00"),
        "SalesItemLineDetail": {"ItemRef": {"value": item["Id"]}, "Qty": 1, "UnitPrice": Decimal("100.00"),
                                "TaxCodeRef": item["SalesTaxCodeRef"]}}], **extra}


async def test_demo_company_has_multicurrency_on(raw):
    prefs = (await raw.ok("GET", "preferences"))["Preferences"]["CurrencyPrefs"]
    assert prefs["MultiCurrencyEnabled"] is True and prefs["HomeCurrency"]["value"] == "GBP"


async def test_foreign_customer_and_invoice_with_rate_and_home_total(raw, sandbox):
    customer = (await raw.ok("POST", "customer", {"DisplayName": "Nordlicht GmbH", "CurrencyRef": {"value": "EUR"}}))
    assert customer["Customer"]["CurrencyRef"] == {"value": "EUR", "name": "Euro"}
    item = await ids(raw)
    made = (await raw.ok("POST", "invoice", invoice_body(customer["Customer"]["Id"], item)))["Invoice"]
    rate = sandbox.state.exchange_rates["EUR"]
    assert made["CurrencyRef"]["value"] == "EUR" and made["ExchangeRate"] == rate
    assert made["HomeTotalAmt"] == (made["TotalAmt"] * rate).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    given = (await raw.ok("POST", "invoice", invoice_body(customer["Customer"]["Id"], item,
                                                          ExchangeRate=Decimal("0.9"))))["Invoice"]
    assert given["ExchangeRate"] == Decimal("0.9") and given["HomeTotalAmt"] == given["TotalAmt"] * Decimal("0.9")


async def test_currency_fixed_and_matched(raw):
    gbp = (await raw.ok("POST", "customer", {"DisplayName": "Home Ltd"}))["Customer"]
    assert gbp["CurrencyRef"]["value"] == "GBP"
    changed = await raw.fault("POST", "customer", {"Id": gbp["Id"], "SyncToken": gbp["SyncToken"], "sparse": True,
                                                   "CurrencyRef": {"value": "EUR"}})
    assert changed["element"] == "CurrencyRef" and "currency" in changed["Detail"]
    item = await ids(raw)
    wrong = await raw.fault("POST", "invoice", invoice_body(gbp["Id"], item, CurrencyRef={"value": "USD"}))
    assert wrong["element"] == "CurrencyRef"
    unknown = await raw.fault("POST", "customer", {"DisplayName": "Odd", "CurrencyRef": {"value": "XYZ"}})
    assert unknown["code"] == "2500"


@pytest.mark.parametrize("qbo_seed", ["uk"])
async def test_single_currency_company_refuses_foreign_customers(raw):
    refused = await raw.fault("POST", "customer", {"DisplayName": "Nordlicht GmbH", "CurrencyRef": {"value": "EUR"}})
    assert refused["element"] == "CurrencyRef" and "Multicurrency" in refused["Detail"]


async def test_catalog_refuses_no_currency_beforehand(backend):
    catalog = await backend.catalog()
    assert catalog.base_currency == "GBP" and catalog.currencies == ()


async def test_backend_makes_customers_in_the_deals_currencies(backend, sandbox):
    eur, usd, gbp = await create(backend, draft("2", "Nordlicht GmbH", "EUR"), draft("3", "Globex Inc", "USD"),
                                 draft("1", "Acme Ltd", "GBP"))
    assert eur.ok and usd.ok and gbp.ok, (eur.error, usd.error, gbp.error)
    assert (eur.invoice.currency, usd.invoice.currency, gbp.invoice.currency) == ("EUR", "USD", "GBP")
    for result, code in ((eur, "EUR"), (usd, "USD"), (gbp, "GBP")):
        remote = sandbox.state.get("Invoice", result.invoice.remote_id)
        customer = sandbox.state.get("Customer", remote["CustomerRef"]["value"])
        assert remote["CurrencyRef"]["value"] == customer["CurrencyRef"]["value"] == code
    again = await create(backend, draft("4", "Nordlicht GmbH", "EUR"))
    assert again[0].ok and sandbox.state.get("Invoice", again[0].invoice.remote_id)["CustomerRef"] == \
        sandbox.state.get("Invoice", eur.invoice.remote_id)["CustomerRef"]


async def test_same_name_in_another_currency_is_a_clear_error_for_that_deal_only(backend, sandbox):
    sandbox.api.write("Customer", {"DisplayName": "Acme Ltd"})  # a GBP customer
    before = len(sandbox.state.table("Invoice"))
    refused, fine = await create(backend, draft("5", "Acme Ltd", "EUR"), draft("6", "Other GmbH", "EUR"))
    assert not refused.ok and "Acme Ltd" in refused.error and "GBP" in refused.error and "EUR" in refused.error
    assert fine.ok and len(sandbox.state.table("Invoice")) == before + 1
    assert len([c for c in sandbox.state.table("Customer").values() if c["DisplayName"] == "Acme Ltd"]) == 1
