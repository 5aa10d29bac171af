"""Sign-in, sessions and CRM links (issue #13): each test reproduces a break that was possible before.

* a CRM link or panel token for another company, or any CRM user, made an admin session for 14 days;
* JWT ``exp`` of "nan"/"inf" never expired, "abc" or a list was a 500;
* sign-in lockout believed X-Forwarded-For from any loopback client, and could lock the admin out by address;
* password hashing ran on the event loop;
* a session cookie still worked after logout;
* the first visitor of a fresh ``serve`` became the admin.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import re
import socket
import threading

import httpx
import jwt
import pytest
import uvicorn
from starlette.testclient import TestClient

from invoicebridge.adapters import security
from invoicebridge.adapters.app import create_app
from invoicebridge.adapters.config import AppConfig
from invoicebridge.adapters.demo import build_demo

PASSWORD = "correct horse battery"
T0 = dt.datetime(2026, 11, 20, 10, 0, tzinfo=dt.timezone.utc)


class Clock:
    def __init__(self, start: dt.datetime = T0) -> None:
        self.at = start

    def __call__(self) -> dt.datetime:
        return self.at

    def advance(self, **delta) -> None:
        self.at += dt.timedelta(**delta)


class RunningClock(Clock):
    """The real time plus whatever the test skipped ahead."""

    def __init__(self) -> None:
        self.skipped = dt.timedelta(0)

    def __call__(self) -> dt.datetime:
        return dt.datetime.now(dt.timezone.utc) + self.skipped

    def advance(self, **delta) -> None:
        self.skipped += dt.timedelta(**delta)


@pytest.fixture
def demo(tmp_path):
    app, info = build_demo(AppConfig(data_dir=tmp_path, port=8000, sync_interval=0))
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        clock = RunningClock()  # the sandboxes' rate limits and tokens need time to pass
        app.state.runtime.now = clock
        yield client, app, info, clock


def csrf(client, path: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text).group(1)


def sign_in(client, password=PASSWORD):
    response = client.post("/login", data={"password": password, "csrf_token": csrf(client, "/login")}, follow_redirects=False)
    assert response.status_code == 303, response.text
    return response


def jwt_for(app, clock, **claims):
    secret = app.state.runtime.backend_config("pipedrive")["jwt_secret"]
    body = {"userId": 7, "companyId": 7001, "exp": int(clock().timestamp()) + 300}
    body.update(claims)
    return jwt.encode({k: v for k, v in body.items() if v is not None}, secret, algorithm="HS256")


# ---- 2: a CRM link opens a narrow, short session for that user of the connected company -------------------


def test_a_crm_token_for_another_company_opens_nothing(demo):
    client, app, info, clock = demo
    foreign = jwt_for(app, clock, companyId=424242, userId=99)
    response = client.get(f"/deals?selectedIds=1&resource=deal&token={foreign}", follow_redirects=False)
    assert response.status_code == 401 and "another Pipedrive company" in response.text
    for path in ("/", "/deals/1", "/settings", "/connections"):
        assert client.get(path, follow_redirects=False).status_code == 303, path  # still signed out
    panel = client.get("/pipedrive/panel", params={"selectedIds": "1", "token": foreign})
    assert panel.status_code == 401


def test_a_crm_session_reaches_its_deal_only_not_settings_connections_keys_or_bulk(demo):
    client, app, info, clock = demo
    store = app.state.runtime.store
    deal = info["suggested_deal"]
    opened = client.get(f"/deals?selectedIds={deal}&resource=deal&token={jwt_for(app, clock)}", follow_redirects=False)
    assert opened.status_code == 303 and opened.headers["location"] == f"/deals/{deal}"
    page = client.get(f"/deals/{deal}")
    assert page.status_code == 200 and 'href="/settings"' not in page.text  # no admin menu
    assert client.get(f"/deals/{deal}/invoices/new").status_code == 200
    token = csrf(client, f"/deals/{deal}/invoices/new")
    preview = client.post(f"/deals/{deal}/invoices", data={"csrf_token": token, "action": "preview"})
    assert preview.status_code in (200, 422) and "Not allowed" not in preview.text
    other = next(d for d in ("1", "2", "3", "4") if d != deal)
    settings_before, keys_before = store.get_settings(), store.list_api_keys()
    for path in ("/", "/settings", "/connections", "/bulk", f"/deals/{other}", f"/deals/{other}/invoices/new",
                 "/account/api-keys/1/revoke"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 403, path
    for path, data in [("/settings", {"automation_draft_when_won": "on", "to": "organization.name"}),
                       ("/account/api-keys", {"label": "stolen"}), ("/account/password", {"new_password": "x" * 12}),
                       ("/account/sign-out-everywhere", {}), ("/bulk", {"deal_ids": deal}),
                       (f"/connections/{store.list_connections()[0].id}/disconnect", {}), (f"/deals/{other}/invoices", {"action": "draft"})]:
        response = client.post(path, data={**data, "csrf_token": token}, follow_redirects=False)
        assert response.status_code == 403, path
    assert store.get_settings() == settings_before and store.list_api_keys() == keys_before
    assert [c.status for c in store.list_connections()] == ["active", "active"]
    rows = store.conn.execute("SELECT user, kind FROM sessions WHERE user != ''").fetchall()
    assert rows == [("pipedrive:7", "crm")]  # bound to the CRM user who opened it


def test_a_crm_session_ends_within_the_hour_and_another_users_link_replaces_it(demo):
    client, app, info, clock = demo
    deal = info["suggested_deal"]
    client.get(f"/deals?selectedIds={deal}&token={jwt_for(app, clock)}")
    assert client.get(f"/deals/{deal}", follow_redirects=False).status_code == 200
    clock.advance(minutes=20)
    client.get(f"/deals?selectedIds={deal}&token={jwt_for(app, clock, userId=8)}")
    store = app.state.runtime.store
    assert store.conn.execute("SELECT user FROM sessions WHERE user != ''").fetchall() == [("pipedrive:8",)]
    clock.advance(minutes=61)
    assert client.get(f"/deals/{deal}", follow_redirects=False).status_code == 303  # expired: sign in again


def test_the_admin_stays_the_admin_when_opening_a_crm_link(demo):
    client, app, info, clock = demo
    sign_in(client, info["admin_password"])
    client.get(f"/deals?selectedIds=1&token={jwt_for(app, clock)}")
    assert client.get("/settings", follow_redirects=False).status_code == 200


# ---- 3: JWT claims are integers ---------------------------------------------------------------------------


@pytest.mark.parametrize("exp", ["nan", "inf", "-inf", "abc", [1], {"a": 1}, True, "99999999999", 1e20])
def test_a_jwt_whose_exp_is_not_an_integer_is_refused_with_401(demo, exp):
    client, app, info, clock = demo
    token = jwt_for(app, clock, exp=exp)
    response = client.get(f"/deals?selectedIds=1&token={token}", follow_redirects=False)
    assert response.status_code == 401, response.text
    assert "exp" in response.text and "open the deal from Pipedrive again" in response.text
    assert client.get("/deals/1", follow_redirects=False).status_code == 303
    panel = client.get("/pipedrive/panel", params={"selectedIds": "1", "token": token})
    assert panel.status_code == 401 and panel.json()["error"]["title"] == "Not authorised"


@pytest.mark.parametrize("claims", [{"userId": None}, {"companyId": None}, {"userId": "7; drop"}, {"companyId": 7001.5},
                                    {"iat": "now"}, {"nbf": "nan"}])
def test_a_jwt_without_user_or_company_or_with_odd_claims_is_refused(demo, claims):
    client, app, info, clock = demo
    response = client.get(f"/deals?selectedIds=1&token={jwt_for(app, clock, **claims)}", follow_redirects=False)
    assert response.status_code == 401, (claims, response.text)


# ---- 4: sign-in back-off per account, forwarded headers only from trusted proxies ----------------------


@contextlib.contextmanager
def serve(app, config: AppConfig):
    """The app under uvicorn with the options ``invoicebridge serve`` uses."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    options = config.uvicorn_options() if hasattr(config, "uvicorn_options") else {}  # before the fix: uvicorn's defaults
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on", **options))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{sock.getsockname()[1]}") as client:
            yield client
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


