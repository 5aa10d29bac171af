"""Ledgerly over HTTP through the connector kit: access tokens refreshed once when they expire (also when several
calls find them expired together, or the service refuses one early), the rotated refresh token saved and used next;
a 429 pauses and retries after ``Retry-After``; a server error is retried under the same idempotency key;
disconnecting revokes the grant."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from invoicebridge.core import AuthError
from invoicebridge.sandbox_kit import OAuthError

from ledgerly_sandbox import CLIENT_ID
from ledgerly_world import World, request

pytestmark = pytest.mark.anyio


async def test_an_expired_access_token_is_refreshed_once_and_the_rotated_refresh_token_kept(store):
    world = World(store)
    oauth = world.sandbox.oauth
    [created] = await world.backend.create_invoices([await request("op-1")])
    first = world.runtime.secrets(world.connection)

    world.clock.advance(2 * 3600)  # the one-hour access token has run out
    reads = await asyncio.gather(*(world.backend.get_invoices([created.invoice.remote_id]) for _ in range(3)))
    assert [len(r) for r in reads] == [1, 1, 1]
    assert oauth.refresh_calls == 1  # three calls found it expired; one refresh
    second = world.runtime.secrets(world.connection)
    assert second["access_token"] != first["access_token"] and second["refresh_token"] != first["refresh_token"]
    assert oauth.refresh_tokens[first["refresh_token"]].rotated_at is not None  # the service rotated it

    world.clock.advance(1)
    with pytest.raises(OAuthError):  # the old refresh token is dead now: only the saved, rotated one works
        oauth.refresh(CLIENT_ID, first["refresh_token"])
    oauth.expire_access_tokens()  # the service refuses the access token before the time we were told
    await world.backend.catalog()
    assert oauth.refresh_calls == 3  # the refused attempt just above, and our one refresh after the 401
    third = world.runtime.secrets(world.connection)
    assert third["refresh_token"] not in (first["refresh_token"], second["refresh_token"])
    assert [e.operation for e in world.sandbox.log if e.path == "/oauth/token"] == ["refresh_token", "refresh_token"]


async def test_a_refused_refresh_token_asks_to_reconnect(store):
    world = World(store)
    world.sandbox.oauth.revoke(world.runtime.secrets(world.connection)["refresh_token"])
    world.clock.advance(dt.timedelta(hours=2).total_seconds())
    with pytest.raises(AuthError, match="connect Ledgerly again"):
        await world.backend.catalog()


async def test_a_rate_limit_waits_retry_after_and_a_server_error_is_retried_under_the_same_key(store):
    world = World(store)
    world.sandbox.limiter.force("minute", retry_after=7)
    before = world.clock.now()
    assert (await world.backend.catalog()).base_currency == "GBP"
    assert (world.clock.now() - before).total_seconds() >= 7  # waited in simulated time, then asked again
    world.sandbox.faults.fail_next(503)
    [created] = await world.backend.create_invoices([await request("op-503")])
    assert created.ok and len(world.sandbox.invoices) == 1
    calls = [(e.method, e.path) for e in world.sandbox.log if e.path.startswith("/v1/")]
    assert calls == [("GET", "/v1/books/book-1/catalog")] * 2 + [("POST", "/v1/books/book-1/invoices")] * 2


async def test_disconnecting_revokes_the_grant(store):
    world = World(store)
    refresh = world.runtime.secrets(world.connection)["refresh_token"]
    assert await world.backend.disconnect() is True
    assert world.sandbox.oauth.refresh_tokens.get(refresh) is None and all(g.revoked for g in world.sandbox.oauth.grants.values())
