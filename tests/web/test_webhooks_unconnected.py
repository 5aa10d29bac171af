import base64
import hashlib
import hmac
import json

from starlette.testclient import TestClient

from invoicebridge.adapters.app import create_app
from invoicebridge.adapters.config import AppConfig


def sign(body: bytes, key: str) -> str:
    return base64.b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest()).decode()


def test_xero_intent_to_receive_is_answered_before_any_organisation_is_connected(tmp_path, store):
    app = create_app(AppConfig(data_dir=tmp_path, sync_interval=0, backends={"xero": {"webhook_key": "portal-key"}}), store=store)
    body = json.dumps({"events": [], "firstEventSequence": 0, "lastEventSequence": 0, "entropy": "S0M3ENTR0PY"}).encode()
    with TestClient(app) as client:
        good = client.post("/webhooks/xero", content=body, headers={"x-xero-signature": sign(body, "portal-key")})
        bad = client.post("/webhooks/xero", content=body, headers={"x-xero-signature": sign(body, "other-key")})
        unknown = client.post("/webhooks/freshbooks", content=body)  # no plugin of that name
    assert (good.status_code, good.content) == (200, b"")
    assert bad.status_code == 401 and unknown.status_code == 404
    assert store.list_connections() == [] and store.count_invoices() == 0
