import re

import attrs

import pytest
from fakes import MemoryAccounting, MemoryCRM
from starlette.testclient import TestClient

from invoicebridge.adapters.app import create_app
from invoicebridge.adapters.config import AppConfig
from invoicebridge.core import Deal, DealProduct, InvoiceStatus, Organization, Person
from invoicebridge.core.plugins import Plugins, make_plugin_manager

PASSWORD = "correct horse battery"


@pytest.fixture
def web(tmp_path, store):
    crm, acct = MemoryCRM(), MemoryAccounting()
    plugins = Plugins(make_plugin_manager(load_entry_points=False, extra=[crm, acct]))
    store.add_connection(backend="memcrm", role="crm", label="CRM")
    store.add_connection(backend="memacct", role="accounting", label="Demo Ltd", secrets={"token": "SECRET-TOKEN-XYZ"})
    org = Organization(id="5", name="Acme Ltd")
    crm.deals["1"] = Deal(id="1", title="Website", value=0, currency="GBP", organization=org, person=Person(id="9", name="Ann", emails=["ann@acme.test"]),
                          products=[DealProduct(name="Consulting", quantity=10, item_price=120, tax_percent=20, code="CONSULT-HR")])
    crm.deals["2"] = Deal(id="2", title="No org", value=100, currency="GBP")
    app = create_app(AppConfig(data_dir=tmp_path, sync_interval=0, admin_password=PASSWORD), store=store, plugins=plugins)
    key = store.create_api_key("test")
    with TestClient(app) as client:
        client.headers["Authorization"] = f"Bearer {key}"
        yield client, crm, acct, store


def test_openapi_document_lists_every_endpoint(web):
    client, *_ = web
    doc = client.get("/api/openapi.json").json()
    for path in ["/api/deals/{deal_id}/invoices", "/api/invoices/{invoice_id}", "/api/invoices/{invoice_id}/pdf", "/api/sync",
                 *[f"/api/invoices/{{invoice_id}}/{c}" for c in ("submit", "approve", "delete", "void", "email")]]:
        assert path in doc["paths"]


def test_every_endpoint_refuses_without_a_key(web):
    client, *_ = web
    anon = TestClient(client.app)
    for method, path in [("GET", "/api/deals/1/invoices"), ("POST", "/api/deals/1/invoices"), ("GET", "/api/invoices/1"),
                         ("POST", "/api/invoices/1/submit"), ("GET", "/api/invoices/1/pdf"), ("POST", "/api/sync")]:
        response = anon.request(method, path)
        assert response.status_code == 401, path
        assert "API key" in response.json()["message"]
    assert anon.get("/api/deals/1/invoices", headers={"Authorization": "Bearer wrong"}).status_code == 401


def test_create_list_get_and_commands(web):
    client, crm, acct, store = web
    created = client.post("/api/deals/1/invoices", json={"reference": "PO-7"}, headers={"Idempotency-Key": "abc"})
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["number"] == "INV-0001" and body["total"] == "1440.00" and body["status_label"] == "Draft"
    again = client.post("/api/deals/1/invoices", json={"reference": "PO-7"}, headers={"Idempotency-Key": "abc"})
    assert again.json()["id"] == body["id"] and len(acct.invoices) == 1
    clash = client.post("/api/deals/1/invoices", json={"reference": "other"}, headers={"Idempotency-Key": "abc"})
    assert clash.status_code == 409
    assert [i["id"] for i in client.get("/api/deals/1/invoices").json()["invoices"]] == [body["id"]]
    assert client.get(f"/api/invoices/{body['id']}").json()["reference"] == "PO-7"
    submitted = client.post(f"/api/invoices/{body['id']}/submit")
    assert submitted.status_code == 200 and submitted.json()["status"] == "AWAITING_APPROVAL"
    refused = client.post(f"/api/invoices/{body['id']}/void")
    assert refused.status_code == 409 and "Awaiting approval" in refused.json()["message"]
    deleted = client.post(f"/api/invoices/{body['id']}/delete")
    assert deleted.json()["status"] == "DELETED"


def test_unknown_ids_are_404_with_json(web):
    client, *_ = web
    assert client.get("/api/invoices/999").status_code == 404
    assert client.get("/api/invoices/abc").status_code == 404
    assert client.post("/api/invoices/1/explode").status_code == 404
    response = client.post("/api/deals/404/invoices", json={})
    assert response.status_code == 404 and "Deal 404" in response.json()["message"]


