"""Fact sheet §7.1: a client that keeps firing after a 429 gets Cloudflare's 403 HTML page. The sandbox does
that to any client that sends inside the announced wait; ours never does, and when blocked anyway (another
integration on the same token, say) it stops and pauses the connection instead of retrying."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest

from invoicebridge.core.errors import RateLimited
from invoicebridge.plugins.pipedrive.backend import PipedriveSource

pytestmark = pytest.mark.anyio


async def test_the_sandbox_blocks_a_client_that_sends_inside_the_429_wait(sandbox_app, sandbox, clock):
    sandbox.rate.force_429 = 1
    sandbox.rate.retry_after = 5
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sandbox_app), base_url="http://pd.test",
                                 headers={"x-api-token": "sandbox-token"}) as raw:
        assert (await raw.get("/api/v2/deals/1")).status_code == 429
        eager = await raw.get("/api/v2/deals/1")
        assert eager.status_code == 403 and "Cloudflare" in eager.text and eager.headers["content-type"].startswith("text/html")
        clock.advance(5)
        assert (await raw.get("/api/v2/deals/1")).status_code == 200
    assert sandbox.rate.blocked == 1


async def test_our_client_waits_out_a_429_and_is_never_blocked(runtime, connection, sandbox, sleeps):
    sandbox.rate.force_429 = 2
    sandbox.rate.retry_after = 3
    assert (await PipedriveSource.open(connection, runtime).get_deal(deal_id="1")).id == "1"
    assert sleeps == [3.0, 3.0] and sandbox.rate.blocked == 0


async def test_when_blocked_the_client_stops_at_once_and_pauses_the_connection(runtime, connection, sandbox, sleeps, clock):
    sandbox.rate.quiet_until = clock.now() + dt.timedelta(seconds=60)  # someone else kept firing on this token
    before = len(sandbox.requests)
    with pytest.raises(RateLimited) as info:
        await PipedriveSource.open(connection, runtime).get_deal(deal_id="1")
    assert info.value.problem == "blocked" and "pauses this connection" in info.value.message
    assert len(sandbox.requests) - before == 1  # not retried
    assert (await PipedriveSource.open(connection, runtime).get_deal(deal_id="1")).id == "1"
    assert sleeps == [300.0]  # the next call waited out the pause first