def plain_app(tmp_path, **config):
    config = AppConfig(data_dir=tmp_path, sync_interval=0, admin_password=PASSWORD, **config)
    app = create_app(config)
    clock = Clock()
    app.state.runtime.now = clock
    return app, config, clock


def guess(client, password, forwarded=None):
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    return client.post("/login", data={"password": password, "csrf_token": token}, headers=headers, follow_redirects=False)


def test_thirty_guesses_each_claiming_another_address_are_slowed_down(tmp_path):
    app, config, clock = plain_app(tmp_path)
    with serve(app, config) as client:
        codes = [guess(client, f"guess-{i}", f"198.51.100.{i}").status_code for i in range(30)]
    assert codes[:5] == [401] * 5 and set(codes[5:]) == {429}
    failures = [e["message"] for e in app.state.runtime.store.audit_entries(limit=100) if e["kind"] == "login_failed"]
    assert failures and all(m.endswith("from 127.0.0.1") for m in failures)  # the peer, not the claimed address


def test_wrong_guesses_claiming_the_admins_address_do_not_lock_the_admin_out(tmp_path):
    app, config, clock = plain_app(tmp_path)
    with serve(app, config) as client:
        for i in range(10):
            guess(client, f"guess-{i}", "203.0.113.7")
            clock.advance(seconds=20)  # slow guesses, each after its pause
        clock.advance(seconds=33)  # the pause after ten failures is 32 s, not a quarter of an hour
        assert guess(client, PASSWORD, "203.0.113.7").status_code == 303


