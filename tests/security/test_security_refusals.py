"""Security refusals through the demo wiring (real plugins, both sandboxes): each test asserts the refusal AND
that nothing changed (our records, operations, connections, settings, Xero's invoices, Pipedrive's activities
and notes). Then: no secret in logs, pages or API responses, and none in plaintext in the SQLite files."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from pathlib import Path

import jwt
import pytest
from demo_client import api_demo
from starlette.testclient import TestClient

from invoicebridge.adapters.app import _drain_background


@pytest.fixture
def demo(tmp_path):
    with api_demo(tmp_path) as running:
        yield running


def settle(client, app):
    client.portal.call(_drain_background, app)


def login(client, info):
    token = csrf(client, "/login")
    response = client.post("/login", data={"password": info["admin_password"], "csrf_token": token}, follow_redirects=False)
    assert response.status_code == 303


def csrf(client, path: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text).group(1)


def snapshot(app) -> dict:
    """Everything a refused request must leave as it was."""
    store = app.state.runtime.store
    xero = app.state.sandboxes["xero"][1].state
    pipedrive = app.state.sandboxes["pipedrive"][1].state.sandbox
    return {
        "records": [(r.id, r.status.value, str(r.amount_paid), r.remote_id) for r in store.all_invoices()],
        "operations": store.conn.execute("SELECT key, state, attempts FROM operations ORDER BY key").fetchall(),
        "connections": [(c.id, c.backend, c.status, json.dumps(dict(c.settings), sort_keys=True, default=str)) for c in store.list_connections(active_only=False)],
        "secrets": [store.conn.execute("SELECT secrets FROM connections WHERE id = ?", (c.id,)).fetchone()[0]
                    for c in store.list_connections(active_only=False)],
        "settings": store.get_settings(),
        "mapping": store.get_mapping_data(),
        "xero_invoices": sorted((i.invoice_id, i.status, str(i.amount_paid)) for i in xero.invoices.values()),
        "activities": len(pipedrive.activities),
        "notes": len(pipedrive.notes),
        "deals": json.dumps(pipedrive.deals, sort_keys=True, default=str),
    }


def create_one(client, app, deal_id: str) -> dict:
    response = client.post(f"/api/deals/{deal_id}/invoices", json={}, headers={"Idempotency-Key": f"sec-{deal_id}"})
    assert response.status_code == 201, response.text
    settle(client, app)
    return response.json()


def xero_event_body(app, remote_id: str) -> bytes:
    tenant = app.state.sandboxes["xero"][1].tenant_id
    return json.dumps({"events": [{"resourceUrl": f"https://api.xero.com/api.xro/2.0/Invoices/{remote_id}",
                                   "resourceId": remote_id, "eventDateUtc": "2026-11-20T10:00:00.000",
                                   "eventType": "UPDATE", "eventCategory": "INVOICE", "tenantId": tenant,
                                   "tenantType": "ORGANISATION"}],
                       "firstEventSequence": 1, "lastEventSequence": 1, "entropy": "ABCDEFGHIJ"}).encode()


def test_forged_xero_signatures_get_401_and_change_nothing(demo):
    client, app, info = demo
    invoice = create_one(client, app, info["suggested_deal"])
    xero = app.state.sandboxes["xero"][1]
    xero.state.set_status(invoice["remote_id"] if "remote_id" in invoice else next(iter(xero.state.invoices)), "AUTHORISED")
    xero.state.events.clear()  # no genuine delivery in this test
    before, calls = snapshot(app), len(xero.requests)
    body = xero_event_body(app, next(iter(xero.state.invoices)))
    import base64
    import hashlib
    import hmac

    wrong_key = base64.b64encode(hmac.new(b"not-the-key", body, hashlib.sha256).digest()).decode()
    right_sig = base64.b64encode(hmac.new(info["xero"]["webhook_key"].encode(), body, hashlib.sha256).digest()).decode()
    for headers, content in [({"x-xero-signature": wrong_key}, body),
                             ({}, body),
                             ({"x-xero-signature": ""}, body),
                             ({"x-xero-signature": right_sig}, body + b" "),  # body changed after signing
                             ({"x-xero-signature": right_sig.lower()}, body)]:
        response = client.post("/webhooks/xero", content=content, headers=headers)
        assert response.status_code == 401 and response.content == b""
    settle(client, app)
    assert snapshot(app) == before  # still Draft here although Xero says Approved: nothing was synced
    assert len(xero.requests) == calls  # and Xero was not even asked
    rejected = [e for e in app.state.runtime.store.audit_entries(limit=50) if e["kind"] == "webhook_rejected"]
    assert len(rejected) == 5
    # the genuine signature on the same body is accepted and syncs
    assert client.post("/webhooks/xero", content=body, headers={"x-xero-signature": right_sig}).status_code == 200


def test_wrong_pipedrive_webhook_credentials_get_401_and_create_nothing(demo):
    client, app, info = demo
    app.state.runtime.store.update_settings({"automation_draft_when_won": True})
    pipedrive = app.state.sandboxes["pipedrive"][1].state.sandbox
    deal = next(d for d in pipedrive.deals.values() if d["status"] == "open" and pipedrive.lines_of(d["id"]))
    body = json.dumps({"meta": {"action": "change", "entity": "deal", "entity_id": str(deal["id"]), "id": "evt-1",
                                "version": "2.0", "company_id": "7001"},
                       "data": {**deal, "status": "won"}, "previous": {"status": "open"}}).encode()
    before = snapshot(app)
    for auth in [("invoicebridge", "wrong"), ("someone", info["pipedrive"]["webhook_password"]), None]:
        response = client.post("/webhooks/pipedrive", content=body, auth=auth, headers={"Content-Type": "application/json"})
        assert response.status_code == 401
    settle(client, app)
    assert snapshot(app) == before
    assert app.state.runtime.store.invoices_for_deal(str(deal["id"])) == []


def test_pipedrive_jwts_are_checked_for_signature_expiry_and_algorithm(demo):
    client, app, info = demo
    client.headers.pop("Authorization")
    secret = app.state.runtime.backend_config("pipedrive")["jwt_secret"]
    exp = int((dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=5)).timestamp())
    claims = {"userId": 7, "companyId": 7001, "exp": exp}
    good = jwt.encode(claims, secret, algorithm="HS256")
    header, payload, signature = good.split(".")
    unsigned = jwt.encode(claims, None, algorithm="none")
    tampered_payload = jwt.encode({**claims, "userId": 8}, secret, algorithm="HS256").split(".")[1]
    bad_tokens = {
        "forged": jwt.encode(claims, "x" * 32, algorithm="HS256"),
        "expired": jwt.encode({**claims, "exp": exp - 3600}, secret, algorithm="HS256"),
        "no expiry": jwt.encode({"userId": 7, "companyId": 7001}, secret, algorithm="HS256"),
        "alg none": unsigned,
        "tampered": f"{header}.{tampered_payload}.{signature}",
        "garbage": "not-a-jwt",
    }
    before = snapshot(app)
    for name, token in bad_tokens.items():
        response = client.get(f"/deals?selectedIds=1&resource=deal&token={token}", follow_redirects=False)
        assert response.status_code == 401, name
        assert client.get("/deals/1", follow_redirects=False).status_code == 303, name  # still signed out
        assert client.get("/", follow_redirects=False).status_code == 303, name
    assert snapshot(app) == before
    assert client.get(f"/deals?selectedIds=1&resource=deal&token={good}", follow_redirects=False).status_code == 303
    assert client.get("/deals/1").status_code == 200


def test_oauth_callback_with_a_wrong_or_missing_state_connects_nothing(demo):
    client, app, info = demo
    login(client, info)
    started = client.get("/connect/xero", follow_redirects=False)
    assert started.status_code in (302, 303, 307)
    location = started.headers["location"]
    real_state = re.search(r"state=([^&]+)", location).group(1)
    before = snapshot(app)
    for query in [f"code=abc&state=not-{real_state}", "code=abc", "code=abc&state="]:
        response = client.get(f"/connect/xero/callback?{query}", follow_redirects=False)
        assert response.status_code == 400, query
        assert "OAuth state does not match" in response.text
        client.get("/connect/xero", follow_redirects=False)  # the failed callback spent the pending attempt
    assert snapshot(app) == before
    mismatches = [e for e in app.state.runtime.store.audit_entries(limit=50) if e["kind"] == "oauth_state_mismatch"]
    assert len(mismatches) == 3
    # a state from another browser's session is refused too
    other = TestClient(app, base_url="http://127.0.0.1:8000")
    login(other, info)
    assert other.get(f"/connect/xero/callback?code=abc&state={real_state}", follow_redirects=False).status_code == 400
    assert snapshot(app) == before


def test_forms_without_a_valid_csrf_token_are_refused_and_change_nothing(demo):
    client, app, info = demo
    client.headers.pop("Authorization")
    login(client, info)
    deal = info["suggested_deal"]
    create_one_token = csrf(client, f"/deals/{deal}/invoices/new")
    assert create_one_token
    before = snapshot(app)
    posts = [(f"/deals/{deal}/invoices", {"action": "submit"}),
             ("/settings", {"reminder_enabled": "", "create_status": "AWAITING_PAYMENT"}),
             ("/logout", {})]
    for path, data in posts:
        for token in (None, "", "forged-token", create_one_token[:-1]):
            form = dict(data) if token is None else {**data, "csrf_token": token}
            response = client.post(path, data=form, follow_redirects=False)
            assert response.status_code == 403, (path, token)
            assert "CSRF" in response.text
    assert snapshot(app) == before
    assert client.get("/", follow_redirects=False).status_code == 200  # logout was refused too
    # another browser's token does not work in this session
    other = TestClient(app, base_url="http://127.0.0.1:8000")
    login(other, info)
    foreign = csrf(other, "/settings")
    assert client.post("/settings", data={"csrf_token": foreign, "create_status": "AWAITING_PAYMENT"}).status_code == 403
    assert snapshot(app) == before


def test_wrong_api_keys_get_401_and_change_nothing(demo):
    client, app, info = demo
    before = snapshot(app)
    deal = info["suggested_deal"]
    for headers in [{"Authorization": "Bearer ib_wrong"}, {"Authorization": ""}, {"X-API-Key": info["api_key"][:-1]},
                    {"Authorization": f"Basic {info['api_key']}"}]:
        anon = TestClient(app, base_url="http://127.0.0.1:8000")
        for method, path in [("POST", f"/api/deals/{deal}/invoices"), ("POST", "/api/sync"), ("POST", "/api/invoices/1/approve")]:
            response = anon.request(method, path, json={}, headers=headers)
            assert response.status_code == 401, (headers, path)
    assert snapshot(app) == before


def secrets_of(app, info) -> dict[str, str]:
    store = app.state.runtime.store
    out = {"api key": info["api_key"], "admin password": info["admin_password"],
           "xero webhook key": info["xero"]["webhook_key"], "pipedrive webhook password": info["pipedrive"]["webhook_password"],
           "pipedrive jwt secret": app.state.runtime.backend_config("pipedrive")["jwt_secret"],
           "xero client secret": "sandbox-secret"}
    for conn in store.list_connections():
        for name, value in store.get_secrets(conn.id).items():
            if isinstance(value, str) and len(value) >= 12:
                out[f"{conn.backend} {name}"] = value
    return out


def test_tokens_and_keys_never_appear_in_logs_pages_or_api_responses(demo, caplog):
    client, app, info = demo
    caplog.set_level(logging.DEBUG)
    invoice = create_one(client, app, info["suggested_deal"])
    bodies = [client.get(f"/api/invoices/{invoice['id']}").text, client.get(f"/api/deals/{info['suggested_deal']}/invoices").text,
              client.post("/api/sync").text, client.get("/api/openapi.json").text,
              client.post("/api/deals/999999/invoices", json={}).text,  # an error answer
              client.post(f"/api/invoices/{invoice['id']}/void").text]
    browser = TestClient(app, base_url="http://127.0.0.1:8000")
    login(browser, info)
    for path in ["/", "/connections", "/settings", f"/deals/{info['suggested_deal']}", f"/invoices/{invoice['id']}",
                 f"/deals/{info['suggested_deal']}/invoices/new", "/health"]:
        response = browser.get(path)
        assert response.status_code == 200, path
        bodies.append(response.text + json.dumps(dict(response.headers)))
    secrets = secrets_of(app, info)
    assert {"xero access_token", "xero refresh_token", "pipedrive access_token", "pipedrive refresh_token"} <= set(secrets)
    logs = "\n".join(r.getMessage() + str(r.args) for r in caplog.records)
    for name, value in secrets.items():
        for where, text in [("logs", logs)] + [(f"response {i}", b) for i, b in enumerate(bodies)]:
            assert value not in text, f"{name} appears in {where}"


def test_the_sqlite_files_hold_no_plaintext_secret(demo, tmp_path):
    client, app, info = demo
    create_one(client, app, info["suggested_deal"])
    store = app.state.runtime.store
    store.conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
    secrets = secrets_of(app, info)
    files = [p for p in Path(store.path).parent.iterdir() if p.name.startswith(Path(store.path).name)]
    assert files
    for path in files:
        data = path.read_bytes()
        for name, value in secrets.items():
            assert value.encode() not in data, f"{name} is stored in plaintext in {path.name}"
