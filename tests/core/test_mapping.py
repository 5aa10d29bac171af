import calendar
import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from invoicebridge.core.errors import MappingError
from invoicebridge.core.mapping import DueDateRule, MappingConfig, map_deal, render_reference
from invoicebridge.core.model import CrmField, Deal, DealProduct, Organization, TaxHandling

from invoicebridge.core.strategies import CATALOG, deals

CENT = Decimal("0.01")
TODAY = dt.date(2026, 3, 13)


def pipedrive_product_total(p: DealProduct, method: TaxHandling) -> Decimal:
    """Pipedrive's semantics written independently of the core: the line sum less its discount; exclusive
    tax is added on top, inclusive tax is already in the sum, none adds nothing."""
    gross = p.quantity * p.item_price
    if p.discount_type.value == "percentage":
        line = (gross * (100 - p.discount) / 100).quantize(CENT, rounding="ROUND_HALF_UP")
    else:
        line = (gross - p.discount).quantize(CENT, rounding="ROUND_HALF_UP")
    if method is TaxHandling.EXCLUSIVE:
        return line + (line * p.tax_percent / 100).quantize(CENT, rounding="ROUND_HALF_UP")
    return line


@given(deals(with_org=True))
def test_invoice_total_equals_the_deal_products_total(deal):
    assume(not deal.discounts)
    enabled = [p for p in deal.products if p.enabled]
    if not enabled:
        assume(deal.value > 0)
    draft = map_deal(deal, MappingConfig(), CATALOG, TODAY)
    if enabled:
        expected = sum((pipedrive_product_total(p, deal.tax_method) for p in enabled), Decimal(0))
        assert len(draft.line_items) == len(enabled)
        assert draft.totals.total == expected
    else:
        assert draft.totals.total == deal.value
    assert draft.totals.subtotal + draft.totals.tax == draft.totals.total
    assert draft.tax_handling is deal.tax_method


@given(deals(with_org=True, tax_method="none", min_discounts=1, min_products=1))
def test_deal_level_discounts_reduce_the_total_by_their_amount(deal):
    enabled = [p for p in deal.products if p.enabled]
    assume(enabled)
    base = sum((pipedrive_product_total(p, TaxHandling.NO_TAX) for p in enabled), Decimal(0))
    assume(base > 0)
    try:
        draft = map_deal(deal, MappingConfig(), CATALOG, TODAY)
    except MappingError as exc:
        assert exc.field == "line_items"
        return
    expected = base
    for d in deal.discounts:
        asked = base * d.amount / 100 if d.type.value == "percentage" else d.amount
        expected -= min(asked, expected).quantize(CENT, rounding="ROUND_HALF_UP")
    assert draft.totals.total == expected


@given(deals(with_org=True, with_person=True, max_discounts=0))
def test_configured_fields_land_in_their_invoice_fields(deal):
    assume([p for p in deal.products if p.enabled] or deal.value > 0)
    config = MappingConfig(to="organization.name", email="person.email", tax_number="organization.custom:" + "a" * 40)
    draft = map_deal(deal, config, CATALOG, TODAY)
    assert draft.customer.name == deal.organization.name.strip()
    assert draft.customer.email == (deal.person.primary_email or (deal.person.emails[0] if deal.person.emails else ""))
    assert draft.customer.tax_number == deal.organization.custom_fields["a" * 40].strip()
    assert draft.customer.address == deal.organization.address
    assert draft.customer.external_key == f"testcrm-organization-{deal.organization.id}"


@given(deals(with_org=True, with_person=True, max_discounts=0))
def test_custom_fields_resolve_by_name_as_well_as_key(deal):
    assume([p for p in deal.products if p.enabled] or deal.value > 0)
    fields = [CrmField(entity="organization", key="a" * 40, name="VAT number", is_custom=True)]
    by_name = map_deal(deal, MappingConfig(tax_number="organization.custom:vat Number"), CATALOG, TODAY, fields)
    assert by_name.customer.tax_number == deal.organization.custom_fields["a" * 40].strip()


@given(deals(with_org=False))
def test_missing_organization_is_a_mapping_error_naming_deal_and_field(deal):
    with pytest.raises(MappingError) as info:
        map_deal(deal, MappingConfig(), CATALOG, TODAY)
    assert info.value.field == "to"
    assert f"Deal {deal.id}" in str(info.value)
    assert "organization" in str(info.value)


