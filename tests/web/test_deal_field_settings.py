"""Choosing the deal fields that receive the invoice number and status: on the Settings page and through
``/api/settings/deal-fields``; an unknown field is a clear 4xx and nothing is stored."""

import re


from test_api import login, web  # noqa: F401 (the fixture)

NUMBER, STATUS = "n" * 40, "s" * 40


def test_the_api_lists_the_choices_and_refuses_an_unknown_field(web):  # noqa: F811
    client, crm, _, store = web
    got = client.get("/api/settings/deal-fields").json()
    assert got["invoice_number"] is None and got["invoice_status"] is None
    assert [c["key"] for c in got["choices"]] == [NUMBER, STATUS]
    refused = client.put("/api/settings/deal-fields", json={"invoice_status": "nope"})
    assert refused.status_code == 422 and "Invoice status" in refused.json()["message"]
    assert client.put("/api/settings/deal-fields", json={"colour": STATUS}).status_code == 422
    assert client.put("/api/settings/deal-fields", content=b"[1]").status_code == 400
    assert client.put("/api/settings/deal-fields", json={"invoice_status": 7}).status_code == 422
    assert not store.get_settings().get("deal_field_invoice_status")
    ok = client.put("/api/settings/deal-fields", json={"invoice_status": STATUS, "invoice_number": None})
    assert ok.status_code == 200 and ok.json()["invoice_status"] == STATUS
    created = client.post("/api/deals/1/invoices", json={}).json()
    assert crm.deal_fields["1"] == {STATUS: "Draft"} and created["status"] == "DRAFT"
    assert "/api/settings/deal-fields" in client.get("/api/openapi.json").json()["paths"]


def test_the_settings_page_offers_the_fields_and_refuses_an_unknown_one(web):  # noqa: F811
    client, _, _, store = web
    browser, _ = login(client)
    page = browser.get("/settings")
    assert page.status_code == 200 and 'name="deal_field_invoice_number"' in page.text and f'value="{NUMBER}"' in page.text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    form = {"csrf_token": token, "to": "organization.name", "deal_field_invoice_number": NUMBER,
            "deal_field_invoice_status": "unknown-field"}
    refused = browser.post("/settings", data=form)
    assert "Settings not saved" in refused.text and "unknown-field is not a text deal field" in refused.text
    assert not store.get_settings().get("deal_field_invoice_number")  # nothing of the form stored
    form["deal_field_invoice_status"] = STATUS
    browser.post("/settings", data=form)
    settings = store.get_settings()
    assert settings["deal_field_invoice_number"] == NUMBER and settings["deal_field_invoice_status"] == STATUS
    assert f'value="{STATUS}" selected' in browser.get("/settings").text