def test_unmappable_deal_is_422_with_the_mapping_error(web):
    client, *_ = web
    response = client.post("/api/deals/2/invoices", json={})
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "MappingError" and body["field"] == "to" and "link an organization" in body["message"]


def test_bad_bodies_are_400_or_422_and_create_nothing(web):
    client, _, acct, store = web
    assert client.post("/api/deals/1/invoices", content=b"{nope", headers={"Content-Type": "application/json"}).status_code == 400
    assert client.post("/api/deals/1/invoices", json=[1, 2]).status_code == 400
    assert client.post("/api/deals/1/invoices", json={"colour": "red"}).status_code == 400
    # what the OpenAPI document refuses is a 400 naming the field; what it allows but the invoice cannot be is a 422
    bad = client.post("/api/deals/1/invoices", json={"line_items": [{"description": "x", "quantity": "-1", "unit_amount": 1}]})
    assert bad.status_code == 400 and "line_items/0/quantity" in bad.json()["message"]
    huge = client.post("/api/deals/1/invoices", json={"line_items": [{"description": "é" * 5000, "quantity": "1e30", "unit_amount": 1}]})
    assert huge.status_code == 400 and "line_items/0/" in huge.json()["message"]
    zero = client.post("/api/deals/1/invoices", json={"line_items": [{"description": "x", "quantity": 1, "unit_amount": 1e15}]})
    assert zero.status_code == 422 and "too large" in zero.json()["message"]
    assert acct.invoices == {} and store.count_invoices() == 0


def test_pdf_and_sync(web):
    client, _, acct, store = web
    body = client.post("/api/deals/1/invoices", json={}).json()
    acct.set_status(body["remote_id"], InvoiceStatus.PAID)
    assert client.post("/api/sync").json()["changed"] == 1
    assert client.get(f"/api/invoices/{body['id']}").json()["status_label"] == "Paid"
    # The fake backend has no PDF support: the error says so instead of a stack trace.
    response = client.get(f"/api/invoices/{body['id']}/pdf")
    assert response.status_code == 409 and "does not support PDFs" in response.json()["message"]


def test_secrets_never_appear_in_api_responses(web):
    client, *_ = web
    body = client.post("/api/deals/1/invoices", json={}).text + client.get("/api/deals/1/invoices").text
    assert "SECRET-TOKEN-XYZ" not in body


def login(client):
    anon = TestClient(client.app)
    page = anon.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    response = anon.post("/login", data={"password": PASSWORD, "csrf_token": token, "next": "/"}, follow_redirects=False)
    assert response.status_code == 303
    return anon, token


def test_pages_need_login_and_forms_need_csrf(web):
    client, *_ = web
    anon = TestClient(client.app)
    assert anon.get("/", follow_redirects=False).headers["location"].startswith("/login")
    assert anon.get("/deals/1", follow_redirects=False).status_code == 303
    browser, token = login(client)
    assert browser.get("/").status_code == 200
    no_csrf = browser.post("/deals/1/invoices", data={"action": "draft"})
    assert no_csrf.status_code == 403 and "CSRF" in no_csrf.text
    wrong = browser.post("/settings", data={"csrf_token": "forged", "to": "organization.name"})
    assert wrong.status_code == 403


def test_wrong_password_is_refused(web):
    client, *_ = web
    anon = TestClient(client.app)
    token = re.search(r'name="csrf_token" value="([^"]+)"', anon.get("/login").text).group(1)
    response = anon.post("/login", data={"password": "nope", "csrf_token": token})
    assert response.status_code == 401 and "Wrong password" in response.text
    assert anon.get("/", follow_redirects=False).status_code == 303


