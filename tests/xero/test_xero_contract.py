"""Contract: the spec's own example responses parse through our converter without loss; the date rules;
and the validating transport really rejects what the spec forbids (so the other tests' checks can fail)."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import httpx
import pytest
import yaml

from invoicebridge.plugins.xero import converter as w
from invoicebridge.plugins.xero.msdate import format_ms, parse_date, parse_datetime

from xero_support import SPECS, ValidatingTransport

# operationId -> (plural key, wire class) for every read and write we use
OPERATIONS = {
    "getInvoices": ("Invoices", w.Invoice), "getInvoice": ("Invoices", w.Invoice),
    "createInvoices": ("Invoices", w.Invoice), "updateInvoice": ("Invoices", w.Invoice),
    "getContacts": ("Contacts", w.Contact), "createContacts": ("Contacts", w.Contact),
    "getItems": ("Items", w.Item), "getTaxRates": ("TaxRates", w.TaxRate), "getAccounts": ("Accounts", w.Account),
    "getCurrencies": ("Currencies", w.Currency), "getBrandingThemes": ("BrandingThemes", w.BrandingTheme),
    "getOrganisations": ("Organisations", w.Organisation), "getUsers": ("Users", w.User),
    "getOnlineInvoice": ("OnlineInvoices", w.OnlineInvoice),
}


class TextDates(yaml.CSafeLoader):
    """YAML would turn unquoted ``2019-03-11T00:00:00`` into datetimes; on the wire they are strings."""


TextDates.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:timestamp"]
    for k, v in yaml.CSafeLoader.yaml_implicit_resolvers.items()
}


@pytest.fixture(scope="module")
def examples() -> dict[str, Any]:
    spec = yaml.load((SPECS / "xero_accounting.yaml").read_text(), Loader=TextDates)
    out = {}
    for item in spec["paths"].values():
        for op in item.values():
            if isinstance(op, dict) and op.get("operationId") in OPERATIONS:
                example = op["responses"]["200"]["content"]["application/json"].get("example")
                if example:
                    out[op["operationId"]] = example
    return out


def same(original: Any, parsed: Any) -> bool:
    """The wire value and what our converter kept mean the same thing."""
    if isinstance(parsed, Decimal):
        return Decimal(str(original)) == parsed
    if isinstance(parsed, dt.datetime):
        return parse_datetime(original) == parsed
    if isinstance(parsed, dt.date):
        return parse_date(original) == parsed
    return original == parsed


def assert_no_loss(original: dict, parsed: Any, path: str) -> int:
    """Every field we model that the example carries is kept, with the same meaning. Returns fields checked."""
    checked = 0
    for attribute in w.attrs.fields(type(parsed)):
        name = w._RENAMES.get((type(parsed), attribute.name), w.wire_name(type(parsed), attribute.name))
        if name not in original or original[name] is None:
            continue
        value = getattr(parsed, attribute.name)
        here = f"{path}.{name}"
        assert value is not None, f"{here} was dropped"
        if isinstance(value, list):
            assert len(value) == len(original[name]), here
            for i, (o, p) in enumerate(zip(original[name], value, strict=True)):
                checked += assert_no_loss(o, p, f"{here}[{i}]") if w.attrs.has(type(p)) else int(same(o, p))
        elif w.attrs.has(type(value)):
            checked += assert_no_loss(original[name], value, here)
        else:
            assert same(original[name], value), f"{here}: {original[name]!r} became {value!r}"
            checked += 1
    return checked


def test_every_operation_we_use_has_an_example(examples):
    assert set(examples) == set(OPERATIONS)


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_spec_examples_parse_without_loss(examples, operation):
    key, cls = OPERATIONS[operation]
    payload = w.loads(json.dumps(examples[operation]))  # through JSON, with decimals, like a real response
    elements = payload[key]
    parsed = w.structure_list(elements, cls)
    checked = sum(assert_no_loss(o, p, f"{operation}.{key}[{i}]") for i, (o, p) in enumerate(zip(elements, parsed, strict=True)))
    assert checked > 0


def test_ms_dates_and_iso_dates_give_the_right_calendar_day():
    assert parse_date("/Date(1539993600000+0000)/") == dt.date(2018, 10, 20)
    assert parse_date("/Date(1539993600000+1300)/") == dt.date(2018, 10, 20)  # the offset is informational
    assert parse_date("2018-10-20T00:00:00") == dt.date(2018, 10, 20)
    assert parse_date("2018-10-20") == dt.date(2018, 10, 20)
    assert parse_datetime("/Date(1573755038314)/") == dt.datetime(2019, 11, 14, 18, 10, 38, 314000, tzinfo=dt.timezone.utc)
    assert parse_datetime("2019-11-14T18:10:38Z") == dt.datetime(2019, 11, 14, 18, 10, 38, tzinfo=dt.timezone.utc)
    assert parse_datetime("2019-11-14T18:10:38") .tzinfo == dt.timezone.utc  # naive means UTC
    assert format_ms(dt.date(2018, 10, 20)) == "/Date(1539993600000+0000)/"
    with pytest.raises(ValueError, match="neither"):
        parse_datetime("20th of October")


def test_bad_payload_gives_a_readable_message():
    with pytest.raises(w.WireFormatError, match=r"Invoice\.LineItems|Quantity|line_items"):
        w.structure({"LineItems": [{"Quantity": "two"}]}, w.Invoice)


def test_amounts_are_sent_quantised_and_never_as_binary_noise():
    from invoicebridge.core.model import LineItem
    from invoicebridge.plugins.xero.translate import line_to_wire

    wire = w.unstructure(line_to_wire(LineItem(description="x", quantity="1.333333", unit_amount="0.1",
                                               discount_rate="12.5")))
    text = w.dumps(wire).decode()
    assert '"Quantity":1.3333' in text and '"UnitAmount":0.1' in text and '"DiscountRate":12.5' in text


@pytest.mark.anyio
async def test_validating_transport_flags_spec_violations(sandbox, specs):
    transport = ValidatingTransport(sandbox, specs)
    async with httpx.AsyncClient(transport=transport, base_url="http://xero.test") as raw:
        # no xero-tenant-id (a required header) and a read-only field in the body
        await raw.put("/api.xro/2.0/Invoices", json={"Invoices": [{"Type": "ACCREC", "Total": 5}]})
    assert len(transport.problems) == 1 and "request PUT /api.xro/2.0/Invoices" in transport.problems[0]
