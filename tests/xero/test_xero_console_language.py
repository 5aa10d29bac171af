"""The Xero sandbox console in the page's language: the amount to pay offered as the input's placeholder."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from demo_client import api_demo

from invoicebridge.core.i18n import format_number, parse_decimal, use_locale


@pytest.fixture
def demo(tmp_path):
    with api_demo(tmp_path) as running:
        yield running


@pytest.mark.parametrize(("language", "grouping", "decimal"), [("de", ".", ","), ("en", ",", ".")])
def test_console_amount_placeholder_is_formatted_for_the_page_language(demo, language, grouping, decimal):
    """The amount due offered as the placeholder read "1190" or "5400,6" (``number_input``: no grouping, no
    cents); it is now the page language's number to the cent, grouped like every other amount, and reads back."""
    client, app, info = demo
    created = client.post(f"/api/deals/{info['suggested_deal']}/invoices", json={},
                          headers={"Idempotency-Key": "xero-placeholder"})
    assert created.status_code == 201, created.text
    remote_id = created.json()["remote_id"]
    approved = client.post(f"/sandbox/xero/console/invoices/{remote_id}/approve", follow_redirects=False)
    assert approved.status_code == 303
    due = app.state.sandboxes["xero"][1].state.invoices[remote_id].amount_due
    assert Decimal(str(due)) >= 1000  # so the grouping shows
    page = client.get(f"/sandbox/xero/?lang={language}")
    found = re.search(rf'id="invoice-{remote_id}".*?name="amount"[^>]*placeholder="([^"]*)"', page.text, re.S)
    with use_locale(language):
        expected = format_number(Decimal(str(due)), places=2)
        assert found and found.group(1) == expected, (found and found.group(1), expected)
        assert grouping in expected and expected[-3] == decimal
        assert parse_decimal(found.group(1), field="amount") == Decimal(str(due))
