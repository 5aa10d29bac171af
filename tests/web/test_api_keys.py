"""API keys can be listed and revoked (issue #13, item 17): `invoicebridge api-key list|revoke`, and the
settings page's section with label, creation and last-use time, and revoke after a confirmation."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from starlette.testclient import TestClient

from invoicebridge.adapters.app import create_app
from invoicebridge.adapters.cli import main
from invoicebridge.adapters.config import AppConfig
from invoicebridge.core.store import Store

PASSWORD = "correct horse battery"


def test_the_cli_creates_lists_and_revokes_keys(tmp_path, capsys, monkeypatch):
    d = str(tmp_path)
    assert main(["api-key", "--data-dir", d, "--label", "old style"]) == 0  # the old form still creates
    first = capsys.readouterr().out.strip()
    assert main(["api-key", "create", "--data-dir", d, "--label", "reporting"]) == 0
    second = capsys.readouterr().out.strip()
    assert first.startswith("ib_") and second.startswith("ib_") and first != second
    assert main(["api-key", "list", "--data-dir", d]) == 0
    listing = capsys.readouterr().out
    assert "old style" in listing and "reporting" in listing and "never" in listing
    assert first not in listing and second not in listing and first[:7] + "…" in listing  # a hint, never the key
    ids = [int(m) for m in re.findall(r"^\s*(\d+)\s", listing, re.M)]
    assert len(ids) == 2
    monkeypatch.setattr("builtins.input", lambda prompt: "n")
    assert main(["api-key", "revoke", str(ids[0]), "--data-dir", d]) == 1  # asked, and said no
    store = Store.open(tmp_path / "invoicebridge.db")
    assert store.check_api_key(first)
    monkeypatch.setattr("builtins.input", lambda prompt: "y")
    assert main(["api-key", "revoke", str(ids[0]), "--data-dir", d]) == 0
    assert not store.check_api_key(first) and store.check_api_key(second)
    assert main(["api-key", "revoke", "999", "--data-dir", d, "--yes"]) == 1
    assert "no API key 999" in capsys.readouterr().err
    assert main(["api-key", "revoke", "--data-dir", d]) == 2


def test_last_use_is_written_at_most_once_a_minute(store):
    key = store.create_api_key("script")
    t0 = dt.datetime(2026, 11, 20, 10, 0, tzinfo=dt.timezone.utc)
    assert store.list_api_keys()[0]["last_used_at"] is None
    writes = store.total_changes  # the store's connection and its writer thread
    for second in range(0, 59, 2):  # thirty requests within the minute: one write
        assert store.check_api_key(key, now=t0 + dt.timedelta(seconds=second))
    assert store.total_changes - writes == 1
    assert store.list_api_keys()[0]["last_used_at"] == "2026-11-20T10:00:00+00:00"
    assert store.check_api_key(key, now=t0 + dt.timedelta(seconds=61))
    assert store.list_api_keys()[0]["last_used_at"] == "2026-11-20T10:01:01+00:00"


@pytest.fixture
def admin(tmp_path):
    app = create_app(AppConfig(data_dir=tmp_path, sync_interval=0, admin_password=PASSWORD))
    with TestClient(app) as client:
        token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
        assert client.post("/login", data={"password": PASSWORD, "csrf_token": token}, follow_redirects=False).status_code == 303
        yield client, app


def test_the_settings_page_lists_creates_and_revokes_keys_with_a_confirmation(admin):
    client, app = admin
    store = app.state.runtime.store
    old = store.create_api_key("nightly export")
    assert client.get("/api/openapi.json").status_code == 200
    assert client.get("/api/deals/1/invoices", headers={"Authorization": f"Bearer {old}"}).status_code != 401
    page = client.get("/settings")
    assert "nightly export" in page.text and old[:7] + "…" in page.text and old not in page.text
    assert "never" not in page.text.split("nightly export", 1)[1].split("</tr>", 1)[0]  # its use was recorded
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    created = client.post("/account/api-keys", data={"csrf_token": token, "label": "zapier"})
    new = re.search(r'id="new-api-key" value="(ib_[^"]+)"', created.text).group(1)
    assert created.headers["cache-control"] == "no-store" and store.check_api_key(new)
    assert new not in client.get("/settings").text  # shown once only
    key_id = next(k["id"] for k in store.list_api_keys() if k["label"] == "nightly export")
    confirm = client.get(f"/account/api-keys/{key_id}/revoke")
    assert confirm.status_code == 200 and "Revoke the API key nightly export?" in confirm.text
    unconfirmed = client.post(f"/account/api-keys/{key_id}/revoke", data={"csrf_token": token}, follow_redirects=False)
    assert unconfirmed.status_code == 303 and store.check_api_key(old)
    forged = client.post(f"/account/api-keys/{key_id}/revoke", data={"csrf_token": "forged", "confirm": "yes"})
    assert forged.status_code == 403 and store.check_api_key(old)
    done = client.post(f"/account/api-keys/{key_id}/revoke", data={"csrf_token": token, "confirm": "yes"})
    assert "nightly export revoked" in done.text and "nightly export" not in done.text.split("revoked", 1)[1]
    assert client.get("/api/deals/1/invoices", headers={"Authorization": f"Bearer {old}"}).status_code == 401
    assert client.get(f"/account/api-keys/{key_id}/revoke").status_code == 404


def test_key_pages_need_the_admin(tmp_path):
    app = create_app(AppConfig(data_dir=tmp_path, sync_interval=0, admin_password=PASSWORD))
    key = app.state.runtime.store.create_api_key("x")
    with TestClient(app) as anon:
        assert anon.get("/account/api-keys/1/revoke", follow_redirects=False).status_code == 303
        anon.headers["Authorization"] = f"Bearer {key}"  # an API key is not a sign-in
        assert anon.post("/account/api-keys", data={"label": "y"}, follow_redirects=False).status_code == 303
    assert [k["label"] for k in app.state.runtime.store.list_api_keys()] == ["x"]