@given(deals(with_org=True), st.sampled_from(["person.name", "person.email", "deal.custom:missing"]))
def test_to_mapped_to_an_absent_field_is_an_error_never_an_empty_name(deal, ref):
    deal = Deal(id=deal.id, title=deal.title, value=deal.value, currency=deal.currency, organization=deal.organization, person=None)
    with pytest.raises(MappingError) as info:
        map_deal(deal, MappingConfig(to=ref), CATALOG, TODAY)
    assert info.value.field == "to" and info.value.hint


@given(st.dates(min_value=dt.date(1990, 1, 1), max_value=dt.date(2100, 12, 31)), st.integers(0, 365))
def test_days_after_invoice_date(day, n):
    due = DueDateRule(kind="days_after_invoice", days=n).due(day)
    assert (due - day).days == n


@given(st.dates(min_value=dt.date(1990, 1, 1), max_value=dt.date(2100, 12, 31)), st.integers(1, 31))
def test_day_of_following_month(day, n):
    due = DueDateRule(kind="day_of_following_month", days=n).due(day)
    assert due > day
    assert (due.year * 12 + due.month) - (day.year * 12 + day.month) == 1
    assert due.day == min(n, calendar.monthrange(due.year, due.month)[1])


@given(st.dates(min_value=dt.date(1990, 1, 1), max_value=dt.date(2100, 12, 31)), st.integers(0, 90))
def test_days_after_end_of_month(day, n):
    due = DueDateRule(kind="days_after_end_of_month", days=n).due(day)
    end = dt.date(day.year, day.month, calendar.monthrange(day.year, day.month)[1])
    assert (due - end).days == n and due >= day


def test_seven_days_after_13_march_is_20_march():
    assert DueDateRule(days=7).due(dt.date(2026, 3, 13)) == dt.date(2026, 3, 20)


def test_product_codes_match_catalog_items_and_percent_picks_the_tax_type():
    deal = Deal(id="7", title="T", value=0, currency="GBP", organization=Organization(id="1", name="Acme"),
                products=[DealProduct(name="Consulting", quantity=2, item_price=100, tax_percent=20, code="consult-hr")])
    line = map_deal(deal, MappingConfig(), CATALOG, TODAY).line_items[0]
    assert (line.item_code, line.tax_type, line.account_code) == ("CONSULT-HR", "OUTPUT2", "200")


def test_disabled_products_are_skipped_and_no_products_give_one_value_line():
    deal = Deal(id="8", title="Retainer", value="1500", currency="EUR", organization=Organization(id="1", name="Acme"),
                products=[DealProduct(name="Old", quantity=1, item_price=99, enabled=False)])
    draft = map_deal(deal, MappingConfig(), CATALOG, TODAY)
    assert [(line.description, line.unit_amount) for line in draft.line_items] == [("Retainer", Decimal("1500.0000"))]


def test_reference_template_is_restricted_to_known_fields():
    deal = Deal(id="42", title="Big sale", value=1, currency="GBP")
    assert render_reference("Deal {deal.id}: {deal.title}", deal) == "Deal 42: Big sale"
    with pytest.raises(ValueError, match="allowed"):
        MappingConfig(reference_template="{deal.__class__}")


def test_mapping_config_round_trips_through_dict():
    config = MappingConfig(tax_number="organization.custom:VAT number", due_date=DueDateRule(kind="day_of_following_month", days=20),
                           currency="eur", tax_handling="Inclusive")
    assert MappingConfig.from_dict(config.to_dict()) == config


def test_bad_field_reference_is_refused():
    with pytest.raises(ValueError, match="field reference"):
        MappingConfig(to="company.name")


def test_lines_without_an_account_go_to_the_accounting_systems_usual_one_not_a_core_default():
    """The sales account is the accounting plugin's to say (Catalog.default_account_code); core has no code of its
    own, and a mapping's account still wins."""
    import attrs

    from invoicebridge.core.mapping import map_lines

    deal = Deal(id="7", title="Retainer", value=Decimal("100"), currency="GBP")
    assert MappingConfig().account_code == ""
    assert [line.account_code for line in map_lines(deal, MappingConfig(), attrs.evolve(CATALOG, default_account_code="4000"))] == ["4000"]
    assert [line.account_code for line in map_lines(deal, MappingConfig(account_code="260"), attrs.evolve(CATALOG, default_account_code="4000"))] == ["260"]
    assert [line.account_code for line in map_lines(deal, MappingConfig(), attrs.evolve(CATALOG, default_account_code=""))] == [""]
