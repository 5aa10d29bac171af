"""``POST /api/bulk`` and ``GET /api/bulk/{run_id}`` through the demo wiring (real plugins, both sandboxes)."""

from __future__ import annotations

import pytest
from demo_client import api_demo
from starlette.testclient import TestClient

from invoicebridge.adapters.app import _drain_background
from invoicebridge.adapters.config import AppConfig
from invoicebridge.adapters.demo import build_demo


@pytest.fixture
def demo(tmp_path):
    with api_demo(tmp_path) as (client, app, _info):
        yield client, app


def finished(client, app, run_id):
    client.portal.call(_drain_background, app)
    body = client.get(f"/api/bulk/{run_id}").json()
    assert body["state"] == "finished", body
    return body


def test_bulk_api_dry_run_then_create_won_deals_once(demo):
    client, app = demo
    pd = app.state.sandboxes["pipedrive"][1].state.sandbox
    won = sorted(str(d["id"]) for d in pd.deals.values() if d["status"] == "won")
    started = client.post("/api/bulk", json={"dry_run": True, "run_id": "preview-1"})
    assert started.status_code == 202 and started.json()["links"]["self"] == "/api/bulk/preview-1"
    preview = finished(client, app, "preview-1")
    assert sorted(i["deal_id"] for i in preview["items"]) == won and preview["total"] == len(won)
    assert all("preview" in i and float(i["preview"]["total"]) > 0 for i in preview["items"] if i["ok"])
    xero = app.state.sandboxes["xero"][1]
    assert not xero.state.invoices
    client.post("/api/bulk", json={"deal_ids": won, "run_id": "run-1"})
    run = finished(client, app, "run-1")
    assert run["summary"] == {"ok": len(won), "failed": 0, "retryable": 0}
    assert len(xero.state.invoices) == len(won)
    client.post("/api/bulk", json={"deal_ids": won, "run_id": "run-2"})
    again = finished(client, app, "run-2")
    assert all(i["problems"][0].startswith("already invoiced") for i in again["items"])
    assert len(xero.state.invoices) == len(won)


def test_bulk_api_refuses_bad_input_and_unknown_runs(demo):
    client, _ = demo
    assert client.post("/api/bulk", json={"deal_ids": "1,2"}).status_code == 400
    assert client.post("/api/bulk", json={"won_from": "last week"}).status_code == 400
    assert client.post("/api/bulk", json={"colour": "red"}).status_code == 400
    assert client.get("/api/bulk/nope").status_code == 404
    assert client.get("/api/bulk/nope", headers={"Authorization": ""}).status_code == 401


def test_bulk_run_id_with_no_letter_or_digit_is_a_400_naming_the_field(demo):
    client, _ = demo
    response = client.post("/api/bulk", json={"deal_ids": ["1"], "run_id": "ʕ•ᴥ•ʔ", "dry_run": True})
    assert response.status_code == 400, response.text
    assert "run_id" in response.json()["message"]


def test_two_bulk_runs_started_in_the_same_second_are_two_runs_with_their_own_deals(demo):
    client, app = demo
    moment = app.state.runtime.now()
    app.state.runtime.now = lambda: moment  # both requests land in the same second
    first = client.post("/api/bulk", json={"deal_ids": ["1"], "dry_run": True}).json()
    second = client.post("/api/bulk", json={"deal_ids": ["2"], "dry_run": True}).json()
    assert first["run_id"] != second["run_id"]
    assert [i["deal_id"] for i in finished(client, app, first["run_id"])["items"]] == ["1"]
    assert [i["deal_id"] for i in finished(client, app, second["run_id"])["items"]] == ["2"]


def test_bulk_dry_run_must_be_a_boolean_so_a_string_false_does_not_silently_mean_true(demo):
    client, app = demo
    for value in ("false", "no", 0.5, [False]):
        response = client.post("/api/bulk", json={"deal_ids": ["1"], "dry_run": value})
        assert response.status_code == 400 and "dry_run" in response.json()["message"], (value, response.text)
    assert client.post("/api/bulk", json={"deal_ids": [True]}).status_code == 400
    assert app.state.pipeline.store.list_jobs("bulk") == []


