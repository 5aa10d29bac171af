"""The deal page names a deal's lines only when asked (issue #15): a cold view costs the CRM one call, also for
a deal with products; the products section reads them when opened, and the create form always has them."""

import datetime as dt
import re
from decimal import Decimal

import jwt
import pytest
from starlette.testclient import TestClient

from demo_client import api_demo, page_client


@pytest.fixture
def demo(tmp_path):
    with api_demo(tmp_path) as (client, app, info):
        yield page_client(app, info), app


def crm_requests(app) -> list[str]:
    return [path.removeprefix("/sandbox/pipedrive") for _method, path, *_ in app.state.sandboxes["pipedrive"][1].state.sandbox.requests]


def cold(app, deal_id: str) -> int:
    """Drop the kept snapshot as a CRM webhook would; the number of CRM requests so far."""
    app.state.pipeline.forget_deal(deal_id)
    return len(crm_requests(app))


def test_a_cold_deal_page_with_products_costs_one_crm_call_and_says_how_many(demo):
    browser, app = demo
    assert browser.get("/deals/1").status_code == 200  # the first view also learns the CRM's fields and customer
    before = cold(app, "1")
    page = browser.get("/deals/1")
    assert page.status_code == 200
    assert crm_requests(app)[before:] == ["/api/v2/deals/1"]
    assert "3 products on the deal" in page.text and 'data-products-url="/deals/1/products"' in page.text
    assert "Annual licence" not in page.text  # the lines were not read
    before = len(crm_requests(app))
    assert "3 products on the deal" in browser.get("/deals/1").text
    assert len(crm_requests(app)) == before  # warm: nothing


def test_opening_the_products_reads_them_once_and_the_page_then_shows_them(demo):
    browser, app = demo
    browser.get("/deals/1")
    cold(app, "1")
    browser.get("/deals/1")
    before = len(crm_requests(app))
    section = browser.get("/deals/1/products")
    assert section.status_code == 200
    assert "<html" not in section.text and "Annual licence" in section.text and "LIC-PRO" in section.text
    assert "/api/v2/deals/1/products" in crm_requests(app)[before:]
    assert "/api/v2/deals/1" not in crm_requests(app)[before:]  # the deal itself is not read again
    before = len(crm_requests(app))
    page = browser.get("/deals/1")
    assert "Annual licence" in page.text and "products on the deal" not in page.text  # kept with its lines
    assert browser.get("/deals/1/products").status_code == 200
    assert len(crm_requests(app)) == before


def test_without_javascript_the_page_shows_them_when_asked(demo):
    browser, app = demo
    browser.get("/deals/1")
    cold(app, "1")
    assert "Annual licence" not in browser.get("/deals/1").text
    assert "/deals/1?products=1#deal-products" in browser.get("/deals/1").text
    shown = browser.get("/deals/1?products=1")
    assert "Annual licence" in shown.text and "Support (monthly)" in shown.text


def test_the_create_form_after_a_cold_page_view_has_every_line_and_the_same_total(demo):
    """A deal kept without its lines is never mistaken for a deal without lines: the form reads them."""
    browser, app = demo
    full = browser.get("/deals/1/invoices/new").text
    cold(app, "1")
    assert "3 products on the deal" in browser.get("/deals/1").text  # the kept deal now has no lines read
    form = browser.get("/deals/1/invoices/new").text
    for text in ("Annual licence", "Consulting (hourly)", "Support (monthly)"):
        assert text in form
    totals = re.compile(r'<table class="totals".*?</table>', re.S)
    assert totals.search(form).group(0) == totals.search(full).group(0)
    assert "5,400.60" in totals.search(form).group(0)


def test_the_products_section_refuses_unknown_deals_strangers_and_other_crm_users(demo):
    browser, app = demo
    assert browser.get("/deals/999999/products").status_code == 404
    assert browser.get("/deals/not-a-deal!/products").status_code == 404
    stranger = TestClient(app, base_url="http://127.0.0.1:8000")
    assert stranger.get("/deals/1/products", follow_redirects=False).status_code == 303  # sign in first
    # a CRM user opened deal 2 from the CRM: that session reaches deal 2's products, not deal 1's
    secret = app.state.runtime.backend_config("pipedrive")["jwt_secret"]
    exp = int((dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=5)).timestamp())
    token = jwt.encode({"userId": 7, "companyId": 7001, "exp": exp}, secret, algorithm="HS256")
    assert stranger.get(f"/deals?selectedIds=2&resource=deal&token={token}", follow_redirects=False).status_code == 303
    assert stranger.get("/deals/2/products").status_code == 200
    assert stranger.get("/deals/1/products", follow_redirects=False).status_code in (303, 403, 404)


def test_the_products_section_leaves_a_pending_message_for_the_next_page(demo):
    browser, app = demo
    token = re.search(r'name="csrf_token" value="([^"]+)"', browser.get("/settings").text).group(1)
    saved = browser.post("/settings", data={"csrf_token": token}, follow_redirects=False)  # leaves "Settings …"
    assert saved.status_code == 303
    assert browser.get("/deals/1/products").status_code == 200
    assert 'class="flash' in browser.get("/").text


def test_a_deal_read_without_its_lines_is_never_invoiced():
    from invoicebridge.core.mapping import MappingConfig, map_deal
    from invoicebridge.core.model import Catalog, Deal

    head = Deal(id="1", title="t", value=Decimal("10"), currency="GBP", unread_lines=2)
    with pytest.raises(ValueError, match="without its 2 lines"):
        map_deal(head, MappingConfig(), Catalog(), dt.date(2026, 11, 28))
