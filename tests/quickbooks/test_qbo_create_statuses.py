"""The JSON API's document names only the create statuses the connected accounting system has: QuickBooks Online
keeps no drafts and has no approval step (fact sheet §4.1; Intuit's XSD has no writable Invoice status, the
IntuitEntity ``status`` is output only), so with it connected a create can only be awaiting payment."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from invoicebridge.adapters.config import AppConfig
from invoicebridge.adapters.demo import build_demo


def served_statuses(client) -> list[str]:
    doc = client.get("/api/openapi.json").json()
    return doc["components"]["schemas"]["Overrides"]["properties"]["status"]["enum"]


@pytest.mark.parametrize(("accounting", "statuses"), [
    ("quickbooks", ["AWAITING_PAYMENT"]), ("xero", ["DRAFT", "AWAITING_APPROVAL", "AWAITING_PAYMENT"])])
def test_the_served_create_statuses_follow_the_connected_backend(tmp_path, accounting, statuses):
    """The document listed DRAFT and AWAITING_APPROVAL whatever was connected; with QuickBooks a create asking
    for either was refused (422) although the document allowed it."""
    app, info = build_demo(AppConfig(data_dir=tmp_path, port=8000, sync_interval=0), accounting=accounting)
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        client.headers["Authorization"] = f"Bearer {info['api_key']}"
        assert served_statuses(client) == statuses
        deal = info["suggested_deal"]
        for status in statuses:  # every status the document offers is one a preview takes without a problem
            preview = client.post(f"/api/deals/{deal}/preview", json={"status": status})
            assert preview.status_code == 200 and not preview.json()["problems"], (status, preview.text)
