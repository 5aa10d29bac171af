"""The emulator kit on its own: OAuth server, limits, outbox, idempotency, faults, request log, clock, console."""

from __future__ import annotations

import asyncio
import datetime as dt

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from invoicebridge.sandbox_kit import (AuthorizationServer, Concurrency, Faults, IdempotencyStore, KeyReused, Limiter,
                                       OAuthError, Outbox, RequestLog, SimulatedClock, TokenRejected, Window,
                                       basic_credentials, s256)
from invoicebridge.sandbox_kit.console import console_environment

T0 = dt.datetime(2026, 11, 20, 9, 0, 30, tzinfo=dt.timezone.utc)


class Clock:
    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> dt.datetime:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += dt.timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def server(clock, **options) -> AuthorizationServer:
    return AuthorizationServer(clock=clock, clients={"app": "secret", "spa": ""}, **options)


def consent(srv, user="u1", scope="read write", client="app", **pkce) -> tuple:
    code = srv.authorize(client_id=client, redirect_uri="https://cb", scope=scope, user_id=user, **pkce)
    return srv.exchange(client, {"code": code, "redirect_uri": "https://cb", **pkce.get("form", {})})


# ---- OAuth ---------------------------------------------------------------------------------------------


def test_code_grant_with_pkce(clock):
    srv = server(clock)
    verifier = "v" * 50
    code = srv.authorize(client_id="spa", redirect_uri="https://cb", scope="read", user_id="u1", code_challenge=s256(verifier))
    with pytest.raises(OAuthError, match="code_verifier"):
        srv.exchange("spa", {"code": code, "redirect_uri": "https://cb", "code_verifier": "w" * 50})
    code = srv.authorize(client_id="spa", redirect_uri="https://cb", scope="read", user_id="u1", code_challenge=s256(verifier))
    grant, answer = srv.exchange("spa", {"code": code, "redirect_uri": "https://cb", "code_verifier": verifier})
    assert srv.validate(answer["access_token"]) is grant and answer["scope"] == "read"
    with pytest.raises(OAuthError):  # a code is good once
        srv.exchange("spa", {"code": code, "redirect_uri": "https://cb", "code_verifier": verifier})


def test_a_public_client_must_use_pkce_and_codes_expire(clock):
    srv = server(clock)
    with pytest.raises(OAuthError, match="PKCE"):
        consent(srv, client="spa")
    code = srv.authorize(client_id="app", redirect_uri="https://cb", scope="", user_id="u1")
    clock.advance(301)
    with pytest.raises(OAuthError, match="invalid"):
        srv.exchange("app", {"code": code, "redirect_uri": "https://cb"})
    with pytest.raises(OAuthError):
        srv.authorize(client_id="nobody", redirect_uri="https://cb", scope="", user_id="u1")
    with pytest.raises(OAuthError):
        srv.authorize(client_id="app", redirect_uri="https://cb", scope="", user_id="u1", code_challenge="x",
                      code_challenge_method="plain")


def test_client_authentication():
    srv = AuthorizationServer(clock=lambda: T0, clients={"app": "secret"})
    assert srv.authenticate_client(basic_credentials("Basic YXBwOnNlY3JldA=="), {}) == "app"
    assert srv.authenticate_client(None, {"client_id": "app", "client_secret": "secret"}) == "app"
    with pytest.raises(OAuthError) as info:
        srv.authenticate_client(("app", "wrong"), {})
    assert info.value.error == "invalid_client" and info.value.status == 401
    assert basic_credentials("Bearer x") is None


def test_refresh_rotation_with_grace(clock):
    srv = server(clock, rotation_grace=dt.timedelta(minutes=30), refresh_idle=dt.timedelta(days=60))
    _, first = consent(srv)
    _, second = srv.refresh("app", first["refresh_token"])
    assert second["refresh_token"] != first["refresh_token"]
    clock.advance(29 * 60)
    srv.refresh("app", first["refresh_token"])  # the previous one still works inside the grace
    clock.advance(2 * 60)
    with pytest.raises(OAuthError, match="rotated"):
        srv.refresh("app", first["refresh_token"])
    clock.advance(61 * 86400)
    with pytest.raises(OAuthError, match="expired"):
        srv.refresh("app", second["refresh_token"])
    assert srv.refresh_calls == 4


