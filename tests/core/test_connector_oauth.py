"""The connector kit's token keeper: one refresh under many concurrent callers, the rotated refresh token saved
before any caller gets the new access token, a lost answer resent within the grace period, ``invalid_grant`` as
ReconnectNeeded; and the Authlib-built authorization URL and token requests."""

from __future__ import annotations

import asyncio
import urllib.parse

import httpx
import pytest
from connector_support import Conn, FakeRuntime, PlainDialect
from hypothesis import given, settings
from hypothesis import strategies as st

from invoicebridge.core.connector import Connector, OAuthApp, RetryPolicy, TokenKeeper, authorization_url
from invoicebridge.core.errors import ReconnectNeeded

APP = OAuthApp(client_id="cid", client_secret="sec", token_url="https://id.test/token",
               authorize_url="https://id.test/authorize", revoke_url="https://id.test/revoke")


class TokenServer:
    """Rotates the refresh token on every refresh; the previous one stays valid (the grace)."""

    def __init__(self) -> None:
        self.refresh_tokens = {"r0"}
        self.refreshes = 0
        self.forms: list[dict] = []
        self.drop_next = 0  # answers lost after the refresh happened

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0)  # let other callers run meanwhile
        form = dict(urllib.parse.parse_qsl(request.content.decode()))
        self.forms.append({**form, "authorization": request.headers.get("authorization", "")})
        if form.get("refresh_token") not in self.refresh_tokens:
            return httpx.Response(400, json={"error": "invalid_grant"})
        self.refreshes += 1
        new = f"r{self.refreshes}"
        self.refresh_tokens.add(new)
        if self.drop_next:
            self.drop_next -= 1
            raise httpx.ReadTimeout("answer lost", request=request)
        return httpx.Response(200, json={"access_token": f"a{self.refreshes}", "refresh_token": new, "expires_in": 1800})


def keeper_for(server, secrets, **kw):
    rt = FakeRuntime(server, secrets=secrets)
    connector = Connector(rt, PlainDialect(), retry=RetryPolicy(jitter=lambda d: 0.0))
    keeper = TokenKeeper(rt, Conn(), connector, APP, reconnect="reconnect the service (%(error)s)", **kw)
    connector.keeper = keeper
    return rt, keeper


@settings(max_examples=25, deadline=None)
@given(callers=st.integers(1, 25))
def test_concurrent_callers_refresh_once_and_the_rotated_token_is_saved_before_any_returns(callers):
    server = TokenServer()
    rt, keeper = keeper_for(server, {"access_token": "a0", "refresh_token": "r0", "expires_at": 0})

    async def one():
        token = await keeper.token()
        stored = rt.secrets(None)
        assert stored["access_token"] == token and stored["refresh_token"] == "r1"  # saved before we got it
        return token

    async def go():
        return await asyncio.gather(*(one() for _ in range(callers)))

    assert asyncio.run(go()) == ["a1"] * callers
    assert server.refreshes == 1
    # the mark first, then the rotated tokens; nothing saved after
    assert [s.get(TokenKeeper.MARK) is not None for s in rt.saved] == [True, False]
    assert rt.saved[-1]["refresh_token"] == "r1"


def test_a_fresh_token_is_used_without_refreshing_and_a_stale_one_is_renewed():
    server = TokenServer()
    rt, keeper = keeper_for(server, {"access_token": "a0", "refresh_token": "r0",
                                     "expires_at": FakeRuntime().now().timestamp() + 600})

    async def go():
        assert await keeper.token() == "a0"
        assert await keeper.token(stale="a0") == "a1"  # the service refused a0

    asyncio.run(go())
    assert server.refreshes == 1


def test_token_requests_use_basic_auth_built_by_authlib():
    server = TokenServer()
    rt, keeper = keeper_for(server, {"access_token": "a0", "refresh_token": "r0", "expires_at": 0})
    asyncio.run(keeper.token())
    [form] = server.forms
    assert form["grant_type"] == "refresh_token" and form["refresh_token"] == "r0"
    assert form["authorization"].startswith("Basic ") and "client_id" not in form


def test_a_lost_answer_is_resent_with_the_same_refresh_token_within_the_grace():
    """The refresh happened but its answer was lost: the kit resends it (a POST, which the policy would not
    retry otherwise) with the same refresh token, which the service still accepts during its grace period."""
    server = TokenServer()
    server.drop_next = 1
    rt, keeper = keeper_for(server, {"access_token": "a0", "refresh_token": "r0", "expires_at": 0})
    assert asyncio.run(keeper.token()) == "a2"
    assert [f["refresh_token"] for f in server.forms] == ["r0", "r0"]
    assert rt.secrets(None)["refresh_token"] == "r2" and TokenKeeper.MARK not in rt.secrets(None)


def test_a_cut_short_refresh_is_finished_by_the_next_caller():
    """A mark left by a process that died mid-refresh: the next caller refreshes at once (before the old refresh
    token's grace ends), even though the stored access token has not expired."""
    server = TokenServer()
    rt, keeper = keeper_for(server, {"access_token": "a0", "refresh_token": "r0", TokenKeeper.MARK: 1.0,
                                     "expires_at": FakeRuntime().now().timestamp() + 1200})
    assert asyncio.run(keeper.token()) == "a1"


def test_invalid_grant_means_reconnect_needed():
    server = TokenServer()
    rt, keeper = keeper_for(server, {"access_token": "a0", "refresh_token": "dead", "expires_at": 0})
    with pytest.raises(ReconnectNeeded, match=r"reconnect the service \(invalid_grant\)"):
        asyncio.run(keeper.token())
    with pytest.raises(ReconnectNeeded, match="no refresh token"):
        asyncio.run(rt.save_secrets(None, {"access_token": "a0", "expires_at": 0}))
        asyncio.run(keeper.token())


def test_an_unknown_expiry_uses_the_token_until_refused():
    rt, keeper = keeper_for(TokenServer(), {"access_token": "a0", "refresh_token": "r0"})
    assert asyncio.run(keeper.token()) == "a0"


def test_authorization_url_carries_state_and_pkce():
    url = authorization_url(APP, redirect_uri="https://app.test/cb", state="st", scope="a b", code_challenge="ch")
    parts = urllib.parse.urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "https://id.test/authorize"
    assert dict(urllib.parse.parse_qsl(parts.query)) == {
        "response_type": "code", "client_id": "cid", "redirect_uri": "https://app.test/cb", "scope": "a b",
        "state": "st", "code_challenge": "ch", "code_challenge_method": "S256"}
