"""Property: any deal the sandbox can hold maps to a core Deal whose products add up to what the sandbox says."""

from __future__ import annotations

import asyncio
import datetime as dt
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from invoicebridge.core.runtime import Runtime
from invoicebridge.core.store import Store
from invoicebridge.plugins.pipedrive.backend import PipedriveSource
from invoicebridge.plugins.pipedrive.converter import line_total, products_total
from invoicebridge.plugins.pipedrive.sandbox import create_sandbox

START = dt.datetime(2026, 11, 20, 9, 30, tzinfo=dt.timezone.utc)

names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=40).filter(
    lambda s: s.strip() != "")
cents = st.decimals(min_value=0, max_value=10000, places=2)
quantities = st.decimals(min_value=0, max_value=500, places=2)


@st.composite
def deal_products(draw):
    quantity, price = draw(quantities), draw(cents)
    kind = draw(st.sampled_from(["percentage", "amount"]))
    gross = quantity * price
    discount = draw(st.decimals(min_value=0, max_value=100, places=2)) if kind == "percentage" else \
        draw(st.decimals(min_value=0, max_value=max(Decimal(0), gross), places=2))
    return dict(quantity=quantity, item_price=price, discount=discount, discount_type=kind,
                tax=draw(st.sampled_from([Decimal(0), Decimal(5), Decimal(20), Decimal("7.5")])),
                is_enabled=draw(st.booleans()), name=draw(names))


deals = st.fixed_dictionaries({
    "title": names, "currency": st.sampled_from(["GBP", "EUR", "USD"]),
    "org": st.one_of(st.none(), names), "person": st.one_of(st.none(), names),
    "emails": st.lists(st.emails(), max_size=3),
    "tax_method": st.sampled_from(["exclusive", "inclusive", "none"]),
    "products": st.lists(deal_products(), max_size=5),
    "discounts": st.lists(st.tuples(st.sampled_from(["percentage", "amount"]),
                                    st.decimals(min_value=0, max_value=50, places=2)), max_size=2),
})


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(spec=deals)
def test_any_sandbox_deal_maps_with_conserved_totals(validating, spec):
    # `validating` is a stateless factory, so sharing it across examples is safe
    app = create_sandbox(clock=lambda: START)
    s = app.state.sandbox
    org = s.add_organization(spec["org"]) if spec["org"] is not None else None
    person = s.add_person(spec["person"], spec["emails"], org) if spec["person"] is not None else None
    deal_id = s.add_deal(spec["title"], spec["currency"], org_id=org, person_id=person, value=0)
    for line in spec["products"]:
        product = s.add_product(line["name"], "CODE-" + str(len(s.products) + 1), line["item_price"])
        s.attach_product(deal_id, product, line["quantity"], line["item_price"], discount=line["discount"],
                         discount_type=line["discount_type"], tax=line["tax"], tax_method=spec["tax_method"],
                         is_enabled=line["is_enabled"], name=line["name"])
    for kind, amount in spec["discounts"]:
        s.add_discount(deal_id, amount, kind)

    transport = validating(app)
    store = Store.open(":memory:")
    try:
        conn = store.add_connection(backend="pipedrive", role="crm", settings={"company_domain": "acme"},
                                    secrets={"api_token": "sandbox-token"})
        runtime = Runtime(store=store, transports={"pipedrive": transport}, now=lambda: START)
        deal = asyncio.run(PipedriveSource.open(conn, runtime).get_deal(deal_id=str(deal_id)))
    finally:
        store.close()
    assert not transport.problems, transport.problems

    assert deal.title == spec["title"] and deal.currency == spec["currency"]
    assert (deal.organization is None) == (spec["org"] is None)
    assert (deal.person is None) == (spec["person"] is None)
    if deal.person is not None:
        assert deal.person.email == (spec["emails"][0] if spec["emails"] else "")
    raw_lines = s.lines_of(deal_id)
    assert len(deal.products) == len(raw_lines)
    for product, raw in zip(deal.products, raw_lines, strict=True):
        assert line_total(product, deal.tax_method) == Decimal(str(raw["sum"]))
        assert product.enabled == raw["is_enabled"] and product.name == raw["name"]
    enabled = sum((line_total(p, deal.tax_method) for p in deal.products if p.enabled), Decimal("0.00"))
    assert enabled == s.products_sum(deal_id)
    if raw_lines:
        assert products_total(deal) == deal.value == Decimal(str(s.deals[deal_id]["value"]))