def test_refresh_without_rotation_and_offline_scope(clock):
    srv = server(clock, rotate_refresh=False)
    _, first = consent(srv)
    _, again = srv.refresh("app", first["refresh_token"])
    assert again["refresh_token"] == first["refresh_token"] and again["access_token"] != first["access_token"]
    offline = server(clock, offline_scope="offline_access")
    assert "refresh_token" not in consent(offline)[1]
    assert "refresh_token" in consent(offline, scope="offline_access read")[1]


def test_access_tokens_expire_and_revocation_ends_the_grant(clock):
    srv = server(clock, access_lifetime=dt.timedelta(minutes=30))
    grant, answer = consent(srv)
    srv.connect(grant, "tenant-1")
    clock.advance(30 * 60)
    with pytest.raises(TokenRejected) as info:
        srv.validate(answer["access_token"])
    assert info.value.expired_at == T0 + dt.timedelta(minutes=30)
    assert srv.revoke(answer["refresh_token"]) is grant and srv.revoke("unknown") is None
    with pytest.raises(OAuthError):
        srv.refresh("app", answer["refresh_token"])
    assert srv.connections == []


def test_scopes_are_alternatives(clock):
    grant, _ = consent(server(clock), scope="deals:read")
    assert AuthorizationServer.allows(grant, ["deals:read", "deals:full"])
    assert not AuthorizationServer.allows(grant, ["admin"])


def test_connections_are_per_user(clock):
    srv = server(clock)
    ann, _ = consent(srv, user="ann")
    bob, _ = consent(srv, user="bob")
    a, b = srv.connect(ann, "t1"), srv.connect(bob, "t1")
    assert a.connection_id != b.connection_id and srv.organisation_allowed(ann, "t1") and srv.organisation_allowed(bob, "t1")
    clock.advance(5)
    again, _ = consent(srv, user="ann")
    assert srv.connect(again, "t1") is a and a.grant_id == again.grant_id and a.updated > a.created
    assert srv.organisation_allowed(ann, "t1")  # the user's earlier grant keeps access
    assert not srv.disconnect(bob, a.connection_id) and srv.disconnect(ann, a.connection_id)
    assert srv.connections_of(bob) == [b] and not srv.organisation_allowed(ann, "t1")


# ---- limits -----------------------------------------------------------------------------------------------


def test_fixed_and_rolling_windows(clock):
    minute = Window(2, 60)
    assert not minute.would_exceed("a", clock())
    minute.charge("a", clock())
    minute.charge("a", clock())
    assert minute.would_exceed("a", clock()) and not minute.would_exceed("b", clock())
    assert minute.remaining("a", clock()) == 0 and minute.retry_after("a", clock()) == 30
    clock.advance(30)
    assert minute.remaining("a", clock()) == 2
    rolling = Window(2, 2, rolling=True)
    rolling.charge("k", clock())
    clock.advance(1.5)
    rolling.charge("k", clock())
    assert rolling.would_exceed("k", clock()) and rolling.retry_after("k", clock()) == 1
    clock.advance(0.5)
    assert rolling.remaining("k", clock()) == 1


def test_limiter_checks_in_order_forced_and_concurrency(clock):
    limiter = Limiter(clock=clock, concurrency=Concurrency(1))
    limiter.add("minute", Window(1, 60))
    limiter.add("app", Window(100, 60), key=lambda scope: "*")
    assert limiter.check("t1") is None
    refusal = limiter.check("t1")
    assert refusal.problem == "minute" and refusal.retry_after == 30
    assert limiter.remaining("app", "t2") == 99  # rejected calls are not charged unless count_rejected
    with limiter.concurrency.hold("t2"):
        assert limiter.check("t2").problem == "concurrent"
    limiter.force("day", times=2, retry_after=99)
    assert [limiter.check("t3").problem for _ in range(2)] == ["day", "day"] and limiter.check("t3") is None
    assert [r.problem for r in limiter.rejected] == ["minute", "concurrent", "day", "day"]


# ---- outbox, idempotency, faults, log, clock, console -----------------------------------------------------


