"""core.totals: the accounting system's default tax on lines that name none, the deal-value check, live invoices."""

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from invoicebridge.core.model import (
    Account,
    Catalog,
    CatalogItem,
    Customer,
    Deal,
    DealDiscount,
    InvoiceDraft,
    InvoiceRecord,
    LineItem,
    TaxRate,
)
from invoicebridge.core.status import InvoiceStatus
from invoicebridge.core.totals import live_invoices, settle, settle_line, value_difference

CATALOG = Catalog(
    base_currency="GBP",
    items=[CatalogItem(code="BOOK", account_code="200", tax_type="ZERO"), CatalogItem(code="PLAIN", account_code="270")],
    tax_rates=[TaxRate("STD", "Standard 20%", 20), TaxRate("RED", "Reduced 5%", 5), TaxRate("ZERO", "Zero", 0),
               TaxRate("NONE", "No tax", 0)],
    accounts=[Account("200", "Sales", "STD"), Account("270", "Interest", "NONE"), Account("300", "Other", "")],
)


def draft(*lines, handling="Exclusive"):
    return InvoiceDraft(deal_id="1", customer=Customer(name="Acme"), line_items=lines, date="2026-03-13",
                        due_date="2026-03-20", currency="GBP", tax_handling=handling)


def test_a_line_without_a_tax_type_gets_the_items_default_then_the_accounts():
    assert settle_line(LineItem("x", unit_amount=10, account_code="200"), CATALOG).tax_type == "STD"
    assert settle_line(LineItem("x", unit_amount=10, item_code="BOOK"), CATALOG).tax_type == "ZERO"
    assert settle_line(LineItem("x", unit_amount=10, item_code="BOOK", account_code="200"), CATALOG).tax_type == "ZERO"
    assert settle_line(LineItem("x", unit_amount=10, item_code="PLAIN"), CATALOG).tax_type == "NONE"
    # A named tax type wins, and its percentage is the catalog's, whatever the line carried.
    named = settle_line(LineItem("x", unit_amount=10, account_code="200", tax_type="RED", tax_percent=7), CATALOG)
    assert (named.tax_type, named.tax_percent) == ("RED", 5)
    # Nothing known: left as it is (validation reports what is wrong).
    bare = LineItem("x", unit_amount=10, account_code="300", tax_percent=7)
    assert settle_line(bare, CATALOG) == bare


def test_one_line_of_123_45_on_the_sales_account_is_148_14_with_its_default_tax():
    settled = settle(draft(LineItem("Deal value", unit_amount="123.45", account_code="200")), CATALOG)
    assert (settled.totals.subtotal, settled.totals.tax, settled.totals.total) == (Decimal("123.45"), Decimal("24.69"), Decimal("148.14"))


lines = st.builds(LineItem, description=st.just("x"), quantity=st.decimals(min_value=0, max_value=100, places=2),
                  unit_amount=st.decimals(min_value=-500, max_value=5000, places=2),
                  item_code=st.sampled_from(["", "BOOK", "PLAIN"]), account_code=st.sampled_from(["", "200", "270", "300"]),
                  tax_type=st.sampled_from(["", "STD", "RED", "ZERO"]), tax_percent=st.sampled_from([0, 5, 7, 20]))


@given(st.lists(lines, min_size=1, max_size=6), st.sampled_from(["Exclusive", "Inclusive", "NoTax"]))
def test_settling_is_idempotent_and_every_known_tax_type_carries_its_catalog_rate(items, handling):
    once = settle(draft(*items, handling=handling), CATALOG)
    assert settle(once, CATALOG) == once
    for line in once.line_items:
        rate = CATALOG.tax_rate(line.tax_type)
        if rate is not None:
            assert line.tax_percent == rate.rate
    totals = once.totals
    assert totals.total == totals.subtotal + totals.tax


def deal(value, discounts=()):
    return Deal(id="1", title="T", value=value, currency="GBP", discounts=discounts)


def test_the_deal_value_check_says_why_the_total_differs():
    taxed = settle(draft(LineItem("Deal value", unit_amount="123.45", account_code="200")), CATALOG)
    assert value_difference(deal("148.14"), taxed, edited=False) == ""
    said = value_difference(deal("123.45"), taxed, edited=False)
    assert "differs from the deal value" in said and "tax of £24.69 is added" in said
    discounted = value_difference(deal("200", [DealDiscount(amount=10)]), taxed, edited=False)
    assert "discounts are taken off before tax" in discounted
    assert "the lines were edited" in value_difference(deal("1000"), taxed, edited=True)


def test_live_invoices_are_those_not_voided_or_deleted():
    def record(n, status):
        return InvoiceRecord(id=n, deal_id="1", backend="b", remote_id=str(n), number=f"INV-{n}", status=status, currency="GBP")

    records = [record(1, InvoiceStatus.VOIDED), record(2, InvoiceStatus.DRAFT), record(3, InvoiceStatus.DELETED),
               record(4, InvoiceStatus.PAID)]
    assert [r.number for r in live_invoices(records)] == ["INV-2", "INV-4"]


def test_a_deal_tax_percentage_no_rate_has_is_named_with_the_rate_that_applies():
    from invoicebridge.core.model import DealProduct
    from invoicebridge.core.totals import tax_rate_changes

    deal = Deal(id="1", title="T", value=100, currency="GBP",
                products=[DealProduct(name="Widget", quantity=1, item_price=100, tax_percent=7, code="X"),
                          DealProduct(name="Gadget", quantity=1, item_price=100, tax_percent=20, code="Y")])
    mapped = settle(draft(LineItem("Widget", unit_amount=100, account_code="200", tax_percent=7),
                          LineItem("Gadget", unit_amount=100, account_code="200", tax_type="STD", tax_percent=20)), CATALOG)
    assert tax_rate_changes(deal, mapped, CATALOG) == ["Line Widget: no tax rate of 7% exists, so Standard 20% (20%) applies"]
