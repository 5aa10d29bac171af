"""Connecting another accounting system while one is connected replaced it silently. Now a page says which one will
be disconnected (Cancel, Continue) and a JSON client gets 409 unless it sends ``replace=true``; on Continue the new
one is connected and the old one disconnected as Disconnect would (its grant revoked, the audit line written)."""

import re

import pytest
from starlette.testclient import TestClient

from invoicebridge.adapters.config import AppConfig
from invoicebridge.adapters.demo import build_demo
from invoicebridge.core.model import Role


@pytest.fixture
def demo(tmp_path):
    app, info = build_demo(AppConfig(data_dir=tmp_path, port=8000, sync_interval=0))  # Xero connected
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        page = client.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        client.post("/login", data={"password": info["admin_password"], "csrf_token": token})
        yield client, app


def accounting(app):
    return app.state.runtime.store.active_connection(Role.ACCOUNTING)


@pytest.mark.parametrize(("language", "title", "cancel", "go"), [
    ("en", "Replace Xero with QuickBooks Online?", "Cancel", "Continue and disconnect Xero"),
    ("de", "Xero durch QuickBooks Online ersetzen?", "Abbrechen", "Fortfahren und Xero trennen")])
def test_connecting_another_accounting_system_asks_first_which_one_it_disconnects(demo, language, title, cancel, go):
    client, app = demo
    xero = accounting(app)
    page = client.get(f"/connect/quickbooks?lang={language}", follow_redirects=False)
    account = xero.settings["organisation_name"]  # "Demo Company (UK)", not the label that repeats "Xero"
    assert page.status_code == 200 and title in page.text and f"Xero ({account})" in page.text, page.text
    assert f'<a class="button" href="/connections">{cancel}</a>' in page.text and go in page.text
    assert 'action="/connect/quickbooks/replace"' in page.text
    assert accounting(app).id == xero.id and "oauth" not in client.cookies.get("session", "")  # nothing changed


def test_a_json_client_gets_409_unless_it_says_replace(demo):
    client, app = demo
    refused = client.get("/connect/quickbooks", headers={"Accept": "application/json"}, follow_redirects=False)
    assert refused.status_code == 409, refused.text
    body = refused.json()
    assert body["error"] == "ReplaceNeeded" and body["connected_backend"] == "xero"
    assert "Xero" in body["message"] and "QuickBooks Online" in body["message"]
    going = client.get("/connect/quickbooks?replace=true", headers={"Accept": "application/json"}, follow_redirects=False)
    assert going.status_code == 303 and "/sandbox/quickbooks/connect/oauth2" in going.headers["location"]
    plain = client.get("/connect/quickbooks?replace=true", follow_redirects=False)  # a page link cannot skip the question
    assert plain.status_code == 200 and "Replace Xero" in plain.text


def test_continue_connects_the_new_one_and_disconnects_the_old(demo):
    client, app = demo
    xero = accounting(app)
    sandbox = app.state.sandboxes["xero"][1]
    assert sandbox.identity.connections
    page = client.get("/connect/quickbooks").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    started = client.post("/connect/quickbooks/replace", data={"csrf_token": token, "replace": "true"},
                          follow_redirects=False)
    assert started.status_code == 303
    back = client.get(started.headers["location"], follow_redirects=False)
    done = client.get(back.headers["location"], follow_redirects=True)
    assert done.status_code == 200 and "Connected to" in done.text, done.text
    assert accounting(app).backend == "quickbooks" and accounting(app).id != xero.id
    assert not sandbox.identity.connections  # the Xero grant was revoked, as Disconnect does
    audit = [e["kind"] for e in app.state.runtime.store.audit_entries(limit=20)]
    assert "disconnected" in audit and "connected" in audit


def test_connecting_the_same_system_again_asks_nothing(demo):
    client, app = demo
    again = client.get("/connect/xero", follow_redirects=False)
    assert again.status_code == 303 and "/sandbox/xero/identity/connect/authorize" in again.headers["location"]
