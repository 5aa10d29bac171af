"""Two server processes sharing one database refresh the same Xero connection at the same moment.

Each process has its own lock (its own runtime cache), so both may send the same refresh token. Xero accepts a
rotated refresh token for 30 more minutes (fact sheet §1.2), so both succeed; whichever saves last leaves a
working token pair behind, and later calls from either process go on working."""

import asyncio

import httpx
import pytest

from invoicebridge.core.runtime import Runtime
from invoicebridge.plugins.xero.backend import XeroBackend

pytestmark = pytest.mark.anyio


class BothRefreshesInFlight(httpx.AsyncBaseTransport):
    """Holds each token request until two are in flight, so both processes really send the same old refresh
    token before either answer is saved (in-process calls would otherwise run one after the other)."""

    def __init__(self, inner):
        self.inner = inner
        self.waiting = 0
        self.both = asyncio.Event()

    async def handle_async_request(self, request):
        if request.url.path.endswith("/connect/token"):
            self.waiting += 1
            if self.waiting == 2:
                self.both.set()
            await asyncio.wait_for(self.both.wait(), timeout=10)  # a guard against a hang, not a pause
        return await self.inner.handle_async_request(request)


async def test_two_processes_refreshing_at_once_both_succeed_and_leave_a_working_token(runtime, store, connection, sandbox, clock):
    racing = {"xero": BothRefreshesInFlight(runtime.transports["xero"])}
    runtime.transports = racing
    other = Runtime(store=store, transports=racing, sleep=clock.sleep, now=clock.now,
                    public_url=runtime.public_url, config=runtime.config)  # a second process: its own cache and lock
    clock.advance(1800 + 5)  # the access token has expired
    first, second = await asyncio.gather(
        XeroBackend.open(connection, runtime).current_user(),
        XeroBackend.open(connection, other).current_user(),
    )
    assert first.name == second.name == "Fiona Finance"
    assert sandbox.identity.refresh_calls == 2  # one per process: the per-process lock cannot stop that
    clock.advance(40 * 60)  # past the grace period of every refresh token used so far
    third = Runtime(store=store, transports={"xero": racing["xero"].inner}, sleep=clock.sleep, now=clock.now,
                    public_url=runtime.public_url, config=runtime.config)
    assert (await XeroBackend.open(connection, third).current_user()).name == "Fiona Finance"
