"""The QuickBooks webhook verifier token is an app credential like the client id and secret: entered on the
Connections page (it could only be set in the environment), sealed at rest, never shown again; the environment
still sets it, and wins. The page names each backend's webhook secret as the remote side does."""

from __future__ import annotations

import re

import pytest
from starlette.testclient import TestClient

from invoicebridge.adapters.app import create_app
from invoicebridge.adapters.config import AppConfig
from invoicebridge.plugins.quickbooks.config import QboConfig

PASSWORD = "correct horse battery"
TOKEN = "verifier-7f3a9c2e1b"


def signed_in(app):
    client = TestClient(app, base_url="http://127.0.0.1:8000")
    client.__enter__()
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    client.post("/login", data={"password": PASSWORD, "csrf_token": token}, follow_redirects=False)
    return client


def csrf(client) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get("/connections").text).group(1)


def card(page: str, backend: str) -> str:
    start = page.index(f'id="backend-{backend}"')
    end = page.find("</section>", start)
    return page[start:end]


@pytest.fixture
def app(tmp_path):
    return create_app(AppConfig(data_dir=tmp_path, admin_password=PASSWORD, sync_interval=0))


def test_the_verifier_token_is_entered_with_the_app_credentials_sealed_and_never_shown(app, tmp_path):
    client = signed_in(app)
    try:
        page = client.get("/connections").text
        qbo = card(page, "quickbooks")
        assert re.search(r'Webhook verifier token <input type="password" name="verifier_token"', qbo), qbo
        assert 'name="webhook_key"' in card(page, "xero") and 'name="webhook_key"' not in qbo
        assert "verifier_token" not in card(page, "pipedrive")  # Pipedrive's webhooks carry credentials it set itself

        client.post("/connect/quickbooks/credentials", data={"client_id": "qbo-app", "client_secret": "qbo-secret",
                                                             "csrf_token": csrf(client)})
        qbo = card(client.get("/connections").text, "quickbooks")
        assert 'href="/connect/quickbooks"' in qbo and 'name="verifier_token"' in qbo  # still to be entered

        client.post("/connect/quickbooks/credentials", data={"verifier_token": f"  {TOKEN} ", "csrf_token": csrf(client)})
        config = QboConfig.from_runtime(app.state.runtime)
        assert (config.client_id, config.client_secret, config.verifier_token) == ("qbo-app", "qbo-secret", TOKEN)
        page = client.get("/connections").text
        assert TOKEN not in page and 'name="verifier_token"' not in card(page, "quickbooks")
        stored = app.state.runtime.store.get_app_secret("backend_config")["quickbooks"]
        assert stored["verifier_token"] == TOKEN
        assert not [p.name for p in tmp_path.rglob("*") if p.is_file() and TOKEN.encode() in p.read_bytes()]
    finally:
        client.__exit__(None, None, None)


def test_the_environment_still_sets_the_verifier_token_and_wins(tmp_path):
    first = create_app(AppConfig(data_dir=tmp_path, admin_password=PASSWORD, sync_interval=0))
    first.state.runtime.store.set_app_secret("backend_config", {"quickbooks": {"client_id": "a", "verifier_token": "saved"}})
    app = create_app(AppConfig(data_dir=tmp_path, admin_password=PASSWORD, sync_interval=0,
                               backends={"quickbooks": {"verifier_token": "from-env"}}))
    assert QboConfig.from_runtime(app.state.runtime).verifier_token == "from-env"
