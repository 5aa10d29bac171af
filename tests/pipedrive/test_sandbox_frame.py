"""The Pipedrive sandbox's frame on the emulator kit (issue #14): the OAuth token answer names where the API
answers, the burst limit is enforced by default, and OAuth scopes are enforced."""

from __future__ import annotations

import base64
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from invoicebridge.plugins.pipedrive.sandbox import create_sandbox

pytestmark = pytest.mark.anyio
BASIC = {"Authorization": "Basic " + base64.b64encode(b"sandbox-client:sandbox-secret").decode()}


async def _oauth_tokens(client: httpx.AsyncClient, prefix: str = "") -> dict:
    answer = await client.get(f"{prefix}/oauth/authorize", params={"client_id": "sandbox-client",
                                                                   "redirect_uri": "https://ib.example/cb", "state": "s"})
    code = parse_qs(urlsplit(answer.headers["location"]).query)["code"][0]
    token = await client.post(f"{prefix}/oauth/token", headers=BASIC, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": "https://ib.example/cb"})
    assert token.status_code == 200
    return token.json()


async def test_the_token_answers_api_domain_is_where_the_api_answers(clock):
    # spec (oauth token response): api_domain is "the base URL path … where the requests can be sent to"
    sandbox = create_sandbox(clock=clock.now, seed=True)
    demo = Starlette(routes=[Mount("/sandbox/pipedrive", app=sandbox)])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=demo), base_url="http://demo.local") as client:
        tokens = await _oauth_tokens(client, "/sandbox/pipedrive")
        assert tokens["api_domain"] == "http://demo.local/sandbox/pipedrive"
        me = await client.get(f"{tokens['api_domain']}/api/v1/users/me",
                              headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert me.status_code == 200 and me.json()["data"]["company_domain"] == "acme-sandbox"


async def test_the_burst_limit_is_enforced_by_default(clock):
    # fact sheet §7.1: a rolling 2-second window; the sandbox advertises x-ratelimit-limit: 80 and now keeps it
    sandbox = create_sandbox(clock=clock.now, seed=True)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sandbox), base_url="http://pd.test") as client:
        answers = [await client.get("/api/v2/deals/1", headers={"x-api-token": "sandbox-token"}) for _ in range(81)]
        assert [a.status_code for a in answers[:80]] == [200] * 80 and answers[80].status_code == 429
        assert answers[79].headers["x-ratelimit-remaining"] == "0"
        clock.advance(2.5)
        sandbox.state.sandbox.rate.quiet_until = None  # (the firewall block after a 429 is another test's concern)
        again = await client.get("/api/v2/deals/1", headers={"x-api-token": "sandbox-token"})
    assert again.status_code == 200


async def test_oauth_scopes_are_enforced(clock):
    # fact sheet §2 (OAuth API errors): 403 "Scope and URL mismatch"; each operation's security lists its scopes
    sandbox = create_sandbox(clock=clock.now, seed=True)
    sandbox.state.sandbox.client_scopes["sandbox-client"] = ("base", "deals:read")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sandbox), base_url="http://pd.test") as client:
        tokens = await _oauth_tokens(client)
        assert tokens["scope"] == "base,deals:read"
        bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
        read = await client.get("/api/v2/deals/1", headers=bearer)
        write = await client.patch("/api/v2/deals/1", headers=bearer, json={"title": "x"})
        hooks = await client.get("/v1/webhooks", headers=bearer)
        with_token = await client.patch("/api/v2/deals/1", headers={"x-api-token": "sandbox-token"}, json={"title": "x"})
    assert read.status_code == 200
    assert write.status_code == hooks.status_code == 403 and write.json()["error"] == "Scope and URL mismatch"
    assert with_token.status_code == 200  # an API token carries the user's own access
