"""Connecting to QuickBooks through the backend and the connector kit, against the sandbox: the authorize URL and
code exchange (realm from the id token, company name and settings read), refresh with rotation, invalid_grant ->
reconnect, disconnect revokes, the catalog, and the errors and limits of the client."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from invoicebridge.core.errors import RateLimited, ReconnectNeeded
from invoicebridge.plugins.quickbooks.backend import QuickBooksBackend

pytestmark = pytest.mark.anyio


async def test_authorize_and_complete_oauth(runtime, sandbox, transport):
    url = await QuickBooksBackend.authorize_url(runtime, redirect_uri="http://app.test/connect/quickbooks/callback",
                                                state="st", code_challenge="abc", settings={})
    query = parse_qs(urlsplit(url).query)
    assert query["scope"] == ["com.intuit.quickbooks.accounting openid email"] and "code_challenge" not in query
    async with httpx.AsyncClient(transport=transport) as http:
        answer = await http.get(url)
    back = parse_qs(urlsplit(answer.headers["location"]).query)
    assert back["realmId"] == [sandbox.realm_id] and back["state"] == ["st"]
    result = await QuickBooksBackend.complete_oauth(runtime, code=back["code"][0], code_verifier="",
                                                    redirect_uri="http://app.test/connect/quickbooks/callback",
                                                    settings={})
    assert result.settings["realm_id"] == sandbox.realm_id and result.settings["company_name"] == "Demo Company (UK)"
    assert result.settings["home_currency"] == "GBP" and result.settings["us"] is False
    assert result.label == "QuickBooks: Demo Company (UK)" and result.secrets["refresh_token"]
    token_call = next(req for req, _, _ in transport.log if req.url.path.endswith("/tokens/bearer"))
    assert token_call.headers["authorization"].startswith("Basic ")


async def test_expired_access_token_is_refreshed_and_rotation_saved(backend, runtime, connection, sandbox, clock):
    before = runtime.secrets(connection)["refresh_token"]
    clock.advance(3700)
    catalog = await backend.catalog()
    after = runtime.secrets(connection)
    assert catalog.organisation_name == "Demo Company (UK)" and after["refresh_token"] != before
    assert after["expires_at"] > clock.now().timestamp()


async def test_invalid_grant_means_reconnect(backend, sandbox, clock):
    for grant in sandbox.oauth.server.grants.values():  # e.g. the user disconnected the app inside QBO
        grant.revoked = True
    clock.advance(3700)
    with pytest.raises(ReconnectNeeded):
        await backend.catalog()


async def test_disconnect_revokes(backend, runtime, connection, sandbox, clock):
    assert await backend.disconnect() is True
    token = runtime.secrets(connection)["refresh_token"]
    assert token not in sandbox.oauth.server.refresh_tokens and all(g.revoked for g in sandbox.oauth.server.grants.values())


async def test_catalog(backend):
    catalog = await backend.catalog()
    assert catalog.base_currency == "GBP" and catalog.item("TRAIN").name == "Training day"
    assert {r.rate for r in catalog.tax_rates} == {0, 5, 20}


async def test_throttle_is_waited_out(backend, sandbox, clock):
    sandbox.limits.force(1)
    await backend.catalog()
    assert 60.0 in clock.sleeps and sandbox.limits.rejected[0][1] == "forced"


async def test_throttle_that_persists_is_an_error(backend, sandbox, clock):
    sandbox.limits.force(10)
    with pytest.raises(RateLimited):
        await backend.catalog()


async def test_server_error_on_a_read_is_retried(backend, sandbox, clock):
    sandbox.fail_next = [503]
    assert (await backend.catalog()).items


async def test_the_company_comes_from_the_redirects_realm_id_through_core(runtime, sandbox, transport):
    """Core handed the backend only the code: without an id token (no ``openid`` scope) the company named in the
    redirect's ``realmId`` was lost and connecting failed. Core now gives the callback's other parameters to a
    backend that takes ``callback`` (a neutral contract addition)."""
    from invoicebridge.core.connect import ConnectFlow
    from invoicebridge.core.model import Health
    from invoicebridge.core.plugins import Plugins, make_plugin_manager

    runtime.config["quickbooks"]["scopes"] = "com.intuit.quickbooks.accounting"  # no id token in the answer

    async def check(connection):
        return Health(ok=True)

    flow = ConnectFlow(runtime, Plugins(make_plugin_manager()), check, "http://app.test")
    started = await flow.begin("quickbooks")
    async with httpx.AsyncClient(transport=transport) as http:
        answer = await http.get(started.url)
    back = {k: v[0] for k, v in parse_qs(urlsplit(answer.headers["location"]).query).items()}
    assert "id_token" not in sandbox.oauth.exchange(sandbox.oauth.client_id, {
        "code": sandbox.oauth.issue_code(client_id=sandbox.oauth.client_id, redirect_uri="urn:t",
                                         scope="com.intuit.quickbooks.accounting", realm_id=sandbox.realm_id),
        "redirect_uri": "urn:t"})
    outcome = await flow.complete("quickbooks", started.pending, back)
    assert outcome.connection is not None and outcome.connection.settings["realm_id"] == sandbox.realm_id
    assert outcome.connection.settings["company_name"] == "Demo Company (UK)"