def test_a_configured_proxy_is_believed(tmp_path):
    app, config, clock = plain_app(tmp_path, trusted_proxies=["127.0.0.1"])
    with serve(app, config) as client:
        assert guess(client, "wrong", "198.51.100.9").status_code == 401
    failures = [e["message"] for e in app.state.runtime.store.audit_entries(limit=10) if e["kind"] == "login_failed"]
    assert failures == ["A wrong admin password was entered from 198.51.100.9"]


def test_trusted_proxies_come_from_the_environment():
    assert AppConfig.from_env({}).uvicorn_options() == {"proxy_headers": False, "forwarded_allow_ips": ""}
    config = AppConfig.from_env({"INVOICEBRIDGE_TRUSTED_PROXIES": "10.0.0.2, 10.1.0.0/16"})
    assert config.uvicorn_options() == {"proxy_headers": True, "forwarded_allow_ips": ["10.0.0.2", "10.1.0.0/16"]}


# ---- 5: hashing off the event loop, two at a time ------------------------------------------------------


@pytest.mark.anyio
async def test_health_answers_while_sixteen_sign_ins_hash_and_at_most_two_hash_at_once(tmp_path, monkeypatch):
    app, config, clock = plain_app(tmp_path)
    import hashlib

    lock, release, two_running = threading.Lock(), threading.Event(), threading.Event()
    running, most = [0], [0]

    def slow_scrypt(password, **options):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
            if running[0] >= 2:
                two_running.set()
        try:
            release.wait(timeout=2)  # held until /health has answered (2 s cap so a blocked loop fails, not hangs)
            return hashlib.scrypt(password, **options)
        finally:
            with lock:
                running[0] -= 1

    class Hashlib:  # the security module's hashlib, with a scrypt that counts and holds its callers
        scrypt = staticmethod(slow_scrypt)

        def __getattr__(self, name):
            return getattr(hashlib, name)

    monkeypatch.setattr(security, "hashlib", Hashlib())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
        token = re.search(r'name="csrf_token" value="([^"]+)"', (await client.get("/login")).text).group(1)
        sign_ins = [asyncio.create_task(client.post("/login", data={"password": f"wrong-{i}", "csrf_token": token}))
                    for i in range(16)]
        import anyio.to_thread

        assert await anyio.to_thread.run_sync(two_running.wait, 5)
        health = await client.get("/health")
        finished_before_health = sum(t.done() for t in sign_ins)
        release.set()
        answers = await asyncio.gather(*sign_ins)
    assert health.status_code == 200 and finished_before_health == 0  # /health did not wait for any hash
    assert most[0] == security.HASH_CONCURRENCY == 2
    assert {a.status_code for a in answers} <= {401, 429}


