"""The connector kit's request loop: error mapping through the plugin's dialect, retries by the policy, a rate
limit that pauses the whole connection, a token renewed once when refused, and one kept-open HTTP client per
connection, closed by close_connectors."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from connector_support import FakeRuntime, PlainDialect

from invoicebridge.core.connector import Budget, Connector, RetryPolicy, close_connectors, connector_for
from invoicebridge.core.errors import (
    BackendError,
    DailyLimitReached,
    RateLimited,
    RemoteNotFound,
    ServerError,
    TransportError,
)


class Dialect(PlainDialect):
    def error_for(self, response):
        status = response.status_code
        if status < 400:
            return None
        ctx = dict(backend="svc", method=response.request.method, url=str(response.request.url), status=status)
        if status == 404:
            return RemoteNotFound("gone", **ctx)
        if status == 429:
            retry_after = float(response.headers.get("retry-after", 0)) or None
            if response.headers.get("problem") == "day":
                return DailyLimitReached("day", retry_after=retry_after, problem="day", **ctx)
            return RateLimited("slow", retry_after=retry_after, **ctx)
        if status >= 500:
            return ServerError("boom", **ctx)
        return BackendError("no", **ctx)

    def budgets(self, response, now):
        left = response.headers.get("left")
        return [Budget("minute", float(left), window=60.0)] if left is not None else []


def scripted(*answers):
    """A handler answering from the script, then 200 {"ok": true}; it records what it was sent."""
    script = list(answers)
    seen: list[httpx.Request] = []

    def handler(request):
        seen.append(request)
        answer = script.pop(0) if script else httpx.Response(200, json={"ok": True})
        if isinstance(answer, Exception):
            raise answer
        return answer

    handler.seen = seen
    return handler


def make(handler, **policy):
    rt = FakeRuntime(handler)
    return rt, Connector(rt, Dialect(), retry=RetryPolicy(jitter=lambda d: 0.0, **policy))


def test_server_errors_are_retried_for_safe_methods_only():
    handler = scripted(httpx.Response(503), httpx.Response(500))
    rt, conn = make(handler)
    assert asyncio.run(conn.request("GET", "https://svc.test/x")).json() == {"ok": True}
    assert rt.sleeps == [0.5, 1.0] and len(handler.seen) == 3
    handler = scripted(httpx.Response(503))
    rt, conn = make(handler)
    with pytest.raises(ServerError):
        asyncio.run(conn.request("POST", "https://svc.test/x"))
    assert len(handler.seen) == 1 and rt.sleeps == []


def test_transport_errors_are_mapped_and_retried():
    handler = scripted(httpx.ConnectError("refused"), httpx.ConnectError("refused"))
    rt, conn = make(handler)
    assert asyncio.run(conn.request("GET", "https://svc.test/x")).status_code == 200
    rt, conn = make(scripted(*[httpx.ConnectError("refused")] * 4))
    with pytest.raises(TransportError):
        asyncio.run(conn.request("GET", "https://svc.test/x"))


def test_final_errors_are_raised_at_once_and_passthrough_statuses_returned():
    rt, conn = make(scripted(httpx.Response(404)))
    with pytest.raises(RemoteNotFound):
        asyncio.run(conn.request("GET", "https://svc.test/x"))
    rt, conn = make(scripted(httpx.Response(404)))
    assert asyncio.run(conn.request("GET", "https://svc.test/x", passthrough=(404,))).status_code == 404


def test_a_rate_limit_pauses_every_call_of_the_connection():
    rt, conn = make(scripted(httpx.Response(429, headers={"retry-after": "7"})), max_attempts=1)
    with pytest.raises(RateLimited):  # this caller gives up at once ...
        asyncio.run(conn.request("GET", "https://svc.test/a"))
    assert rt.sleeps == []
    assert asyncio.run(conn.request("GET", "https://svc.test/b")).status_code == 200
    assert rt.sleeps == [7.0]  # ... but the next call of the connection still waits what the service asked


def test_a_daily_limit_from_the_service_stops_the_connection_without_sending():
    handler = scripted(httpx.Response(429, headers={"retry-after": "3600", "problem": "day"}))
    rt, conn = make(handler)
    for _ in range(2):
        with pytest.raises(DailyLimitReached):
            asyncio.run(conn.request("GET", "https://svc.test/x"))
    assert len(handler.seen) == 1 and rt.sleeps == []


def test_reported_budgets_pace_the_next_calls():
    handler = scripted(httpx.Response(200, headers={"left": "0"}))
    rt, conn = make(handler)

    async def go():
        await conn.request("GET", "https://svc.test/x")
        await conn.request("GET", "https://svc.test/x")

    asyncio.run(go())
    assert rt.sleeps == [60.0]


def test_a_refused_token_is_renewed_once_and_the_call_resent():
    class Keeper:
        def __init__(self):
            self.calls = []

        async def token(self, *, stale=None):
            self.calls.append(stale)
            return "new" if stale else "old"

    handler = scripted(httpx.Response(401))
    rt, conn = make(handler)
    conn.keeper = Keeper()
    assert asyncio.run(conn.request("GET", "https://svc.test/x")).status_code == 200
    assert [r.headers["authorization"] for r in handler.seen] == ["Bearer old", "Bearer new"]
    assert conn.keeper.calls == [None, "old"]


def test_one_client_per_connection_kept_open_until_closed():
    rt = FakeRuntime(scripted())

    async def go():
        conn = connector_for(rt, "svc", 7, lambda: Connector(rt, Dialect()))
        assert connector_for(rt, "svc", 7, lambda: pytest.fail("built twice")) is conn
        await conn.request("GET", "https://svc.test/a")
        await conn.request("GET", "https://svc.test/b")
        client = conn._http
        assert len(rt.clients) == 1 and not client.is_closed
        await close_connectors(rt, backend="svc", key=7)
        assert client.is_closed and rt.cache["connector"] == {}

    asyncio.run(go())
