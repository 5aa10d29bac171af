"""The Xero sandbox's identity server (issue #14): connections per user, re-authorisation, the spec's path
casing, and the app-wide minute limit header."""

from __future__ import annotations

import httpx
from xero_support import BASE

from invoicebridge.plugins.xero.config import sandbox_config


def _get(sandbox, path: str, token: str, **headers: str) -> httpx.Response:
    async def go() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sandbox), base_url=BASE) as client:
            return await client.get(path, headers={"Authorization": f"Bearer {token}", **headers})
    import asyncio

    return asyncio.run(go())


def _organisation(sandbox, token: str) -> httpx.Response:
    return _get(sandbox, "/api.xro/2.0/Organisation", token, **{"xero-tenant-id": sandbox.tenant_id})


def test_a_second_user_authorising_does_not_cut_off_the_first(sandbox):
    # identity spec GET /Connections: "Retrieves the connections for this user"; each user has their own
    first = sandbox.issue_tokens(user_id=sandbox.state.users[0]["UserID"])
    second = sandbox.issue_tokens(user_id=sandbox.state.users[1]["UserID"])
    assert _organisation(sandbox, first["access_token"]).status_code == 200
    assert _organisation(sandbox, second["access_token"]).status_code == 200
    mine = _get(sandbox, "/connections", first["access_token"]).json()
    theirs = _get(sandbox, "/connections", second["access_token"]).json()
    assert len(mine) == len(theirs) == 1 and mine[0]["id"] != theirs[0]["id"]


def test_the_same_user_re_authorising_keeps_the_connection_under_the_new_auth_event(sandbox, clock):
    user = sandbox.state.users[0]["UserID"]
    before = sandbox.issue_tokens(user_id=user)
    [old] = _get(sandbox, "/connections", before["access_token"]).json()
    clock.advance(60)
    after = sandbox.issue_tokens(user_id=user)
    [new] = _get(sandbox, "/connections", after["access_token"]).json()
    assert new["id"] == old["id"] and new["createdDateUtc"] == old["createdDateUtc"]
    assert new["authEventId"] != old["authEventId"] and new["updatedDateUtc"] > old["updatedDateUtc"]
    # ?authEventId= finds exactly the orgs of this consent (fact sheet §1.4)
    assert _get(sandbox, f"/connections?authEventId={old['authEventId']}", after["access_token"]).json() == []
    assert _organisation(sandbox, before["access_token"]).status_code == 200  # earlier tokens keep access
    assert len(sandbox.identity.connections) == 1


def test_revoking_removes_only_that_users_connections(sandbox):
    first = sandbox.issue_tokens(user_id=sandbox.state.users[0]["UserID"])
    second = sandbox.issue_tokens(user_id=sandbox.state.users[1]["UserID"])
    sandbox.identity.revoke(first["refresh_token"])
    assert _organisation(sandbox, first["access_token"]).status_code == 401
    assert _organisation(sandbox, second["access_token"]).status_code == 200


def test_connections_answer_at_the_spec_path_and_in_lower_case(sandbox, specs):
    from xero_support import ValidatingTransport

    tokens = sandbox.issue_tokens()
    transport = ValidatingTransport(sandbox, specs)

    async def go() -> list[int]:
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
            auth = {"Authorization": f"Bearer {tokens['access_token']}"}
            upper = await client.get("/Connections", headers=auth)  # the identity spec's path
            lower = await client.get("/connections", headers=auth)
            gone = await client.delete(f"/Connections/{upper.json()[0]['id']}", headers=auth)
            return [upper.status_code, lower.status_code, gone.status_code]
    import asyncio

    assert asyncio.run(go()) == [200, 200, 204] and not transport.problems
    assert sandbox_config(BASE)["connections_url"].endswith("/connections")


def test_app_minute_remaining_counts_every_organisation_of_the_app(sandbox):
    # fact sheet §10: X-AppMinLimit-Remaining is the app-wide 10,000 a minute across all tenants; the other
    # limits count one tenant. Three calls of the app to another organisation this minute:
    for _ in range(3):
        assert sandbox.limiter.check("another-organisation") is None
    answer = _organisation(sandbox, sandbox.issue_tokens()["access_token"])
    assert answer.headers["X-MinLimit-Remaining"] == "59" and answer.headers["X-DayLimit-Remaining"] == "4999"
    assert answer.headers["X-AppMinLimit-Remaining"] == str(10000 - 4)