def test_a_burst_of_concurrent_guesses_gets_six_hashes_not_sixteen(tmp_path, monkeypatch):
    """Sixteen wrong guesses sent at once all pass the pause check before any failure is written; each is asked
    again when its turn to hash comes, so only the five free tries (and one already hashing beside the fifth)
    are hashed."""
    import hashlib

    app, config, clock = plain_app(tmp_path)
    hashed = []

    class Hashlib:
        @staticmethod
        def scrypt(password, **options):
            hashed.append(password)
            return hashlib.scrypt(password, **options)

        def __getattr__(self, name):
            return getattr(hashlib, name)

    async def burst():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
            token = re.search(r'name="csrf_token" value="([^"]+)"', (await client.get("/login")).text).group(1)
            monkeypatch.setattr(security, "hashlib", Hashlib())
            return await asyncio.gather(*[client.post("/login", data={"password": f"wrong-{i}", "csrf_token": token})
                                          for i in range(16)])

    answers = asyncio.run(burst())
    free = security.LOGIN_FREE_FAILURES + security.HASH_CONCURRENCY - 1  # the 5th and 6th were hashing side by side
    assert sorted(a.status_code for a in answers) == [401] * free + [429] * (16 - free)
    assert len(hashed) == free == 6


# ---- 6: server-side sessions -------------------------------------------------------------------------------


def test_a_session_cookie_replayed_after_logout_opens_nothing(tmp_path):
    app, config, clock = plain_app(tmp_path)
    with TestClient(app) as client:
        sign_in(client)
        cookie = client.cookies["invoicebridge_session"]
        token = csrf(client, "/settings")
        assert "admin" not in cookie and len(cookie) >= 40  # only a random id travels
        assert client.post("/logout", data={"csrf_token": token}, follow_redirects=False).status_code == 303
        store = app.state.runtime.store
        thief = TestClient(app, cookies={"invoicebridge_session": cookie})
        assert thief.get("/", follow_redirects=False).status_code == 303
        before = store.get_settings()
        replay = thief.post("/settings", data={"csrf_token": token, "automation_draft_when_won": "on"}, follow_redirects=False)
        assert replay.status_code == 303 and replay.headers["location"] == "/login"
        assert store.get_settings() == before
        assert store.count_sessions(user="admin") == 0


def test_sessions_end_after_their_idle_time_and_lifetime(tmp_path):
    app, config, clock = plain_app(tmp_path)
    with TestClient(app) as client:
        sign_in(client)
        for _ in range(16):  # in use every 11 hours: alive, until the 7-day lifetime is over
            clock.advance(hours=11)
            assert client.get("/settings", follow_redirects=False).status_code == (200 if clock() < T0 + dt.timedelta(days=7) else 303)
        sign_in(client)
        clock.advance(hours=12, seconds=1)
        assert client.get("/settings", follow_redirects=False).status_code == 303  # idle too long


def test_the_session_table_keeps_digests_not_ids(tmp_path):
    app, config, clock = plain_app(tmp_path)
    with TestClient(app) as client:
        sign_in(client)
        cookie = client.cookies["invoicebridge_session"]
        digests = [r[0] for r in app.state.runtime.store.conn.execute("SELECT digest FROM sessions")]
    assert cookie not in digests and len(digests) == 1


def test_change_password_asks_for_the_current_one_and_signs_out_the_others(tmp_path):
    app, config, clock = plain_app(tmp_path)
    with TestClient(app) as me, TestClient(app) as other:
        sign_in(me)
        sign_in(other)
        token = csrf(me, "/settings")
        wrong = me.post("/account/password", data={"csrf_token": token, "current_password": "nope",
                                                   "new_password": "a new password", "confirm_password": "a new password"})
        assert "current password is wrong" in wrong.text
        assert other.get("/settings", follow_redirects=False).status_code == 200
        done = me.post("/account/password", data={"csrf_token": token, "current_password": PASSWORD,
                                                  "new_password": "a new password", "confirm_password": "a new password"})
        assert "Password changed" in done.text
        assert me.get("/settings", follow_redirects=False).status_code == 200
        assert other.get("/settings", follow_redirects=False).status_code == 303
        fresh = TestClient(app)
        assert guess(fresh, PASSWORD).status_code == 401
        assert guess(fresh, "a new password").status_code == 303


