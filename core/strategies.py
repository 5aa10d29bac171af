"""Hypothesis strategies for the core model (deals, products, a catalog), for core and plugin tests."""

from decimal import Decimal

from hypothesis import strategies as st

from invoicebridge.core.model import (
    Address,
    Catalog,
    CatalogItem,
    Deal,
    DealDiscount,
    DealProduct,
    Organization,
    Person,
    TaxRate,
)

TAX_PERCENTS = [Decimal("0"), Decimal("5"), Decimal("20"), Decimal("7.5")]
CATALOG = Catalog(
    base_currency="GBP",
    currencies=["GBP", "EUR", "USD"],
    items=[CatalogItem(code="CONSULT-HR", name="Consulting", account_code="200", tax_type="OUTPUT2")],
    tax_rates=[
        TaxRate(tax_type="NONE", name="No VAT", rate="0"),
        TaxRate(tax_type="RRINPUT", name="Reduced 5%", rate="5"),
        TaxRate(tax_type="OUTPUT2", name="20% (VAT on Income)", rate="20"),
        TaxRate(tax_type="TAX075", name="7.5%", rate="7.5"),
    ],
)

text = st.text(st.characters(exclude_categories=("Cs", "Cc")), min_size=1, max_size=40).filter(lambda s: s.strip())
money2 = st.decimals(min_value=0, max_value=100000, places=2, allow_nan=False, allow_infinity=False)
qty = st.decimals(min_value=0, max_value=1000, places=2, allow_nan=False, allow_infinity=False)


@st.composite
def deal_products(draw):
    quantity = draw(qty)
    price = draw(money2)
    kind = draw(st.sampled_from(["percentage", "amount"]))
    if kind == "percentage":
        discount = draw(st.decimals(min_value=0, max_value=100, places=2))
    else:
        discount = draw(st.decimals(min_value=0, max_value=max(Decimal(0), (quantity * price).quantize(Decimal("0.01"), rounding="ROUND_FLOOR")), places=2))
    return DealProduct(
        name=draw(text),
        quantity=quantity,
        item_price=price,
        discount=discount,
        discount_type=kind,
        tax_percent=draw(st.sampled_from(TAX_PERCENTS)),
        enabled=draw(st.booleans().map(lambda b: b or draw(st.booleans()))),
        code=draw(st.sampled_from(["", "CONSULT-HR", "consult-hr", "UNKNOWN"])),
    )


addresses = st.builds(Address, line1=text, city=text, postal_code=st.text(max_size=10), country=st.sampled_from(["UK", "DE", "US", ""]))
organizations = st.builds(
    Organization,
    id=st.integers(1, 10**6).map(str),
    name=text,
    address=addresses,
    custom_fields=st.fixed_dictionaries({"a" * 40: text}),
)
persons = st.builds(
    Person,
    id=st.integers(1, 10**6).map(str),
    name=text,
    emails=st.lists(st.emails(), max_size=3).map(tuple),
    primary_email=st.one_of(st.just(""), st.emails()),
)


@st.composite
def deals(draw, with_org=None, with_person=None, tax_method=None, min_discounts=0, min_products=0, max_discounts=2):
    products = draw(st.lists(deal_products(), min_size=min_products, max_size=6))
    org = draw(organizations) if (with_org if with_org is not None else draw(st.booleans())) else None
    person = draw(persons) if (with_person if with_person is not None else draw(st.booleans())) else None
    return Deal(
        id=str(draw(st.integers(1, 10**7))),
        title=draw(text),
        value=draw(money2),
        currency=draw(st.sampled_from(["GBP", "EUR", "USD"])),
        status=draw(st.sampled_from(["open", "won"])),
        organization=org,
        person=person,
        products=products,
        tax_method=tax_method or draw(st.sampled_from(["exclusive", "inclusive", "none"])),
        discounts=draw(st.lists(st.builds(DealDiscount, amount=st.decimals(0, 50, places=2), type=st.sampled_from(["percentage", "amount"])), min_size=min_discounts, max_size=max_discounts)),
        source="testcrm",
    )
