"""OAuth: authorize URL with state and PKCE, code exchange and tenant choice, refresh (ahead of expiry, on a
TokenExpired answer, once for racing tasks, rotated token saved first), unknown tenant, check and roles,
disconnect."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
import urllib.parse

import httpx
import pytest

from invoicebridge.core.errors import AuthError, InvoiceBridgeError
from invoicebridge.core.model import Role
from invoicebridge.plugins.xero.client import XeroClient
from invoicebridge.plugins.xero.config import GRANULAR_SCOPES, XeroConfig
from invoicebridge.plugins.xero.backend import XeroBackend

from xero_support import connect

pytestmark = pytest.mark.anyio
REDIRECT = "http://app.test/connect/xero/callback"


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


async def authorize(runtime, transport, *, state: str, challenge: str) -> dict[str, str]:
    url = XeroBackend.authorize_url(runtime, redirect_uri=REDIRECT, state=state,
                                      code_challenge=challenge, settings={})
    async with httpx.AsyncClient(transport=transport) as browser:
        answer = await browser.get(url)
    assert answer.status_code == 302
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(answer.headers["location"]).query))


async def test_authorize_url_has_state_pkce_and_granular_scopes(runtime):
    url = XeroBackend.authorize_url(runtime, redirect_uri=REDIRECT, state="st4te",
                                      code_challenge="ch", settings={})
    parts = urllib.parse.urlsplit(url)
    query = dict(urllib.parse.parse_qsl(parts.query))
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "http://xero.test/identity/connect/authorize"
    assert query == {"response_type": "code", "client_id": "test-client", "redirect_uri": REDIRECT,
                     "scope": GRANULAR_SCOPES, "state": "st4te", "code_challenge": "ch",
                     "code_challenge_method": "S256"}


def test_real_hosts_by_default_and_broad_scopes_on_request():
    config = XeroConfig.from_mapping({"scopes": "broad"})
    assert config.authorize_url == "https://login.xero.com/identity/connect/authorize"
    assert config.token_url == "https://identity.xero.com/connect/token"
    assert config.api_base == "https://api.xero.com/api.xro/2.0"
    assert "accounting.transactions" in config.scopes.split()


async def test_full_oauth_flow_connects_and_picks_tenant(runtime, transport, sandbox, store):
    verifier, challenge = pkce()
    back = await authorize(runtime, transport, state="abc", challenge=challenge)
    assert back["state"] == "abc"
    result = await XeroBackend.complete_oauth(runtime, code=back["code"],
                                                redirect_uri=REDIRECT, code_verifier=verifier, settings={})
    assert [(c.id, c.name) for c in result.choices] == [(sandbox.tenant_id, "Demo Company (UK)")]
    # the selected organisation comes back from connect, with the settings core stores without reading them
    assert result.account.id == sandbox.tenant_id and dict(result.account.settings) == {
        "tenant_id": sandbox.tenant_id, "tenant_name": "Demo Company (UK)"}
    assert result.settings["tenant_id"] == sandbox.tenant_id
    assert result.settings["user_id"] == sandbox.state.users[0]["UserID"]
    assert set(result.secrets) == {"access_token", "refresh_token", "expires_at"}
    conn = store.add_connection(backend="xero", role=Role.ACCOUNTING, settings=result.settings, secrets=result.secrets)
    health = await XeroBackend.open(conn, runtime).check()
    assert health.ok and health.user.role == "FINANCIALADVISER" and health.user.may_approve
    assert "Fiona Finance" in health.detail


async def test_code_exchange_refuses_a_wrong_verifier(runtime, transport):
    _, challenge = pkce()
    back = await authorize(runtime, transport, state="s", challenge=challenge)
    with pytest.raises(AuthError, match="invalid_grant"):
        await XeroBackend.complete_oauth(runtime, code=back["code"], redirect_uri=REDIRECT,
                                           code_verifier="x" * 43, settings={})


@pytest.mark.parametrize(("index", "role", "may_create"), [(0, "FINANCIALADVISER", True), (1, "STANDARD", True),
                                                           (2, "INVOICEONLY", False)])
async def test_check_reports_role_and_what_it_allows(runtime, store, sandbox, clock, index, role, may_create):
    conn = connect(store, sandbox, clock, user_index=index)
    health = await XeroBackend.open(conn, runtime).check()
    user = await XeroBackend.open(conn, runtime).current_user()
    assert (health.ok, user.role, user.may_create, user.may_approve) == (may_create, role, may_create, may_create)
    if not may_create:
        assert "only Standard and Adviser" in health.detail


async def test_refresh_ahead_of_expiry_saves_rotated_token_before_use(runtime, connection, sandbox, clock, store,
                                                                      transport, monkeypatch):
    before = store.get_secrets(connection.id)
    clock.advance(1800 - 30)  # inside the 60 s buffer: refresh although not yet expired
    calls_when_saved: list[int] = []
    original = store.set_secrets

    def spy(connection_id, secrets):
        calls_when_saved.append(len(transport.api_calls()))
        original(connection_id, secrets)

    monkeypatch.setattr(store, "set_secrets", spy)
    await XeroBackend.open(connection, runtime).current_user()
    after = store.get_secrets(connection.id)
    assert after["refresh_token"] != before["refresh_token"] and after["access_token"] != before["access_token"]
    # the mark "refresh in progress", then the rotated tokens: both saved before any API call used the new token
    assert calls_when_saved == [0, 0]
    [users_call] = transport.api_calls("GET", "/Users")
    assert users_call.headers["authorization"] == f"Bearer {after['access_token']}"
    assert sandbox.identity.refresh_calls == 1
    token_calls = [r for r, _, _ in transport.log if r.url.path.endswith("/connect/token")]
    assert token_calls[0].headers["authorization"].startswith("Basic ")


async def test_rotated_token_is_stored_even_if_the_next_call_fails(runtime, connection, sandbox, clock, store):
    before = store.get_secrets(connection.id)["refresh_token"]
    clock.advance(1800)
    sandbox.fail_next = [500] * 4
    with pytest.raises(InvoiceBridgeError):
        await XeroBackend.open(connection, runtime).current_user()
    now_stored = store.get_secrets(connection.id)["refresh_token"]
    assert now_stored != before and now_stored in sandbox.identity.refresh_tokens


async def test_two_tasks_racing_refresh_once_and_both_succeed(runtime, connection, sandbox, clock):
    clock.advance(1800)
    users = await asyncio.gather(
        XeroBackend.open(connection, runtime).current_user(),
        XeroBackend.open(connection, runtime).current_user(),
    )
    assert [u.name for u in users] == ["Fiona Finance", "Fiona Finance"]
    assert sandbox.identity.refresh_calls == 1


async def test_token_expired_answer_triggers_one_refresh_and_retry(runtime, connection, sandbox, clock, store):
    secrets_now = store.get_secrets(connection.id)
    store.set_secrets(connection.id, {**secrets_now, "expires_at": clock.now().timestamp() + 7200})  # we think valid
    clock.advance(1800)  # but Xero says expired
    user = await XeroBackend.open(connection, runtime).current_user()
    assert user.name == "Fiona Finance" and sandbox.identity.refresh_calls == 1


async def test_previous_refresh_token_has_a_30_minute_grace(runtime, connection, sandbox, clock, store):
    old = store.get_secrets(connection.id)["refresh_token"]
    keeper = XeroClient(runtime, connection).keeper
    clock.advance(1800)
    await keeper.token()
    # a lost response: the old token still works within 30 minutes ...
    store.set_secrets(connection.id, {**store.get_secrets(connection.id), "refresh_token": old, "expires_at": 0})
    clock.advance(20 * 60)
    await keeper.token()
    # ... but not after
    store.set_secrets(connection.id, {**store.get_secrets(connection.id), "refresh_token": old, "expires_at": 0})
    clock.advance(11 * 60)
    with pytest.raises(AuthError, match="reconnect Xero"):
        await keeper.token()


async def test_unknown_tenant_is_an_auth_error(runtime, store, sandbox, clock):
    conn = connect(store, sandbox, clock)
    conn = store.update_connection(conn.id, settings={**conn.settings, "tenant_id": "6f1a0a8e-0000-4000-8000-000000000001"})
    with pytest.raises(AuthError, match="unknown tenant"):
        await XeroBackend.open(conn, runtime).catalog()


async def test_missing_scope_is_an_auth_error(runtime, store, sandbox, clock):
    conn = connect(store, sandbox, clock, scope="offline_access accounting.settings.read")
    with pytest.raises(AuthError, match="scope"):
        await XeroBackend.open(conn, runtime).modified_since(since=None)


async def test_disconnect_removes_the_tenant_and_revokes(runtime, connection, sandbox, store):
    refresh = store.get_secrets(connection.id)["refresh_token"]
    assert await XeroBackend.open(connection, runtime).disconnect() is True
    assert sandbox.identity.connections == []
    assert refresh not in sandbox.identity.refresh_tokens
    with pytest.raises(AuthError):
        await XeroBackend.open(connection, runtime).catalog()
