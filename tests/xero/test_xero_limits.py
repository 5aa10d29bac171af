"""Rate limits, retries and the error boundary: 429 with Retry-After, the day limit, 5xx then success,
transport errors, the client-side limiter, and the pure retry policy."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from invoicebridge.core.errors import (
    DailyLimitReached,
    RateLimited,
    RemoteNotFound,
    ServerError,
    TransportError,
)
from invoicebridge.core.connector import Limiter, RetryDecision
from invoicebridge.plugins.xero.client import CONCURRENT, PER_MINUTE, WINDOW, XeroClient, retry_policy
from invoicebridge.plugins.xero.backend import XeroBackend

pytestmark = pytest.mark.anyio


def make_error(cls, **kw):
    return cls("x", backend="xero", **kw)


def test_retry_policy_is_pure_and_exact():
    def retry_decision(error, attempt, jitter=lambda: 0.0, method="GET"):
        return retry_policy(jitter).decide(error, attempt, method)

    assert retry_decision(make_error(RateLimited, retry_after=7), 1) == RetryDecision(True, 7.0)
    assert retry_decision(make_error(RateLimited), 1) == RetryDecision(True, 60.0)
    assert retry_decision(make_error(DailyLimitReached, retry_after=100), 1) == RetryDecision(False)
    assert retry_decision(make_error(ServerError), 1, jitter=lambda: 0.0) == RetryDecision(True, 0.5)
    assert retry_decision(make_error(ServerError), 3, jitter=lambda: 1.0) == RetryDecision(True, 2.5)
    assert retry_decision(make_error(TransportError), 2, jitter=lambda: 0.5) == RetryDecision(True, 1.25)
    assert retry_decision(make_error(ServerError), 1, method="PUT") == RetryDecision(True, 0.5)  # Idempotency-Key
    assert retry_decision(make_error(ServerError), 4) == RetryDecision(False)
    assert retry_decision(make_error(RemoteNotFound), 1) == RetryDecision(False)


async def test_429_waits_exactly_retry_after_then_succeeds(runtime, connection, sandbox, clock):
    sandbox.force_rate_limit("minute", times=1, retry_after=7)
    user = await XeroBackend.open(connection, runtime).current_user()
    assert user.name == "Fiona Finance"
    assert clock.sleeps == [7.0]


async def test_concurrent_limit_429_without_retry_after_waits_the_default(runtime, connection, sandbox, clock):
    sandbox.force_rate_limit("concurrent", times=1, retry_after=None)
    await XeroBackend.open(connection, runtime).current_user()
    assert clock.sleeps == [60.0]


async def test_day_limit_is_not_retried(runtime, connection, sandbox, clock, transport):
    sandbox.force_rate_limit("day", times=5, retry_after=3600)
    with pytest.raises(DailyLimitReached) as caught:
        await XeroBackend.open(connection, runtime).current_user()
    assert caught.value.retry_after == 3600 and caught.value.problem == "day"
    assert "daily API limit" in caught.value.message
    assert clock.sleeps == [] and len(transport.api_calls("GET", "/Users")) == 1


async def test_500_then_success_with_backoff(runtime, connection, sandbox, clock):
    sandbox.fail_next = [500, 503]
    async with XeroClient(runtime, connection, jitter=lambda: 0.0) as xero:
        org = await xero.organisation()
    assert org.short_code == "!dEm0k"
    assert clock.sleeps == [0.5, 1.0]


async def test_persistent_500_gives_server_error_after_four_attempts(runtime, connection, sandbox, clock, transport):
    sandbox.fail_next = [500] * 10
    async with XeroClient(runtime, connection, jitter=lambda: 0.0) as xero:
        with pytest.raises(ServerError, match="internal error"):
            await xero.organisation()
    assert len(transport.api_calls("GET", "/Organisation")) == 4 and clock.sleeps == [0.5, 1.0, 2.0]


async def test_connection_errors_are_retried_and_mapped(runtime, connection, transport, clock):
    transport.fail_transport = [httpx.ConnectError("refused")]
    async with XeroClient(runtime, connection, jitter=lambda: 0.0) as xero:
        assert (await xero.organisation()).name == "Demo Company (UK)"
    transport.fail_transport = [httpx.ReadTimeout("slow")] * 4
    async with XeroClient(runtime, connection, jitter=lambda: 0.0) as xero:
        with pytest.raises(TransportError, match="did not answer in time"):
            await xero.organisation()


async def test_sandbox_counts_calls_in_rate_limit_headers(runtime, connection, transport):
    async with XeroClient(runtime, connection) as xero:
        await xero.organisation()
        await xero.users()
    _, last, _ = transport.log[-1]
    assert last.headers["X-MinLimit-Remaining"] == "58" and last.headers["X-DayLimit-Remaining"] == "4998"
    assert "X-AppMinLimit-Remaining" in last.headers


async def test_sandbox_enforces_60_a_minute_and_client_waits_retry_after(runtime, connection, clock, transport):
    async with XeroClient(runtime, connection) as xero:
        xero.limiter.windows = []  # switch our own limiter off to meet Xero's
        xero.limiter.paced = False
        for _ in range(61):
            await xero.get_json("Currencies")
    statuses = [resp.status_code for _, resp, _ in transport.log]
    assert statuses.count(429) == 1 and statuses[-1] == 200
    [limited] = [resp for _, resp, _ in transport.log if resp.status_code == 429]
    assert limited.headers["X-Rate-Limit-Problem"] == "minute"
    assert clock.sleeps == [float(limited.headers["Retry-After"])]


async def test_client_limiter_keeps_60_a_minute_and_5_in_flight(clock):
    limiter = Limiter(now=clock.now, sleep=clock.sleep, concurrent=CONCURRENT, windows=[(PER_MINUTE, WINDOW)])
    started = []

    async def one(n):
        async with limiter:
            started.append((n, clock.now()))
            await asyncio.sleep(0)

    await asyncio.gather(*(one(n) for n in range(61)))
    assert limiter.max_in_flight == 5
    assert (started[-1][1] - started[0][1]).total_seconds() == 60
    assert clock.sleeps == [60.0]


async def test_day_limit_stops_every_call_until_xero_s_retry_after(runtime, connection, sandbox, clock, transport):
    """Fact sheet §10: treat ``day`` as "stop until reset". After Xero's day 429 the tenant's next calls fail at
    once without reaching Xero (it would only answer 429 again and count them), until Retry-After has passed."""
    sandbox.force_rate_limit("day", times=1, retry_after=3600)
    with pytest.raises(DailyLimitReached):
        await XeroBackend.open(connection, runtime).current_user()
    sent = len(transport.api_calls())
    clock.advance(3599)
    with pytest.raises(DailyLimitReached) as caught:
        await XeroBackend.open(connection, runtime).current_user()
    assert len(transport.api_calls()) == sent and caught.value.retry_after == pytest.approx(1.0)
    clock.advance(1)
    assert (await XeroBackend.open(connection, runtime).current_user()).name == "Fiona Finance"


# ---- pacing by Xero's remaining-budget headers (issue #14) ----------------------------------------------


class OtherApps(httpx.AsyncBaseTransport):
    """Xero as seen while other apps use the same organisation: their calls show in the remaining-budget headers."""

    def __init__(self, inner, **headers: str) -> None:
        self.inner = inner
        self.headers = headers

    async def handle_async_request(self, request):
        response = await self.inner.handle_async_request(request)
        if "/api.xro/" in request.url.path:
            response.headers.update({k.replace("_", "-"): v for k, v in self.headers.items()})
        return response


async def test_calls_another_app_made_this_minute_cost_a_wait_not_a_429(runtime, connection, sandbox, clock, transport):
    """X-MinLimit-Remaining counts every app's calls to the organisation. Another app has used 57 of this minute's
    60: our fourth call waits for the next window instead of drawing a 429."""
    sandbox.limiter.windows["minute"][0].charge(sandbox.tenant_id, clock.now(), 57)
    async with XeroClient(runtime, connection) as xero:
        for _ in range(4):
            await xero.get_json("Currencies")
    assert [resp.status_code for _, resp, _ in transport.log] == [200] * len(transport.log)
    assert len(transport.api_calls("GET", "/Currencies")) == 4
    assert clock.sleeps == [60.0]


async def test_app_wide_minute_budget_spent_by_other_tenants_costs_a_wait(runtime, connection, clock, transport):
    """X-AppMinLimit-Remaining is the app's budget across all organisations: at 0 every connection waits."""
    runtime.transports = {"xero": OtherApps(transport, X_AppMinLimit_Remaining="0")}
    async with XeroClient(runtime, connection) as xero:
        await xero.get_json("Currencies")
        assert clock.sleeps == []
        await xero.get_json("Currencies")
    assert clock.sleeps == [60.0]


