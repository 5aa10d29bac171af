"""Rate limits: the pure retry policy, 429 then success with the exact injected sleep, a gate shared by all
requests of a connection, spread bursts, and a clean stop when the daily budget is spent."""

from __future__ import annotations

import pytest

from invoicebridge.core.errors import DailyLimitReached, RateLimited, ServerError, TransportError
from invoicebridge.plugins.pipedrive.client import retry_policy
from invoicebridge.plugins.pipedrive.backend import PipedriveSource


class _Runtime:
    def __init__(self, jitter):
        self.cache = {"pipedrive.jitter": jitter}


def retry_decision(error, attempt, method, *, jitter=0.0):
    return retry_policy(_Runtime(lambda delay: jitter)).decide(error, attempt, method)

pytestmark = pytest.mark.anyio


def test_policy_waits_retry_after_plus_jitter_on_429():
    d = retry_decision(RateLimited("slow down", retry_after=3.0), 1, "POST", jitter=0.25)
    assert (d.retry, d.delay) == (True, 3.25)


def test_policy_never_retries_a_spent_day_or_a_failed_post():
    assert not retry_decision(DailyLimitReached("day", retry_after=100.0), 1, "GET").retry
    assert not retry_decision(ServerError("boom"), 1, "POST").retry  # creating twice is worse than failing
    assert retry_decision(ServerError("boom"), 2, "GET").delay == 2.0
    assert retry_decision(TransportError("down"), 3, "GET").delay == 4.0
    assert not retry_decision(RateLimited("x", retry_after=1.0), 4, "GET").retry  # capped attempts


async def test_429_then_success_sleeps_exactly_the_announced_reset(runtime, connection, sandbox, sleeps):
    sandbox.rate.force_429 = 1
    sandbox.rate.retry_after = 7
    deal = await PipedriveSource.open(connection, runtime).get_deal(deal_id="1")
    assert deal.id == "1"
    assert sleeps == [7.0]
    assert [p for _, p, _ in sandbox.requests][:2] == ["/api/v2/deals/1", "/api/v2/deals/1"]


async def test_after_a_429_every_client_of_the_connection_waits(runtime, connection, sandbox, sleeps, clock):
    from invoicebridge.plugins.pipedrive.client import PipedriveClient

    sandbox.rate.force_429 = 1
    sandbox.rate.retry_after = 5
    await PipedriveSource.open(connection, runtime).check()
    assert sleeps == [5.0]
    one, two = PipedriveClient(runtime, connection), PipedriveClient(runtime, connection)
    assert one.limiter is two.limiter  # one limiter per connection, shared through runtime.cache
    one.limiter.pause(4)  # e.g. another task just drew a 429
    await PipedriveSource.open(connection, runtime).list_fields()
    assert sleeps == [5.0, 4.0]


async def test_bursts_are_spread_over_the_window(runtime, connection, sandbox, sleeps, transport):
    from invoicebridge.plugins.pipedrive.client import PipedriveClient

    sandbox.rate.burst_limit = 3
    limiter = PipedriveClient(runtime, connection).limiter
    limiter.windows, limiter.paced = [(3, 2.0)], False  # our own window alone, not the answers' headers
    for _ in range(4):
        await PipedriveSource.open(connection, runtime).check()
    assert sleeps == [2.0]  # the 4th request waited for the 2 s window instead of drawing a 429
    assert [resp.status_code for _, resp, _ in transport.log] == [200] * 4


async def test_daily_budget_spent_stops_cleanly_without_more_requests(runtime, connection, sandbox, sleeps):
    sandbox.rate.daily_budget = 5
    with pytest.raises(DailyLimitReached) as info:
        await PipedriveSource.open(connection, runtime).get_deal(deal_id="1")
    assert info.value.retry_after and info.value.retry_after > 0
    assert "daily API budget" in info.value.message
    sent = len(sandbox.requests)
    with pytest.raises(DailyLimitReached):
        await PipedriveSource.open(connection, runtime).get_deal(deal_id="2")
    assert len(sandbox.requests) == sent  # the gate refused locally: nothing more was sent
    assert sleeps == []
    health = await PipedriveSource.open(connection, runtime).check()
    assert not health.ok and "daily" in health.detail


@pytest.mark.parametrize("style", ["seconds", "epoch"])
async def test_ratelimit_reset_as_seconds_or_as_a_unix_time_without_retry_after(runtime, connection, sandbox, sleeps,
                                                                                 style):
    """Fact sheet §7.1: ``x-ratelimit-reset`` is "probably seconds [unverified]" and ``Retry-After`` is third-party
    only. With no Retry-After, a reset sent as a Unix time must mean the same 7 s, not a wait of 56 years."""
    sandbox.rate.reset_style = style
    sandbox.rate.send_retry_after = False
    sandbox.rate.force_429 = 1
    sandbox.rate.retry_after = 7
    deal = await PipedriveSource.open(connection, runtime).get_deal(deal_id="1")
    assert deal.id == "1" and sleeps == [7.0]


# ---- pacing by Pipedrive's rate-limit and daily-budget headers (issue #14) ---------------------------------


async def test_spent_daily_token_budget_stops_before_drawing_a_429(runtime, connection, sandbox, sleeps, transport):
    """``x-daily-ratelimit-token-remaining: 0`` on a success (other apps share the company's budget): the next
    request is refused here, without being sent, instead of drawing a 429."""
    sandbox.rate.daily_budget = 2  # exactly what GET /users/me costs
    assert (await PipedriveSource.open(connection, runtime).check()).ok
    sent = len(sandbox.requests)
    with pytest.raises(DailyLimitReached) as info:
        await PipedriveSource.open(connection, runtime).get_deal(deal_id="1")
    assert len(sandbox.requests) == sent and sleeps == []
    assert info.value.retry_after and info.value.retry_after > 0
    assert 429 not in [resp.status_code for _, resp, _ in transport.log]


async def test_concurrent_requests_never_overdraw_the_burst_window_pipedrive_reported(runtime, connection, sandbox,
                                                                                      sleeps, transport):
    """``x-ratelimit-remaining`` says 2 are left in the 2 s window: of three requests at once, two go and one waits
    for the window's reset (before, all three went and one drew a 429)."""
    import asyncio

    import httpx

    from invoicebridge.plugins.pipedrive.client import PipedriveClient

    class OnTheWire(httpx.AsyncBaseTransport):  # requests really in flight together, as over a network
        async def handle_async_request(self, request):
            for _ in range(3):
                await asyncio.sleep(0)
            return await transport.handle_async_request(request)

    runtime.transports = {"pipedrive": OnTheWire()}
    sandbox.rate.burst_limit = 3
    async with PipedriveClient(runtime, connection) as client:
        await client.me()
        await asyncio.gather(*(client.me() for _ in range(3)))
    assert [resp.status_code for _, resp, _ in transport.log] == [200] * 4
    assert sleeps == [2.0]