def test_create_from_the_page_with_a_bad_quantity_shows_the_error(web):
    client, _, acct, _ = web
    browser, token = login(client)
    form = browser.get("/deals/1/invoices/new")
    assert form.status_code == 200 and "Acme Ltd" in form.text
    nonce = re.search(r'name="nonce" value="([^"]+)"', form.text).group(1)
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)  # a new session after login
    data = {"csrf_token": token, "nonce": nonce, "action": "draft", "customer_name": "Acme Ltd", "date": "2026-03-13", "due_date": "2026-03-20",
            "currency": "GBP", "tax_handling": "Exclusive", "line-0-description": "Consulting", "line-0-quantity": "ten",
            "line-0-unit_amount": "120", "line-0-account_code": "200", "line-0-tax_type": "OUTPUT2"}
    bad = browser.post("/deals/1/invoices", data=data)
    assert bad.status_code == 422 and "Line 1, quantity: &#39;ten&#39; is not a number" in bad.text and acct.invoices == {}
    data["line-0-quantity"] = "10"
    ok = browser.post("/deals/1/invoices", data=data, follow_redirects=False)
    assert ok.status_code == 303 and ok.headers["location"].startswith("/deals/1#invoice-")
    double_click = browser.post("/deals/1/invoices", data=data, follow_redirects=False)
    assert double_click.status_code == 303 and len(acct.invoices) == 1
    page = browser.get("/deals/1")
    assert "INV-0001" in page.text and "Draft" in page.text and "Submit for approval" in page.text


def test_a_failed_create_shows_on_the_dashboard_and_deal_page_and_retry_creates_it_once(web):
    from invoicebridge.core import ServerError

    client, _, acct, store = web
    acct.fail_next.append(ServerError("Xero answered 503 Service Unavailable", status=503))
    failed = client.post("/api/deals/1/invoices", json={}, headers={"Idempotency-Key": "retry-me"})
    assert failed.status_code == 502 and "retried" in failed.json()["message"]
    browser, _ = login(client)
    dashboard = browser.get("/")
    assert "Needs attention" in dashboard.text and "Xero answered 503" in dashboard.text and "Will retry" in dashboard.text
    deal_page = browser.get("/deals/1")
    assert "Creating an invoice failed: Xero answered 503" in re.sub(r"<[^>]+>", "", deal_page.text)  # as shown
    token = re.search(r'name="csrf_token" value="([^"]+)"', dashboard.text).group(1)
    key = re.search(r'action="/operations/([^/]+)/retry"', dashboard.text).group(1)
    done = browser.post(f"/operations/{key}/retry", data={"csrf_token": token, "next": "/"})
    assert done.status_code == 200 and "INV-0001" in done.text and "created for deal 1" in done.text
    assert len(acct.invoices) == 1
    again = client.post("/api/deals/1/invoices", json={}, headers={"Idempotency-Key": "retry-me"})
    assert again.status_code == 201 and len(acct.invoices) == 1
    assert "Nothing failed" in browser.get("/").text


def test_sign_in_waits_longer_after_each_wrong_password_past_five(web):
    """Per account, not per address: five wrong passwords are free, then each try waits twice as long as the
    last; the right password does not get in during the pause, and does once it is over."""
    import datetime as dt

    client, *_ = web
    runtime = client.app.state.runtime
    clock = [dt.datetime(2026, 11, 20, 10, 0, tzinfo=dt.timezone.utc)]
    runtime.now = lambda: clock[0]
    anon = TestClient(client.app)
    token = re.search(r'name="csrf_token" value="([^"]+)"', anon.get("/login").text).group(1)
    codes = [anon.post("/login", data={"password": f"guess-{i}", "csrf_token": token}).status_code for i in range(6)]
    assert codes == [401] * 5 + [429]
    blocked = anon.post("/login", data={"password": PASSWORD, "csrf_token": token})
    assert blocked.status_code == 429 and "Too many wrong passwords" in blocked.text and blocked.headers["Retry-After"] == "2"
    assert anon.get("/", follow_redirects=False).status_code == 303  # the right password did not get in
    clock[0] += dt.timedelta(seconds=1)  # the first pause is one second
    assert anon.post("/login", data={"password": "guess-6", "csrf_token": token}).status_code == 401
    assert anon.post("/login", data={"password": PASSWORD, "csrf_token": token}).headers["Retry-After"] == "3"  # now two
    clock[0] += dt.timedelta(seconds=2)
    assert anon.post("/login", data={"password": PASSWORD, "csrf_token": token}, follow_redirects=False).status_code == 303


def test_an_idempotency_key_that_is_not_1_to_100_printable_ascii_is_a_400_naming_the_header(web):
    client, crm, acct, store = web
    for key in ("é".encode(), "x" * 101, "", "a\tb"):
        response = client.post("/api/deals/1/invoices", json={}, headers={"Idempotency-Key": key})
        assert response.status_code == 400, (key, response.text)
        assert "Idempotency-Key" in response.json()["message"]
    assert not acct.invoices and not store.operations()


