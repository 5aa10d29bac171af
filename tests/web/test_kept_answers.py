"""API answers kept in front of the middleware stack (adapters/kept_answers.py) and the API-key cache
(security.ApiKeys): the same bytes the stack gives, never for a revoked key, never stale after a change."""

from starlette.testclient import TestClient

from test_api import login, web  # noqa: F401  (the fixture)

from invoicebridge.core import InvoiceStatus
from invoicebridge.core import store_reads
from invoicebridge.core.store import Store
from invoicebridge.adapters.security import ApiKeys

LIST = "/api/deals/1/invoices"


def _kept(client):
    """Create an invoice, then ask the list until it is kept; afterwards the stack below the lane fails, so
    an answer that still comes can only have come from what is kept."""
    created = client.post(LIST, json={})
    assert created.status_code == 201, created.text
    client.app.state.runtime.store.writer.flush()  # the key's first use, written by the writer thread, is a change
    first = client.get(LIST)
    assert first.status_code == 200 and client.app.state.page_cache.answers
    return created.json(), first


def _stack_fails(client, monkeypatch):
    async def fail(scope, receive, send):
        raise AssertionError("the full stack was asked")

    monkeypatch.setattr(client.app.router, "middleware_stack", fail)


def test_a_kept_answer_is_what_the_stack_answered_byte_for_byte(web, monkeypatch):  # noqa: F811
    client, *_ = web
    _body, first = _kept(client)
    _stack_fails(client, monkeypatch)
    again = client.get(LIST)
    assert again.status_code == 200 and again.content == first.content
    assert list(again.headers.items()) == list(first.headers.items())
    for name in ("content-security-policy", "x-content-type-options", "referrer-policy", "vary"):
        assert again.headers[name]


def test_a_revoked_key_is_refused_at_once_though_the_answer_is_kept(web):  # noqa: F811
    client, _crm, _acct, store = web
    _kept(client)
    other_key = store.create_api_key("other")
    other = TestClient(client.app, headers={"Authorization": f"Bearer {other_key}"})
    assert other.get(LIST).status_code == 200
    store.writer.flush()
    assert client.get(LIST).status_code == 200 and other.get(LIST).status_code == 200  # both kept now
    key_id = next(k["id"] for k in store.list_api_keys() if k["label"] == "test")
    store.revoke_api_key(key_id)
    refused = client.get(LIST)
    assert refused.status_code == 401 and "invoices" not in refused.json()
    assert other.get(LIST).status_code == 200


def test_a_key_revoked_by_another_process_is_refused_on_its_next_request(web, monkeypatch):  # noqa: F811
    client, _crm, _acct, store = web
    _kept(client)
    assert client.get(LIST).status_code == 200
    monkeypatch.setattr(store_reads, "GENERATION_RECHECK_S", 0.0)  # instead of waiting its 1 ms
    key_id = next(k["id"] for k in store.list_api_keys() if k["label"] == "test")
    other = Store.open(store.path)
    try:
        other.revoke_api_key(key_id)
    finally:
        other.close()
    assert client.get(LIST).status_code == 401


def test_the_key_cache_forgets_a_revoked_key(store):
    key = store.create_api_key("cached")
    keys = ApiKeys(store, lambda: None)
    assert keys.ok(key) and keys.ok(key)
    store.revoke_api_key(next(k["id"] for k in store.list_api_keys() if k["label"] == "cached"))
    assert not keys.ok(key)
    assert not keys.ok("") and not keys.ok("ib_not-a-key")


def test_no_key_a_wrong_key_or_a_session_cookie_never_gets_a_kept_answer(web, monkeypatch):  # noqa: F811
    client, *_ = web
    _kept(client)
    anon = TestClient(client.app)
    assert anon.get(LIST).status_code == 401
    assert anon.get(LIST, headers={"Authorization": "Bearer ib_wrong"}).status_code == 401
    assert anon.get(LIST, headers={"X-API-Key": "ib_wrong"}).status_code == 401
    page, _token = login(client)
    page.headers["Authorization"] = client.headers["Authorization"]
    _stack_fails(client, monkeypatch)
    try:
        page.get(LIST)
    except AssertionError as exc:  # a session cookie goes the full way (its layer may answer with a cookie)
        assert "full stack" in str(exc)
    else:
        raise AssertionError("a request with a session cookie was answered from what is kept")


def test_a_changed_invoice_is_never_served_from_the_kept_answer(web):  # noqa: F811
    client, _crm, _acct, store = web
    body, first = _kept(client)
    hits = client.app.state.page_cache.hits
    assert client.get(LIST).json()["invoices"][0]["status"] == "DRAFT"
    assert client.app.state.page_cache.hits == hits + 1  # served from what is kept
    store.update_invoice(body["id"], status=InvoiceStatus.PAID, amount_paid="1440.00", amount_due="0")
    answer = client.get(LIST).json()["invoices"][0]
    assert (answer["status"], answer["amount_paid"]) == ("PAID", "1440.00")


def test_each_language_is_kept_apart(web):  # noqa: F811
    client, *_ = web
    _kept(client)
    english = client.get(LIST).json()["invoices"][0]["status_label"]
    german = client.get(LIST, headers={"Accept-Language": "de"}).json()["invoices"][0]["status_label"]
    assert english == "Draft" and german != english
    assert client.get(LIST, headers={"Accept-Language": "de"}).json()["invoices"][0]["status_label"] == german
    assert client.get(LIST).json()["invoices"][0]["status_label"] == english
