"""The Xero sandbox's JSON: Decimals written as numbers with their exact digits, everything else as json writes it."""

from __future__ import annotations

import json
from decimal import Decimal

from invoicebridge.plugins.xero.sandbox_render import to_json


def test_decimals_keep_their_digits_and_strings_stay_strings():
    payload = {"UnitAmount": Decimal("2.0000"), "Lines": [{"Total": Decimal("-12.50")}, {"Total": Decimal("0")}],
               "Reference": 'Deal "7" \u0000D:1.5', "Empty": None, "Paid": False}
    text = to_json(payload)
    assert text.startswith(b'{"UnitAmount":2.0000,"Lines":[{"Total":-12.50},{"Total":0}]')
    back = json.loads(text, parse_float=Decimal)
    assert back["Reference"] == 'Deal "7" \u0000D:1.5' and back["Empty"] is None and back["Paid"] is False
    assert str(back["UnitAmount"]) == "2.0000"


def test_a_large_response_is_every_invoice_once():
    invoices = [{"InvoiceNumber": f"INV-{n}", "Total": Decimal(f"{n}.10")} for n in range(5000)]
    back = json.loads(to_json({"Invoices": invoices}), parse_float=Decimal)["Invoices"]
    assert [str(i["Total"]) for i in back[:2]] == ["0.10", "1.10"] and len(back) == 5000
