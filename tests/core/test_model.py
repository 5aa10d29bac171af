import datetime as dt
from decimal import Decimal

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from invoicebridge.core.model import Customer, DealProduct, InvoiceDraft, LineItem, TaxHandling, compute_totals
from invoicebridge.core.money import money


def draft(**kw):
    values = dict(deal_id="1", customer=Customer(name="Acme"), line_items=[LineItem(description="x", quantity=1, unit_amount=10)],
                  date="2026-03-13", due_date="2026-03-20", currency="gbp")
    values.update(kw)
    return InvoiceDraft(**values)


def test_currency_codes_are_iso_4217():
    assert draft().currency == "GBP"
    with pytest.raises(ValueError, match="ISO 4217"):
        draft(currency="XYZ")


def test_due_date_cannot_precede_the_invoice_date_even_through_evolve():
    with pytest.raises(ValueError, match="before invoice date"):
        draft(due_date="2026-03-12")
    with pytest.raises(ValueError, match="before invoice date"):
        attrs.evolve(draft(), date=dt.date(2026, 4, 1))


def test_quantities_are_not_negative_and_money_is_decimal():
    with pytest.raises(ValueError, match="must not be negative"):
        LineItem(description="x", quantity=-1)
    with pytest.raises(ValueError, match="must not be negative"):
        DealProduct(name="x", quantity="-0.5", item_price=1)
    with pytest.raises(TypeError):
        LineItem(description="x", quantity=True)
    assert LineItem(description="x", quantity=0.1, unit_amount="19.999").unit_amount == Decimal("19.9990")


def test_a_line_has_a_discount_rate_or_an_amount_not_both():
    with pytest.raises(ValueError, match="not both"):
        LineItem(description="x", quantity=1, unit_amount=10, discount_rate=10, discount_amount=1)


def test_an_invoice_needs_a_line_and_a_customer_name():
    with pytest.raises(ValueError, match="at least one line"):
        draft(line_items=[])
    with pytest.raises(ValueError, match="needs a name"):
        Customer(name="   ")


def test_new_invoices_cannot_start_paid():
    with pytest.raises(ValueError, match="not Paid"):
        draft(status="PAID")


@given(st.decimals(min_value=-10**9, max_value=10**9, allow_nan=False, allow_infinity=False))
def test_money_is_quantised_half_up_to_cents(value):
    result = money(value)
    assert result == result.quantize(Decimal("0.01")) and abs(result - value) <= Decimal("0.005")


@given(st.lists(st.tuples(st.decimals(0, 1000, places=2), st.decimals(0, 5000, places=2), st.sampled_from([0, 5, 20])), min_size=1, max_size=8),
       st.sampled_from(list(TaxHandling)))
def test_totals_add_up_for_every_tax_handling(rows, handling):
    lines = [LineItem(description="x", quantity=q, unit_amount=p, tax_percent=t) for q, p, t in rows]
    totals = compute_totals(lines, handling)
    assert totals.subtotal + totals.tax == totals.total
    amounts = sum((line.line_amount for line in lines), Decimal(0))
    assert totals.total == (amounts if handling is not TaxHandling.EXCLUSIVE else amounts + totals.tax)
    if handling is TaxHandling.NO_TAX:
        assert totals.tax == 0
