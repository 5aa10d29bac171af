"""Pages and API answers kept rendered until anything they show changes: a change shows at once."""

import re

from test_api import login, web  # noqa: F401  (the fixture)

from invoicebridge.core import InvoiceStatus
from invoicebridge.core import store_reads
from invoicebridge.core.store import Store


def _invoice(client):
    created = client.post("/api/deals/1/invoices", json={})
    assert created.status_code == 201, created.text
    return created.json()


def test_a_changed_invoice_shows_at_once_on_the_deal_page_and_the_api(web):  # noqa: F811
    client, crm, acct, store = web
    body = _invoice(client)
    page, _token = login(client)
    assert "Draft" in page.get("/deals/1").text
    assert client.get("/api/deals/1/invoices").json()["invoices"][0]["status"] == "DRAFT"
    store.writer.flush()  # the API key's first use, recorded by the writer thread, is a change too
    page.get("/deals/1")
    client.get("/api/deals/1/invoices")
    cache = client.app.state.page_cache
    hits = cache.hits + cache.front_hits
    page.get("/deals/1")
    client.get("/api/deals/1/invoices")
    assert cache.hits + cache.front_hits == hits + 2  # kept: nothing changed

    store.update_invoice(body["id"], status=InvoiceStatus.PAID, amount_paid="1440.00", amount_due="0")
    assert "Paid" in page.get("/deals/1").text
    assert client.get("/api/deals/1/invoices").json()["invoices"][0]["status"] == "PAID"


def test_a_change_from_another_process_shows_on_the_next_view(web, monkeypatch):  # noqa: F811
    client, crm, acct, store = web
    body = _invoice(client)
    assert client.get("/api/deals/1/invoices").json()["invoices"][0]["amount_paid"] == "0.00"
    monkeypatch.setattr(store_reads, "GENERATION_RECHECK_S", 0.0)  # instead of waiting its 1 ms
    other = Store.open(store.path)
    try:
        other.update_invoice(body["id"], status=InvoiceStatus.AWAITING_PAYMENT, amount_paid="100.00")
    finally:
        other.close()
    answer = client.get("/api/deals/1/invoices").json()["invoices"][0]
    assert (answer["status"], answer["amount_paid"]) == ("AWAITING_PAYMENT", "100.00")


def test_two_sessions_never_share_a_kept_page_s_csrf_token(web):  # noqa: F811
    client, *_ = web
    _invoice(client)
    one, _ = login(client)
    two, _ = login(client)
    tokens = [re.findall(r'name="csrf_token" value="([^"]+)"', c.get("/deals/1").text) for c in (one, two)]
    assert tokens[0] and tokens[1] and set(tokens[0]).isdisjoint(tokens[1])
    assert one.get("/").status_code == two.get("/").status_code == 200


def test_a_one_time_message_is_never_kept(web):  # noqa: F811
    client, *_ = web
    body = _invoice(client)
    page, _ = login(client)
    plain = page.get("/deals/1").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', plain).group(1)  # the signed-in session's
    shown = page.post(f"/invoices/{body['id']}/approve", data={"csrf_token": token})  # redirected to the deal page
    assert shown.status_code == 200 and shown.url.path == "/deals/1"
    assert '<div class="flash' in shown.text and '<div class="flash' not in plain  # the command's outcome
    assert '<div class="flash' not in page.get("/deals/1").text  # shown once, not kept
