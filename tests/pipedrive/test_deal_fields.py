"""Invoice data into custom deal fields: text fields offered as writable, written with updateDeal (PATCH
/api/v2/deals/{id}, ``custom_fields``), validated against the v2 spec."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from invoicebridge.plugins.pipedrive.backend import PipedriveSource

pytestmark = pytest.mark.anyio


async def test_only_text_deal_fields_are_offered_for_writing(runtime, connection, seed):
    fields = await PipedriveSource.open(connection, runtime).list_fields()
    writable = {f.name for f in fields if f.writable}
    assert {"Invoice number", "Invoice status", "PO number"} <= writable
    assert not writable & {"Sales channels", "Approved budget", "VAT number", "Title"}  # set, monetary, other entity, built in
    assert PipedriveSource.info.capabilities.deal_fields


async def test_deal_fields_are_patched_as_text_and_cleared_with_null(runtime, connection, transport, sandbox, seed):
    number, status = seed["fields"]["deal"]["Invoice number"], seed["fields"]["deal"]["Invoice status"]
    deal_id = seed["deals"][0]
    source = PipedriveSource.open(connection, runtime)
    await source.set_deal_fields(str(deal_id), {number: "INV-0042", status: Decimal("12.50")})
    assert sandbox.deals[deal_id]["custom_fields"][number] == "INV-0042"
    assert sandbox.deals[deal_id]["custom_fields"][status] == "12.50"
    await source.set_deal_fields(str(deal_id), {number: None, status: dt.date(2026, 3, 1)})
    assert sandbox.deals[deal_id]["custom_fields"][number] is None
    assert sandbox.deals[deal_id]["custom_fields"][status] == "2026-03-01"
    patches = [(r, resp) for r, resp, note in transport.log if r.method == "PATCH"]
    assert [r.url.path for r, _ in patches] == [f"/api/v2/deals/{deal_id}"] * 2
    assert {note for _, _, note in transport.log} == {"validated"}