async def test_day_budget_spent_by_another_app_stops_calls_without_sending(runtime, connection, sandbox, clock, transport):
    """X-DayLimit-Remaining at 0 (another app spent the organisation's day): the next call is refused here,
    as DailyLimitReached, instead of being sent to draw a 429."""
    sandbox.limiter.windows["day"][0].charge(sandbox.tenant_id, clock.now(), 4999)
    async with XeroClient(runtime, connection) as xero:
        await xero.get_json("Currencies")
        sent = len(transport.api_calls())
        with pytest.raises(DailyLimitReached) as caught:
            await xero.get_json("Currencies")
    assert len(transport.api_calls()) == sent and clock.sleeps == []
    assert caught.value.retry_after and caught.value.retry_after > 0


async def test_concurrent_calls_never_overdraw_the_minute_xero_reported(runtime, connection, sandbox, clock, transport):
    """Five calls at once with three left this minute: three go, two wait for the next window (no 429)."""
    sandbox.limiter.windows["minute"][0].charge(sandbox.tenant_id, clock.now(), 56)
    async with XeroClient(runtime, connection) as xero:
        await xero.get_json("Currencies")  # Xero says: 3 left
        await asyncio.gather(*(xero.get_json("Currencies") for _ in range(5)))
    assert 429 not in [resp.status_code for _, resp, _ in transport.log]
    assert len(transport.api_calls("GET", "/Currencies")) == 6
