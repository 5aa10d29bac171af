"""Pages kept in front of the middleware stack (adapters/kept_answers.py): the bytes the stack gave, for the same
session and headers only, and never once the store, the session, the deal snapshot or a few seconds have moved."""

import asyncio

import attrs
import pytest
from starlette.testclient import TestClient
from xero_support import Clock

from test_api import login, web  # noqa: F401  (the fixture)

from invoicebridge.adapters import kept_answers, sessions
from invoicebridge.adapters.security import ADMIN
from invoicebridge.core import InvoiceStatus

PAGE = "/deals/1"


class StackAsked(AssertionError):
    pass


@pytest.fixture
def kept(web):  # noqa: F811
    """An invoice on deal 1, a signed-in browser, the deal page viewed until it is kept in front, and a switch
    that makes the stack below the front fail (an answer that still comes was kept)."""
    client, crm, _acct, store = web
    clock = Clock()
    client.app.state.runtime.now = clock.now
    created = client.post("/api/deals/1/invoices", json={})
    assert created.status_code == 201, created.text
    store.writer.flush()  # the API key's last use, written by the writer thread, moves the generation too
    browser, _token = login(client)
    views = [browser.get(PAGE) for _ in range(2)]  # the first one reads the CRM and names the session's CSRF token
    first = views[-1]
    assert first.status_code == 200 and created.json()["number"] in first.text and first.text == views[0].text
    assert [key[0] for key in client.app.state.page_cache.pages_in_front] == [PAGE]
    router = client.app.router
    drawn = router.middleware_stack

    def stack_fails(on: bool = True) -> None:
        async def fail(scope, receive, send):
            raise StackAsked(scope["path"])

        router.middleware_stack = fail if on else drawn

    return browser, first, stack_fails, clock, created.json(), web


def test_a_kept_page_is_what_the_stack_drew_byte_for_byte(kept):
    browser, first, stack_fails, *_ = kept
    stack_fails()
    again = browser.get(PAGE)
    assert again.status_code == 200 and again.content == first.content
    assert list(again.headers.items()) == list(first.headers.items())
    for name in ("content-security-policy", "x-content-type-options", "referrer-policy", "vary"):
        assert again.headers[name]


def test_another_session_or_language_never_gets_it(kept):
    browser, first, stack_fails, _clock, _body, (client, *_rest) = kept
    other, _token = login(client)
    stack_fails()
    with pytest.raises(StackAsked):
        other.get(PAGE)  # its own cookie: drawn for it by the stack
    with pytest.raises(StackAsked):
        browser.get(PAGE, headers={"Accept-Language": "de"})
    with pytest.raises(StackAsked):
        browser.get(PAGE + "?products=1")
    with pytest.raises(StackAsked):
        TestClient(client.app).get(PAGE)  # no session


def test_a_store_change_shows_at_once(kept):
    browser, _first, _fails, _clock, body, (_client, _crm, _acct, store) = kept
    paid = 'Paid</span><span class="money">£1,440.00</span>'
    assert paid not in browser.get(PAGE).text
    store.update_invoice(body["id"], status=InvoiceStatus.PAID, amount_paid="1440.00", amount_due="0")
    assert paid in browser.get(PAGE).text


def test_a_signed_out_cookie_opens_nothing(kept):
    browser, first, _fails, _clock, _body, (client, *_rest) = kept
    cookie = "; ".join(f"{k}={v}" for k, v in browser.cookies.items())
    token = first.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    assert browser.post("/logout", data={"csrf_token": token}, follow_redirects=False).status_code == 303
    replay = TestClient(client.app).get(PAGE, headers={"Cookie": cookie}, follow_redirects=False)
    assert replay.status_code == 303 and replay.headers["location"].startswith("/login")


def test_a_session_due_its_last_seen_write_goes_through_the_stack(kept):
    browser, _first, stack_fails, clock, _body, (_client, _crm, _acct, store) = kept
    clock.advance(sessions.TOUCH_EVERY_S - 3)  # signed in this long ago: its last-seen time is due in 3 s
    browser.get(PAGE)
    browser.get(PAGE)  # kept in front again (the deal read afresh), for less than PAGE_MAX_AGE_S
    stack_fails()
    assert browser.get(PAGE).status_code == 200
    clock.advance(3)
    with pytest.raises(StackAsked):
        browser.get(PAGE)
    stack_fails(False)
    assert browser.get(PAGE).status_code == 200
    store.writer.flush()
    seen = {row["last_seen"] for row in store.db.query("SELECT last_seen FROM sessions WHERE user != ''")}
    assert seen == {clock.now().timestamp()}  # the stack wrote it


def test_an_idle_session_is_signed_out_though_its_page_was_kept(kept):
    browser, *_rest = kept
    clock = kept[3]
    clock.advance(sessions.LIMITS[ADMIN][1] + 1)
    gone = browser.get(PAGE, follow_redirects=False)
    assert gone.status_code == 303 and gone.headers["location"].startswith("/login")


def test_a_deal_changed_in_the_crm_shows_once_its_snapshot_is_dropped(kept):
    browser, _first, _fails, _clock, _body, (client, crm, _acct, _store) = kept
    crm.deals["1"] = attrs.evolve(crm.deals["1"], title="Website relaunch")
    assert "Website relaunch" not in browser.get(PAGE).text  # the snapshot kept for views (as before)
    client.app.state.pipeline.forget_deal("1")  # what a CRM webhook for the deal does
    assert "Website relaunch" in browser.get(PAGE).text


def test_what_comes_from_outside_the_store_is_asked_again_after_a_few_seconds(kept):
    browser, _first, stack_fails, clock, *_rest = kept
    stack_fails()
    assert browser.get(PAGE).status_code == 200
    clock.advance(kept_answers.PAGE_MAX_AGE_S)
    with pytest.raises(StackAsked):
        browser.get(PAGE)


def test_a_page_with_a_one_time_message_is_not_kept_in_front(kept):
    browser, first, _fails, _clock, body, (client, *_rest) = kept
    token = first.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    shown = browser.post(f"/invoices/{body['id']}/approve", data={"csrf_token": token})
    assert shown.url.path == PAGE and '<div class="flash' in shown.text
    assert '<div class="flash' not in browser.get(PAGE).text


def test_requests_that_read_a_due_session_together_write_its_last_seen_once(store, monkeypatch):
    """Under load many requests of one session read it before its last-seen write is applied; each wrote it again,
    and each write moved the store's generation, so every kept page was drawn again as often."""
    clock = Clock()
    keeper = sessions.ServerSessions(store=store, now=clock.now)
    start = clock.now().timestamp()
    store.create_session("sid", user=ADMIN, kind=ADMIN, data={"user": ADMIN}, now=start, expires_at=start + 86400)
    clock.advance(sessions.TOUCH_EVERY_S)
    written = []
    real = store.update_session
    monkeypatch.setattr(store, "update_session", lambda *a, **k: (written.append(k), real(*a, **k))[1])

    async def five_at_once():
        scopes = [{"type": "http", "headers": [(b"cookie", f"{sessions.COOKIE}=sid".encode())]} for _ in range(5)]
        opened = [await keeper.open(scope) for scope in scopes]  # all read the row before any write
        return [await keeper.commit(scope, *seen) for scope, seen in zip(scopes, opened, strict=True)]

    assert asyncio.run(five_at_once()) == [None] * 5
    assert written == [{"data": None, "last_seen": start + sessions.TOUCH_EVERY_S}]
    store.writer.flush()
    assert store.get_session("sid")["last_seen"] == start + sessions.TOUCH_EVERY_S