# ---- issue #13: hardening of the JSON API and bulk -------------------------------------------------------


def browser_login(client, info):
    import re

    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    client.post("/login", data={"password": info["admin_password"], "csrf_token": token}, follow_redirects=False)


@pytest.mark.parametrize("field", ["pipeline_id", "stage_id"])
def test_a_pipeline_or_stage_id_that_is_not_an_id_is_a_400_naming_the_field(demo, field):
    """{"pipeline_id": "abc"} reached the CRM plugin's int() and answered 500."""
    client, app = demo
    for value in ("abc", "1.5", "-3", "0"):
        response = client.post("/api/bulk", json={field: value, "dry_run": True})
        assert response.status_code == 400, (value, response.text)
        assert field in response.json()["message"] and value in response.json()["message"]
    assert app.state.pipeline.store.list_jobs("bulk") == []
    assert client.post("/api/bulk", json={field: "1", "dry_run": True}).status_code == 202


def test_the_bulk_form_with_a_bad_pipeline_id_is_shown_again_with_the_message(tmp_path):
    import re

    app, info = build_demo(AppConfig(data_dir=tmp_path, port=8000, sync_interval=0))
    with TestClient(app, base_url="http://127.0.0.1:8000") as browser:
        browser_login(browser, info)
        page = browser.get("/bulk")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        response = browser.post("/bulk", data={"csrf_token": token, "pipeline_id": "abc", "run_id": "my-run"},
                                follow_redirects=False)
        assert response.status_code == 400, response.text[:500]
        assert "pipeline_id" in response.text and "abc" in response.text
        assert 'value="my-run"' in response.text  # what the person typed is kept
        assert app.state.pipeline.store.list_jobs("bulk") == []


def test_one_deal_id_that_is_not_an_id_is_refused_alone_and_the_rest_are_invoiced(demo):
    """["3","4","abc","5"] failed the whole job (the CRM plugin's int("abc")) and invoiced nothing."""
    client, app = demo
    started = client.post("/api/bulk", json={"deal_ids": ["3", "4", "abc", "5"], "run_id": "mixed"})
    assert started.status_code == 202, started.text
    run = finished(client, app, "mixed")
    items = {i["deal_id"]: i for i in run["items"]}
    assert [i["deal_id"] for i in run["items"]] == ["3", "4", "abc", "5"]
    assert not items["abc"]["ok"] and not items["abc"]["retryable"]
    assert "abc" in items["abc"]["error"] and "refused" in items["abc"]["error"].lower()
    assert all(items[d]["ok"] and items[d]["invoice"]["number"] for d in ("3", "4", "5"))
    assert run["summary"] == {"ok": 3, "failed": 1, "retryable": 0}
    assert len(app.state.sandboxes["xero"][1].state.invoices) == 3


def test_a_bulk_run_id_cannot_forge_an_api_idempotency_key(demo):
    """A run id of "api-K" made the bulk key of deal 2 "api-K-2", which is the API's key for Idempotency-Key
    "K-2": deal 2 was answered with deal 4's invoice and never invoiced."""
    client, app = demo
    made = client.post("/api/deals/4/invoices", json={}, headers={"Idempotency-Key": "K-2"})
    assert made.status_code == 201, made.text
    client.post("/api/bulk", json={"deal_ids": ["2"], "run_id": "api-K"})
    run = finished(client, app, "api-K")
    [item] = run["items"]
    assert item["ok"], item
    assert item["invoice"]["id"] != made.json()["id"]
    store = app.state.runtime.store
    assert [r.deal_id for r in store.invoices_for_deal("2")] == ["2"]
    assert len(app.state.sandboxes["xero"][1].state.invoices) == 2

