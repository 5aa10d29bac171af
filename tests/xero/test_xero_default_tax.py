"""The default tax of a line that names none: the Xero catalog exposes it (item, then account, in neutral terms)
and the sandbox applies it as Xero does, so core's settled preview equals what is stored."""

from __future__ import annotations

from decimal import Decimal

import pytest

from invoicebridge.core.model import LineItem
from invoicebridge.core.plugins import Plugins
from invoicebridge.core.totals import line_taxes, settle

from test_xero_invoices import create, make_draft

pytestmark = pytest.mark.anyio


async def test_the_catalog_names_each_items_and_accounts_default_tax(runtime, connection):
    catalog = await Plugins().catalog(runtime, connection=connection)
    assert catalog.account("200").tax_type == "OUTPUT2" and catalog.account("270").tax_type == "NONE"
    assert catalog.item("TRAIN").tax_type == "RROUTPUT" and catalog.item("BOOK").tax_type == "ZERORATEDOUTPUT"
    assert catalog.default_tax_type(account_code="200") == "OUTPUT2"
    assert catalog.default_tax_type(item_code="TRAIN", account_code="200") == "RROUTPUT"  # the item's wins


@pytest.mark.parametrize("handling", ["Exclusive", "Inclusive"])
async def test_lines_without_a_tax_type_are_stored_with_the_default_the_preview_showed(runtime, connection, sandbox, handling):
    catalog = await Plugins().catalog(runtime, connection=connection)
    lines = [LineItem("Deal value", unit_amount="123.45", account_code="200"),
             LineItem("Training", quantity="1.5", unit_amount="850", item_code="TRAIN"),
             LineItem("Interest", unit_amount="10", account_code="270"),
             LineItem("Handbook", quantity=3, unit_amount="35.005", item_code="BOOK", account_code="200")]
    # What core computes once the defaults are settled; then sent with no TaxType on any line.
    draft = make_draft("7", line_items=lines, tax_handling=handling)
    settled = settle(draft, catalog)
    assert [line.tax_type for line in settled.line_items] == ["OUTPUT2", "RROUTPUT", "NONE", "ZERORATEDOUTPUT"]
    [result] = await create(runtime, connection, draft)
    stored = sandbox.state.invoices[result.invoice.remote_id]
    assert [line.tax_type for line in stored.lines] == ["OUTPUT2", "RROUTPUT", "NONE", "ZERORATEDOUTPUT"]
    assert [line.tax_amount for line in stored.lines] == line_taxes(settled)
    assert (stored.sub_total, stored.total_tax, stored.total) == (settled.totals.subtotal, settled.totals.tax, settled.totals.total)
    if handling == "Exclusive":
        assert stored.total == Decimal("1601.91")  # 148.14 + 1,338.75 (5 %) + 10.00 (none) + 105.02 (zero rated)
