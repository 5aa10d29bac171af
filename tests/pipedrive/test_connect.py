"""Connecting: API token validated with users/me, and OAuth (authorize, code exchange with Basic client auth,
api_domain as base URL, refresh on expiry and on 401, revoke on disconnect)."""

from __future__ import annotations

import base64
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from invoicebridge.core.errors import AuthError
from invoicebridge.plugins.pipedrive.backend import PipedriveSource

pytestmark = pytest.mark.anyio


async def test_token_connect_reads_company_from_users_me(runtime):
    result = await PipedriveSource.connect_with_token(runtime, token="sandbox-token",
                                                    settings={})
    assert result.secrets == {"api_token": "sandbox-token"}
    assert {k: result.settings[k] for k in ("api_domain", "company_name", "company_domain", "user_name")} == {
        "api_domain": "https://acme-sandbox.pipedrive.com", "company_name": "Acme Sandbox Ltd",
        "company_domain": "acme-sandbox", "user_name": "Sam Seller"}
    assert result.label == "Acme Sandbox Ltd"


async def test_wrong_token_is_refused_with_an_actionable_error(runtime, transport):
    with pytest.raises(AuthError) as info:
        await PipedriveSource.connect_with_token(runtime, token="nope", settings={})
    assert "reconnect Pipedrive" in info.value.message
    request = transport.log[-1][0]
    assert request.headers["x-api-token"] == "nope" and "api_token" not in str(request.url)


async def test_other_backends_are_not_answered(runtime):
    """Connecting goes to the registered factory of the backend named; Pipedrive's is never asked for another."""
    from invoicebridge.core.errors import NotConnected
    from invoicebridge.core.plugins import Plugins

    plugins = Plugins()
    assert plugins.registry.factory("pipedrive") is PipedriveSource
    with pytest.raises(NotConnected, match="OAuth only"):
        await plugins.connect_with_token(runtime, backend="xero", token="t", settings={})
    with pytest.raises(NotConnected, match="nosuch"):
        await plugins.authorize_url(runtime, backend="nosuch", redirect_uri="r", state="s", code_challenge="c", settings={})


async def _authorize_and_get_code(runtime, sandbox_app, redirect_uri):
    url = PipedriveSource.authorize_url(runtime, redirect_uri=redirect_uri,
                                      state="st-1", code_challenge="", settings={})
    parts = urlsplit(url)
    assert parts.netloc == "oauth.sandbox.test" and parse_qs(parts.query) == {
        "client_id": ["sandbox-client"], "redirect_uri": [redirect_uri], "state": ["st-1"]}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sandbox_app), base_url="https://oauth.sandbox.test") as c:
        answer = await c.get(parts.path + "?" + parts.query)
    assert answer.status_code == 302
    back = parse_qs(urlsplit(answer.headers["location"]).query)
    assert back["state"] == ["st-1"]
    return back["code"][0]


async def test_oauth_code_exchange_uses_basic_auth_and_api_domain(runtime, sandbox_app, transport):
    redirect = "https://ib.example/connect/pipedrive/callback"
    code = await _authorize_and_get_code(runtime, sandbox_app, redirect)
    result = await PipedriveSource.complete_oauth(runtime, code=code,
                                                redirect_uri=redirect, code_verifier="", settings={})
    token_call = next(r for r, _, _ in transport.log if r.url.path == "/oauth/token")
    assert token_call.headers["authorization"] == "Basic " + base64.b64encode(b"sandbox-client:sandbox-secret").decode()
    assert token_call.headers["content-type"] == "application/x-www-form-urlencoded"
    assert result.secrets["access_token"].startswith("v1u:") and result.secrets["refresh_token"]
    assert result.settings["api_domain"] == "https://oauth.sandbox.test"  # the sandbox names itself
    me = next(r for r, _, _ in transport.log if r.url.path == "/api/v1/users/me")
    assert me.url.host == "oauth.sandbox.test" and me.headers["authorization"].startswith("Bearer v1u:")


async def test_expired_access_token_is_refreshed_and_saved(runtime, sandbox_app, sandbox, store, clock):
    redirect = "https://ib.example/connect/pipedrive/callback"
    code = await _authorize_and_get_code(runtime, sandbox_app, redirect)
    result = await PipedriveSource.complete_oauth(runtime, code=code,
                                                redirect_uri=redirect, code_verifier="", settings={})
    conn = store.add_connection(backend="pipedrive", role="crm", settings=dict(result.settings),
                                secrets=dict(result.secrets))
    clock.advance(3600)
    deal = await PipedriveSource.open(conn, runtime).get_deal(deal_id="2")
    assert deal.title.startswith("Nordlicht")
    saved = store.get_secrets(conn.id)
    assert saved["access_token"] != result.secrets["access_token"]
    assert saved["refresh_token"] == result.secrets["refresh_token"]  # Pipedrive returns the same one

    sandbox.expire_access_tokens()  # revoked early: the 401 triggers one refresh and a retry
    health = await PipedriveSource.open(store.get_connection(conn.id), runtime).check()
    assert health.ok and health.user.name == "Sam Seller"

    assert await PipedriveSource.open(conn, runtime).disconnect() is True
    assert saved["refresh_token"] not in sandbox.refresh_tokens
    assert store.get_secrets(conn.id) == {}


def test_the_config_holds_one_oauth_app_and_every_oauth_call_uses_it(runtime):
    """The authorize URL, the token and revocation endpoints and the client credentials live in one OAuthApp
    (core's), built once from the config; the revocation endpoint defaults to the token endpoint's neighbour."""
    from invoicebridge.plugins.pipedrive import auth
    from invoicebridge.plugins.pipedrive.config import PipedriveConfig

    cfg = PipedriveConfig.from_runtime(runtime)
    assert auth.oauth_app(cfg) is cfg.oauth
    assert (cfg.oauth.authorize_url, cfg.oauth.token_url, cfg.oauth.revoke_url) == (
        "https://oauth.sandbox.test/oauth/authorize", "https://oauth.sandbox.test/oauth/token",
        "https://oauth.sandbox.test/oauth/revoke")
    assert auth.authorize_url(cfg, "https://ib.example/cb", "s").startswith(cfg.oauth.authorize_url + "?")
