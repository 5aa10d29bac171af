"""Reading deals from the sandbox into core Deals, through the hooks, with every exchange spec-validated."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from invoicebridge.core.errors import RemoteNotFound
from invoicebridge.core.plugins import Plugins
from invoicebridge.core.model import DealQuery, DiscountType, TaxHandling
from invoicebridge.plugins.pipedrive.backend import PipedriveSource
from invoicebridge.plugins.pipedrive.converter import line_total, products_total
from invoicebridge.plugins.pipedrive.deals import may_have_lines
from invoicebridge.plugins.pipedrive.errors import FieldNotFound
from invoicebridge.plugins.pipedrive.fields import find_field

pytestmark = pytest.mark.anyio


async def test_deal_reads_title_value_currency_status_and_won_time(runtime, connection, sandbox):
    deal = await PipedriveSource.open(connection, runtime).get_deal(deal_id="1")
    raw = sandbox.deals[1]
    assert (deal.id, deal.title, deal.currency, deal.status) == ("1", raw["title"], "GBP", "won")
    assert deal.value == Decimal(str(raw["value"]))
    assert deal.won_time == dt.datetime.fromisoformat(raw["won_time"].replace("Z", "+00:00"))
    assert deal.source == "pipedrive"
    assert deal.url == "https://acme-sandbox.pipedrive.com/deal/1"


async def test_deal_reads_organization_address_parts_and_vat_custom_field(runtime, connection, seed):
    deal = await PipedriveSource.open(connection, runtime).get_deal(deal_id="1")
    org = deal.organization
    assert org.name == "Acme Ltd"
    assert (org.address.line1, org.address.city, org.address.postal_code, org.address.country) == (
        "1 King Street", "London", "EC2V 8AU", "United Kingdom")
    vat_key = seed["fields"]["organization"]["VAT number"]
    tier_key = seed["fields"]["organization"]["Customer tier"]
    assert len(vat_key) == 40
    assert org.custom_fields[vat_key] == "GB123456789"
    assert org.custom_fields[tier_key] == "Gold"  # enum shown by its label, not its option id


async def test_person_primary_email_wins_over_first(runtime, connection):
    deal = await PipedriveSource.open(connection, runtime).get_deal(deal_id="1")
    assert deal.person.emails == ("jane.doe@personal.example", "accounts@acme.example")
    assert deal.person.email == "accounts@acme.example"


async def test_person_without_primary_falls_back_to_first_email(runtime, connection, sandbox):
    for item in sandbox.persons[2]["emails"]:
        item["primary"] = False
    deal = await PipedriveSource.open(connection, runtime).get_deal(deal_id="2")
    assert deal.person.email == "j.mueller@nordlicht.example"


async def test_deal_products_carry_discounts_tax_method_codes_and_disabled_lines(runtime, connection):
    deal = await PipedriveSource.open(connection, runtime).get_deal(deal_id="1")
    assert deal.tax_method is TaxHandling.EXCLUSIVE
    codes = [p.code for p in deal.products]
    assert codes == ["LIC-PRO", "CONSULT-H", "SUPPORT-M"]
    consult, support = deal.products[1], deal.products[2]
    assert (consult.quantity, consult.discount, consult.discount_type, consult.tax_percent) == (
        Decimal("7.5"), Decimal(10), DiscountType.PERCENTAGE, Decimal(20))
    assert (support.discount, support.discount_type) == (Decimal(100), DiscountType.AMOUNT)
    globex = await PipedriveSource.open(connection, runtime).get_deal(deal_id="3")
    assert globex.tax_method is TaxHandling.NO_TAX
    assert [p.enabled for p in globex.products] == [True, False]


async def test_deal_level_discounts_and_inclusive_tax(runtime, connection, sandbox):
    deal = await PipedriveSource.open(connection, runtime).get_deal(deal_id="2")
    assert deal.tax_method is TaxHandling.INCLUSIVE
    assert [(d.amount, d.type, d.description) for d in deal.discounts] == [
        (Decimal(5), DiscountType.PERCENTAGE, "Partner discount")]
    assert products_total(deal) == deal.value == Decimal(str(sandbox.deals[2]["value"]))
    for product, raw in zip(deal.products, sandbox.lines_of(2), strict=True):
        assert line_total(product, deal.tax_method) == Decimal(str(raw["sum"]))


async def test_deal_custom_fields_are_readable(runtime, connection, seed):
    deal = await PipedriveSource.open(connection, runtime).get_deal(deal_id="1")
    keys = seed["fields"]["deal"]
    assert deal.custom_fields[keys["PO number"]] == "PO-7781"
    assert deal.custom_fields[keys["Sales channels"]] == "Web, Partner"
    assert deal.custom_fields[keys["Approved budget"]] == "5000 GBP"


async def test_deal_without_organization_or_person(runtime, connection):
    walk_in = await PipedriveSource.open(connection, runtime).get_deal(deal_id="6")
    assert walk_in.organization is None and walk_in.person.name == "Hank Scorpio"
    bare = await PipedriveSource.open(connection, runtime).get_deal(deal_id="7")
    assert bare.organization is None and bare.person is None and bare.products == ()


async def test_deleted_deal_raises_remote_not_found_with_clear_message(runtime, connection, sandbox):
    sandbox.delete_deal(4)
    with pytest.raises(RemoteNotFound) as info:
        await PipedriveSource.open(connection, runtime).get_deal(deal_id="4")
    assert "Deal 4 was not found in Pipedrive" in info.value.message
    assert info.value.status == 404


async def test_get_deals_is_batched_in_order_and_skips_unknown(runtime, connection, transport):
    deals = await PipedriveSource.open(connection, runtime).get_deals(deal_ids=["5", "1", "999", "3"])
    assert [d.id for d in deals] == ["5", "1", "3"]
    paths = [r.url.path for r, _, _ in transport.log]
    assert paths.count("/api/v2/deals") == 1 and paths.count("/api/v2/deals/products") == 1
    deal_ids_query = next(r.url.params["deal_ids"] for r, _, _ in transport.log if r.url.path == "/api/v2/deals/products")
    assert deal_ids_query == "5,1,3"
    assert not any(p.startswith("/api/v2/deals/1/products") for p in paths)


async def test_find_deals_won_in_date_range(runtime, connection, clock):
    today = clock.now().date()
    ids = await PipedriveSource.open(connection, runtime).find_deals(query=DealQuery(
        won_from=today - dt.timedelta(days=5), won_to=today))
    assert ids == ["1", "2"]  # deal 5 was won 12 days ago
    older = await PipedriveSource.open(connection, runtime).find_deals(query=DealQuery(
        won_from=today - dt.timedelta(days=30), won_to=today - dt.timedelta(days=7)))
    assert older == ["5"]


async def test_find_deals_by_ids_pipeline_and_stage(runtime, connection, sandbox):
    sandbox.deals[2]["stage_id"] = 4
    by_ids = await PipedriveSource.open(connection, runtime).find_deals(query=DealQuery(ids=["3", "42", "1"]))
    assert by_ids == ["3", "1"]
    by_stage = await PipedriveSource.open(connection, runtime).find_deals(query=DealQuery(status="won", pipeline_id="1", stage_id="4"))
    assert by_stage == ["2"]


async def test_cursor_paging_reads_every_page(runtime, connection, sandbox, transport):
    for n in range(510):
        sandbox.add_deal(f"Bulk deal {n}", "GBP", status="won")
    ids = await PipedriveSource.open(connection, runtime).find_deals(query=DealQuery())
    assert len(ids) == 3 + 510
    cursors = [r.url.params.get("cursor") for r, _, _ in transport.log if r.url.path == "/api/v2/deals"]
    assert cursors[0] is None and cursors[1]  # the second page was asked for with the cursor


async def test_list_fields_has_builtin_and_custom_fields_of_every_entity(runtime, connection, seed):
    fields = await PipedriveSource.open(connection, runtime).list_fields()
    by_ref = {f.ref: f for f in fields}
    assert {"organization.name", "organization.address", "person.emails", "deal.title", "deal.value"} <= set(by_ref)
    vat = by_ref["organization.custom:" + seed["fields"]["organization"]["VAT number"]]
    assert (vat.name, vat.type, vat.is_custom) == ("VAT number", "varchar", True)
    tier = by_ref["organization.custom:" + seed["fields"]["organization"]["Customer tier"]]
    assert sorted(tier.options.values()) == ["Bronze", "Gold", "Silver"]


async def test_custom_field_resolved_by_name_or_key_and_deleted_field_is_clear(runtime, connection, sandbox, seed):
    from invoicebridge.plugins.pipedrive.client import PipedriveClient
    from invoicebridge.plugins.pipedrive.deals import load_fields

    vat_key = seed["fields"]["organization"]["VAT number"]
    async with PipedriveClient(runtime, connection) as client:
        fields = await load_fields(client)
    assert find_field(fields, "organization", "vat number").key == vat_key
    assert find_field(fields, "organization", vat_key).name == "VAT number"

    sandbox.delete_field("organization", vat_key)  # deleted in Pipedrive after the mapping was saved
    deal = await PipedriveSource.open(connection, runtime).get_deal(deal_id="1")
    assert vat_key not in deal.organization.custom_fields
    async with PipedriveClient(runtime, connection) as client:
        fresh = await load_fields(client, refresh=True)
    with pytest.raises(FieldNotFound) as info:
        find_field(fresh, "organization", vat_key)
    assert "no longer exists" in info.value.message and "invoice mapping" in info.value.message


async def test_new_custom_key_refreshes_cached_fields(runtime, connection, sandbox):
    await PipedriveSource.open(connection, runtime).get_deal(deal_id="1")
    key = sandbox.add_custom_field("deal", "Contract type", "enum", ["Fixed", "T&M"])
    sandbox.deals[1]["custom_fields"][key] = sandbox.option_id("deal", key, "T&M")
    deal = await PipedriveSource.open(connection, runtime).get_deal(deal_id="1")
    assert deal.custom_fields[key] == "T&M"


async def test_deal_url_and_other_backends_are_ignored(runtime, connection, store):
    assert PipedriveSource.open(connection, runtime).deal_url(deal_id="12") == \
        "https://acme-sandbox.pipedrive.com/deal/12"
    other = store.add_connection(backend="xero", role="accounting", label="x")
    assert not isinstance(Plugins().open(runtime, other), PipedriveSource)  # core dispatches; no guard needed
    assert isinstance(Plugins().open(runtime, connection), PipedriveSource)


async def test_a_deal_whose_lines_are_all_disabled_still_has_its_discount_read(runtime, connection, sandbox):
    """Discounts are read only when the value differs from the enabled lines' sum; with every line disabled that
    sum is 0 and a discount still takes the value below it (found by the totals property test)."""
    deal_id = sandbox.add_deal("All off", "GBP", value=0)
    product = sandbox.add_product("Widget", "CODE-OFF", Decimal("10"))
    sandbox.attach_product(deal_id, product, 1, Decimal("10"), is_enabled=False)
    sandbox.add_discount(deal_id, Decimal("0.01"), "amount")
    for read in (lambda s: s.get_deal(str(deal_id)), lambda s: s.get_deals([str(deal_id)])):
        got = await read(PipedriveSource.open(connection, runtime))
        deal = got if not isinstance(got, list) else got[0]
        assert len(deal.discounts) == 1 and products_total(deal) == deal.value == Decimal("-0.01")


async def test_a_deal_without_lines_is_read_in_one_request_and_one_with_only_disabled_lines_in_two(
        runtime, connection, sandbox, transport):
    """getDeal with ``include_fields=products_count`` (spec-validated): a count of 0 spares the lines read; a
    disabled line still counts, so its deal's lines are read (then its product's code)."""
    source = PipedriveSource.open(connection, runtime)
    await source.get_deal(deal_id="1")  # the fields and the customer, read once
    empty = sandbox.add_deal("Nothing attached", "GBP", value="99.99")
    off = sandbox.add_deal("All off", "GBP", value=0)
    sandbox.attach_product(off, sandbox.add_product("Widget", "CODE-OFF", Decimal("10")), 1, Decimal("10"),
                           is_enabled=False)
    before = len(sandbox.requests)
    deal = await source.get_deal(deal_id=str(empty))
    assert [path for _, path, _ in sandbox.requests[before:]] == [f"/api/v2/deals/{empty}"]
    assert (deal.value, deal.products) == (Decimal("99.99"), ())
    before = len(sandbox.requests)
    deal = await source.get_deal(deal_id=str(off))
    assert [path for _, path, _ in sandbox.requests[before:]][:2] == [f"/api/v2/deals/{off}", f"/api/v2/deals/{off}/products"]
    assert [p.enabled for p in deal.products] == [False]


def test_only_a_products_count_of_zero_spares_the_lines_read():
    assert may_have_lines({"id": 1}) and may_have_lines({"products_count": None}) and may_have_lines({"products_count": 2})
    assert may_have_lines({"products_count": False}) and may_have_lines({"products_count": "0"})
    assert not may_have_lines({"products_count": 0})


@pytest.mark.parametrize("deal_id", ["1", "2", "3", "6", "7"])
async def test_a_deal_read_without_its_lines_then_with_them_equals_a_full_read(runtime, connection, sandbox, deal_id):
    """The deal page's head read (one getDeal) and its products section's lines read (getDealProducts, discounts when
    the value says so) give the deal a full read gives: lines, codes, deal-level discounts and the tax method the
    lines name (deal 1: exclusive, 2: inclusive with a discount, 3: no tax with a disabled line, 6/7: none)."""
    source = PipedriveSource.open(connection, runtime)
    full = await source.get_deal(deal_id)
    assert await source.get_deal_for_display(deal_id) == full  # a page's read: its customer's records kept for pages
    before = len(sandbox.requests)
    head = await source.get_deal_head(deal_id)
    assert [path for _, path, _ in sandbox.requests[before:]] == [f"/api/v2/deals/{deal_id}"]
    if not full.products:
        assert head == full and head.unread_lines is None  # a count of 0: nothing left unread
        return
    assert (head.unread_lines, head.products, head.discounts, head.tax_method) == (len(full.products), (), (), None)
    before = len(sandbox.requests)
    whole = await source.get_deal_lines(head)
    assert f"/api/v2/deals/{deal_id}" not in [path for _, path, _ in sandbox.requests[before:]]
    assert whole == full and dict(whole.custom_fields) == dict(full.custom_fields)
