"""A double click on a command button: the second click of 'Submit' may land on the next page's button in the same
place ('Approve'). A command form says which status its button was shown for; the server does nothing when the
invoice has moved on since, instead of applying a second, different command."""

import re

import pytest

from demo_client import api_demo, page_client


@pytest.fixture
def demo(tmp_path):
    with api_demo(tmp_path) as (client, app, info):
        yield client, page_client(app, info)


def command_form(html: str, invoice_id: int, command: str) -> dict[str, str]:
    form = re.search(rf'<form method="post" action="/invoices/{invoice_id}/{command}".*?</form>', html, re.S).group(0)
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form))


def test_a_command_form_shown_for_an_older_status_does_nothing(demo):
    api, browser = demo
    created = api.post("/api/deals/1/invoices", json={})
    assert created.status_code == 201, created.text
    invoice_id = created.json()["id"]
    page = browser.get("/deals/1").text
    submit = command_form(page, invoice_id, "submit")
    assert submit.get("asked_on") == "DRAFT"
    assert browser.post(f"/invoices/{invoice_id}/submit", data=submit).status_code in (200, 303)
    assert api.get(f"/api/invoices/{invoice_id}").json()["status"] == "AWAITING_APPROVAL"
    # the second click, sent with what the first page showed, now aimed at the button in the same place
    again = browser.post(f"/invoices/{invoice_id}/approve", data=submit, follow_redirects=True)
    assert again.status_code == 200
    assert api.get(f"/api/invoices/{invoice_id}").json()["status"] == "AWAITING_APPROVAL"
    assert "changed since" in again.text
    # the page shown now approves
    approve = command_form(browser.get("/deals/1").text, invoice_id, "approve")
    assert approve.get("asked_on") == "AWAITING_APPROVAL"
    browser.post(f"/invoices/{invoice_id}/approve", data=approve)
    assert api.get(f"/api/invoices/{invoice_id}").json()["status"] == "AWAITING_PAYMENT"