def test_sign_out_everywhere_ends_every_session(tmp_path):
    app, config, clock = plain_app(tmp_path)
    with TestClient(app) as me, TestClient(app) as other:
        sign_in(me)
        sign_in(other)
        page = me.get("/settings")
        assert "2 admin sessions are open" in page.text
        out = me.post("/account/sign-out-everywhere", data={"csrf_token": csrf(me, "/settings")}, follow_redirects=False)
        assert out.status_code == 303
        assert me.get("/", follow_redirects=False).status_code == 303
        assert other.get("/", follow_redirects=False).status_code == 303


# ---- 7: the first password needs the setup code ---------------------------------------------------------


def fresh_app(tmp_path):
    app = create_app(AppConfig(data_dir=tmp_path, sync_interval=0))
    clock = Clock()
    app.state.runtime.now = clock
    return app, clock


def first_password(client, code=None, password="my first password"):
    data = {"password": password, "confirm": password, "csrf_token": csrf(client, "/login")}
    if code is not None:
        data["setup_code"] = code
    return client.post("/login", data=data, follow_redirects=False)


def test_the_first_visitor_without_the_setup_code_does_not_become_the_admin(tmp_path):
    app, clock = fresh_app(tmp_path)
    store = app.state.runtime.store
    with TestClient(app) as client:
        assert 'name="setup_code"' in client.get("/login").text
        for code in (None, "", "AAAA-BBBB-CCCC"):
            response = first_password(client, code)
            assert response.status_code == 401 and "setup code" in response.text
        assert store.get_app_secret("admin_password") is None
        assert client.get("/", follow_redirects=False).status_code == 303


def test_the_setup_code_sets_the_first_password_once_and_expires(tmp_path):
    app, clock = fresh_app(tmp_path)
    store = app.state.runtime.store
    old = security.issue_setup_code(store, clock().timestamp())
    clock.advance(minutes=61)
    with TestClient(app) as client:
        assert first_password(client, old).status_code == 401  # expired
        code = security.issue_setup_code(store, clock().timestamp())
        assert code.replace("-", "") not in repr(store.get_app_secret("setup_code"))  # stored as a digest
        assert first_password(client, code.lower().replace("-", " ")).status_code == 303
        assert client.get("/", follow_redirects=False).status_code == 200
    with TestClient(app) as someone:  # the same code again: the password is set, the form asks for it
        again = first_password(someone, code, password="attacker password")
        assert again.status_code == 401 and someone.get("/", follow_redirects=False).status_code == 303
        assert guess(someone, "my first password").status_code == 303


def test_serve_prints_a_setup_code_and_the_cli_gives_a_new_one(tmp_path, monkeypatch, capsys):
    from invoicebridge.adapters import cli

    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: None)
    monkeypatch.delenv("INVOICEBRIDGE_ADMIN_PASSWORD", raising=False)
    assert cli.main(["serve", "--data-dir", str(tmp_path), "--port", "8107"]) == 0
    printed = re.search(r"\b([A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4})\b", capsys.readouterr().out).group(1)
    assert cli.main(["setup-code", "--data-dir", str(tmp_path)]) == 0
    newer = re.search(r"\b([A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4})\b", capsys.readouterr().out).group(1)
    app = create_app(AppConfig(data_dir=tmp_path, sync_interval=0))
    with TestClient(app) as client:
        assert first_password(client, printed).status_code == 401  # replaced by the newer one
        assert first_password(client, newer).status_code == 303
    assert cli.main(["setup-code", "--data-dir", str(tmp_path)]) == 1
    assert "already set" in capsys.readouterr().err