def test_outbox_signs_and_retries_on_schedule(clock):
    seen: list[httpx.Request] = []
    answers = iter([500, 200])

    def receiver(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(next(answers))

    outbox = Outbox(clock=clock, signer=lambda body: {"x-signature": str(len(body))},
                    transport=httpx.MockTransport(receiver), retry_delays=(3, 30))
    item = outbox.queue("http://app.test/hook", {"a": 1}, webhook=7)
    assert [d.attempt for d in asyncio.run(outbox.deliver())] == [2]
    assert seen[0].headers["x-signature"] == str(len(item.body)) and item.due_at == clock() + dt.timedelta(seconds=3)
    assert asyncio.run(outbox.deliver()) == []  # not due yet
    clock.advance(3)
    asyncio.run(outbox.deliver())
    assert item.done and item.results == [(1, 500), (2, 200)] and item.meta == {"webhook": 7} and item.payload == {"a": 1}


def test_idempotency_replays_and_refuses_a_reused_key(clock):
    store = IdempotencyStore(clock=clock, window=dt.timedelta(minutes=6))
    calls = []

    async def endpoint(request: Request) -> Response:
        async def handler() -> Response:
            calls.append(1)
            return Response(f"made {len(calls)}", status_code=201)
        try:
            return await store.run(request.headers["idempotency-key"], request, handler)
        except KeyReused:
            return Response("reused", status_code=400)

    app = Starlette(routes=[Route("/things", endpoint, methods=["POST"])])

    async def go() -> list[tuple[int, str]]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://x") as client:
            out = []
            for body, advance in (("a", 0), ("a", 0), ("b", 0), ("a", 7 * 60)):
                clock.advance(advance)
                r = await client.post("/things", content=body, headers={"idempotency-key": "k1"})
                out.append((r.status_code, r.text))
            return out

    assert asyncio.run(go()) == [(201, "made 1"), (201, "made 1"), (400, "reused"), (201, "made 2")]


def test_faults_log_clock_and_console(clock):
    faults = Faults()
    faults.fail_next(500, 503)
    assert [faults.take(), faults.take(), faults.take()] == [500, 503, None]
    log = RequestLog(clock=clock, limit=2)
    for path in ("/a", "/b", "/c"):
        log.add("GET", path, "op")
    assert [e.path for e in log] == ["/b", "/c"] and len(log) == 2 and log.last(1)[0].at == T0
    sim = SimulatedClock(T0, scale=0)
    asyncio.run(sim.sleep(90))
    assert sim.now() == T0 + dt.timedelta(seconds=90) and sim.slept == 90
    env = console_environment("invoicebridge.sandbox_kit")
    html = env.from_string('{% extends "sandbox_base.html" %}{% block heading %}Console{% endblock %}'
                           '{% block content %}{% include "sandbox_requests.html" %}{% endblock %}').render(
        message="<b>hi</b>", requests=log.last())
    assert "<h1>Console</h1>" in html and "&lt;b&gt;hi" in html and "<code>/c</code>" in html


def test_both_sandboxes_follow_the_protocol_and_reset(store):
    from invoicebridge.core.plugins import Plugins, builtin_plugins, make_plugin_manager
    from invoicebridge.core.runtime import Runtime
    from invoicebridge.core.sandboxes import Sandbox

    runtime = Runtime(store=store, now=lambda: T0)
    pm = make_plugin_manager(load_entry_points=False, extra=builtin_plugins())
    sandboxes = {s.name: s for s in Plugins(pm).sandboxes(runtime)}
    assert set(sandboxes) >= {"xero", "pipedrive"} and all(isinstance(s, Sandbox) for s in sandboxes.values())
    xero, pipedrive = sandboxes["xero"], sandboxes["pipedrive"]
    xero.issue_tokens()
    assert xero.state.invoices == {} and xero.state.items and xero.identity.connections
    xero.reset()
    assert not xero.state.items and not xero.identity.connections and xero.webhook_key
    assert pipedrive.state.sandbox.deals
    pipedrive.reset()
    assert not pipedrive.state.sandbox.deals
    pipedrive.seed()
    assert pipedrive.state.sandbox.deals