def test_idempotency_keys_are_compared_exactly_so_distinct_keys_never_share_an_invoice(web):
    """"ord 42", "ord/42" and "ord#42" were folded into one key: a second, distinct request got the first one's
    invoice (or a 409 when it was for another deal) and was never created."""
    client, crm, acct, store = web
    for deal in ("3", "4", "5", "6"):
        crm.deals[deal] = attrs.evolve(crm.deals["1"], id=deal)
    made = {}
    for deal, key in zip(("1", "3", "4", "5", "6"), ("ord 42", "ord/42", "ord#42", "ord-42", "!!!"), strict=True):
        response = client.post(f"/api/deals/{deal}/invoices", json={}, headers={"Idempotency-Key": key})
        assert response.status_code == 201, (key, response.text)
        assert response.json()["deal_id"] == deal
        made[key] = response.json()["id"]
    assert len(set(made.values())) == 5 and len(acct.invoices) == 5
    for key, invoice_id in made.items():  # each key still answers with its own invoice
        deal = next(d for d, k in zip(("1", "3", "4", "5", "6"), made, strict=True) if k == key)
        again = client.post(f"/api/deals/{deal}/invoices", json={}, headers={"Idempotency-Key": key})
        assert again.status_code == 201 and again.json()["id"] == invoice_id
    assert len(acct.invoices) == 5


def test_preview_refuses_fields_create_refuses_and_a_customer_override_that_would_be_ignored(web):
    """A preview that says ok for a misspelt field, or a create that drops a customer given as a string or with
    a misspelt key, would invoice the mapped customer while the caller believes they changed it."""
    client, crm, acct, store = web
    typo = client.post("/api/deals/1/preview", json={"refrence": "PO-1"})
    assert typo.status_code == 400 and "refrence" in typo.json()["message"]
    for customer in ("Bob", ["Bob"], {"nmae": "Bob"}):
        for path in ("/api/deals/1/preview", "/api/deals/1/invoices"):
            response = client.post(path, json={"customer": customer})
            assert response.status_code == 400, (path, customer, response.text)
            assert "customer" in response.json()["message"].lower()
    assert not acct.invoices and store.count_invoices() == 0


def test_an_invoice_the_accounting_system_refuses_for_good_is_a_422_not_a_500(web):
    """A create refused by the backend (not retryable) is the caller's to fix, not a server crash; asking again
    with the same key says the same."""
    client, _, acct, store = web
    for _ in range(2):
        refused = client.post("/api/deals/1/invoices", json={"reference": "REJECT"}, headers={"Idempotency-Key": "refused"})
        assert refused.status_code == 422, refused.text
        assert "Reference REJECT is refused" in refused.json()["message"]
    assert not acct.invoices


def test_a_form_nonce_without_letters_or_digits_still_creates_one_invoice(web):
    client, _, acct, _ = web
    browser, _ = login(client)
    form = browser.get("/deals/1/invoices/new")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
    data = {"csrf_token": token, "nonce": "!!!", "action": "draft", "customer_name": "Acme Ltd", "date": "2026-03-13",
            "due_date": "2026-03-20", "currency": "GBP", "tax_handling": "Exclusive", "line-0-description": "Consulting",
            "line-0-quantity": "1", "line-0-unit_amount": "120", "line-0-account_code": "200", "line-0-tax_type": "OUTPUT2"}
    first = browser.post("/deals/1/invoices", data=data, follow_redirects=False)
    again = browser.post("/deals/1/invoices", data=data, follow_redirects=False)
    assert first.status_code == again.status_code == 303 and len(acct.invoices) == 1


def test_settings_before_the_crm_is_connected_offer_the_built_in_fields(web):
    client, _, _, store = web
    store.deactivate_connection(store.active_connection("crm").id)
    browser, _ = login(client)
    page = browser.get("/settings")
    assert re.search(r"No CRM \([^)]*Memory CRM[^)]*\) connection is set up", page.text)  # the CRM plugins installed
    assert "not found in the CRM" not in page.text
    selected = re.search(r'<select name="to" id="map-to">.*?<option value="organization.name" selected>([^<]+)</option>', page.text, re.S)
    assert selected and selected.group(1) == "Organization → Name"
