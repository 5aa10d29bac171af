"""``HomeBalance`` of a foreign-currency invoice (Intuit's XSD, Invoice: "The balance reflecting any payments made
against the transaction in home currency. Initially this will be equal to the HomeTotalAmt." Read only; fact sheet
§3.5). The sandbox left it out; it now follows ``Balance`` at the invoice's rate. A home-currency invoice has
neither home field. The plugin reads neither, so an answer without them makes the same invoice. Every exchange is
checked against the XSDs (the ``transport`` fixture)."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

import pytest

from invoicebridge.plugins.quickbooks.converter import to_invoice

pytestmark = pytest.mark.anyio
CENT = Decimal("0.01")


@pytest.fixture
def qbo_seed() -> str:
    return "demo"


async def invoice_in(raw, currency: str) -> dict:
    customer = (await raw.ok("POST", "customer", {"DisplayName": f"Home balance {currency}",
                                                  "CurrencyRef": {"value": currency}}))["Customer"]
    item = (await raw.ok("GET", "query", params={"query": "select * from Item where Sku = 'TRAIN'"}))["QueryResponse"]["Item"][0]
    body = {"CustomerRef": {"value": customer["Id"]}, "ExchangeRate": Decimal("1.17"), "Line": [{
        "DetailType": "SalesItemLineDetail", "Amount": Decimal("333.33"),
        "SalesItemLineDetail": {"ItemRef": {"value": item["Id"]}, "Qty": 1, "UnitPrice": Decimal("333.33"),
                                "TaxCodeRef": item["SalesTaxCodeRef"]}}]}
    if currency == "GBP":
        del body["ExchangeRate"]
    return (await raw.ok("POST", "invoice", body))["Invoice"]


async def pay(raw, inv: dict, amount: Decimal) -> dict:
    await raw.ok("POST", "payment", {"CustomerRef": inv["CustomerRef"], "TotalAmt": amount, "Line": [
        {"Amount": amount, "LinkedTxn": [{"TxnId": inv["Id"], "TxnType": "Invoice"}]}]})
    return (await raw.ok("GET", f"invoice/{inv['Id']}"))["Invoice"]


async def test_home_balance_starts_at_the_home_total_and_follows_payments(raw):
    inv = await invoice_in(raw, "EUR")
    assert inv["HomeBalance"] == inv["HomeTotalAmt"] == (inv["TotalAmt"] * Decimal("1.17")).quantize(CENT, ROUND_HALF_UP)
    part = await pay(raw, inv, Decimal("100"))
    assert part["Balance"] == inv["TotalAmt"] - 100
    assert part["HomeBalance"] == (part["Balance"] * Decimal("1.17")).quantize(CENT, ROUND_HALF_UP)
    assert part["HomeTotalAmt"] == inv["HomeTotalAmt"]
    paid = await pay(raw, part, Decimal(str(part["Balance"])))
    assert paid["Balance"] == 0 and paid["HomeBalance"] == 0
    queried = (await raw.ok("GET", "query", params={"query": f"select * from Invoice where Id = '{inv['Id']}'"}))
    assert queried["QueryResponse"]["Invoice"][0]["HomeBalance"] == 0


async def test_a_voided_foreign_invoice_has_no_home_balance_left(raw):
    inv = await invoice_in(raw, "EUR")
    voided = (await raw.ok("POST", "invoice", {"Id": inv["Id"], "SyncToken": inv["SyncToken"]},
                           params={"operation": "void"}))["Invoice"]
    assert voided["HomeTotalAmt"] == voided["HomeBalance"] == 0


async def test_a_home_currency_invoice_has_no_home_fields(raw):
    inv = await invoice_in(raw, "GBP")
    assert "ExchangeRate" not in inv and "HomeTotalAmt" not in inv and "HomeBalance" not in inv


async def test_the_plugin_reads_the_same_invoice_with_or_without_the_home_fields(raw):
    inv = await pay(raw, await invoice_in(raw, "EUR"), Decimal("50"))
    without = {k: v for k, v in inv.items() if k not in ("HomeBalance", "HomeTotalAmt", "ExchangeRate")}
    today = dt.date(2026, 11, 20)
    seen = to_invoice(inv, today=today)
    assert to_invoice(without, today=today) == seen
    assert seen.currency == "EUR" and seen.amount_due == Decimal(str(inv["Balance"]))
