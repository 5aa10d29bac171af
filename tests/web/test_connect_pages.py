"""Connecting Xero through the pages: OAuth with state and PKCE against the sandbox, role refusal, disconnect."""

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from starlette.testclient import TestClient

from invoicebridge.adapters.config import AppConfig
from invoicebridge.adapters.demo import build_demo
from invoicebridge.core.model import Role


@pytest.fixture
def signed_in(tmp_path, validate_demo):
    app, info = build_demo(AppConfig(data_dir=tmp_path, port=8000, sync_interval=0))
    validate_demo(app)
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        page = client.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        client.post("/login", data={"password": info["admin_password"], "csrf_token": token})
        store = app.state.runtime.store
        store.deactivate_connection(store.active_connection(Role.ACCOUNTING).id)
        yield client, app


def csrf(client, path="/connections"):
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text).group(1)


def start(client, user_id=None):
    """Click Connect Xero, and let the sandbox's login page answer for the given user."""
    first = client.get("/connect/xero", follow_redirects=False)
    assert first.status_code == 303
    authorize = first.headers["location"]
    query = parse_qs(urlsplit(authorize).query)
    assert query["code_challenge_method"] == ["S256"] and query["state"][0] and "accounting.invoices" in query["scope"][0]
    if user_id:
        authorize += f"&login_hint_user={user_id}"
    back = client.get(authorize, follow_redirects=False)
    assert back.status_code == 302
    return back.headers["location"]


def test_connect_xero_with_oauth_and_pkce(signed_in):
    client, app = signed_in
    callback = start(client)
    done = client.get(callback, follow_redirects=True)
    assert "Connected to Xero: Demo Company (UK)" in done.text
    conn = app.state.runtime.store.active_connection(Role.ACCOUNTING)
    assert conn.settings["user_role"] == "FINANCIALADVISER" and "Fiona Finance" in done.text
    assert "access_token" not in done.text and app.state.runtime.secrets(conn)["refresh_token"] not in done.text


def test_a_callback_with_a_wrong_state_is_refused_and_connects_nothing(signed_in):
    client, app = signed_in
    callback = start(client)
    forged = re.sub(r"state=[^&]+", "state=forged", callback)
    response = client.get(forged)
    assert response.status_code == 400 and "OAuth state does not match" in response.text
    assert app.state.runtime.store.active_connection(Role.ACCOUNTING) is None
    replay = client.get(callback)  # the real callback after the attempt was spent
    assert replay.status_code == 400 and app.state.runtime.store.active_connection(Role.ACCOUNTING) is None


def test_a_user_whose_role_may_not_invoice_is_refused(signed_in):
    client, app = signed_in
    xero = app.state.sandboxes["xero"][1]
    invoice_only = next(u for u in xero.state.users if u["OrganisationRole"] == "INVOICEONLY")
    response = client.get(start(client, invoice_only["UserID"]))
    assert response.status_code == 403
    assert "only Standard and Adviser users may create invoices" in response.text
    assert app.state.runtime.store.active_connection(Role.ACCOUNTING) is None


def test_disconnect_revokes_and_forgets_the_tokens(signed_in):
    client, app = signed_in
    client.get(start(client))
    store = app.state.runtime.store
    conn = store.active_connection(Role.ACCOUNTING)
    response = client.post(f"/connections/{conn.id}/disconnect", data={"csrf_token": csrf(client)})
    assert "disconnected" in response.text
    assert store.active_connection(Role.ACCOUNTING) is None and store.get_secrets(conn.id) == {}
    assert app.state.sandboxes["xero"][1].identity.revoked_events  # the refresh token was revoked at Xero
    assert "Connect Xero (OAuth)" in client.get("/connections").text


def test_connect_pipedrive_with_an_api_token(signed_in):
    client, app = signed_in
    store = app.state.runtime.store
    store.deactivate_connection(store.active_connection(Role.CRM).id)
    wrong = client.post("/connect/pipedrive/token", data={"csrf_token": csrf(client), "token": "not-a-token"})
    assert wrong.status_code in (401, 502) and store.active_connection(Role.CRM) is None
    assert "not-a-token" not in wrong.text
    right = client.post("/connect/pipedrive/token", data={"csrf_token": csrf(client), "token": "sandbox-token"})
    assert "Connected to Acme Sandbox Ltd." in right.text and "check failed" not in right.text
    conn = store.active_connection(Role.CRM)
    assert conn.settings["user_name"] == "Sam Seller" and store.connection_health(conn.id)["last_error"] == "" 
    assert conn.backend == "pipedrive" and "sandbox-token" not in right.text
    assert store.get_secrets(conn.id)["api_token"] == "sandbox-token"


def test_connect_pipedrive_with_oauth(signed_in):
    client, app = signed_in
    store = app.state.runtime.store
    store.deactivate_connection(store.active_connection(Role.CRM).id)
    first = client.get("/connect/pipedrive", follow_redirects=False)
    assert first.status_code == 303 and "/sandbox/pipedrive/oauth/authorize" in first.headers["location"]
    back = client.get(first.headers["location"], follow_redirects=False)
    done = client.get(back.headers["location"], follow_redirects=True)
    assert "Connected to" in done.text and "check failed" not in done.text
    conn = store.active_connection(Role.CRM)
    secrets = store.get_secrets(conn.id)
    assert conn.backend == "pipedrive" and secrets.get("access_token") and secrets.get("refresh_token")
    assert secrets["access_token"] not in done.text
    hooks = app.state.sandboxes["pipedrive"][1].state.sandbox.webhooks.values()
    assert any(h["subscription_url"].endswith("/webhooks/pipedrive") for h in hooks)
