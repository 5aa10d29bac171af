"""A bulk query's pipeline and stage ids are whole numbers; anything else is a 400 naming the field, not a 500
(the API fuzzer found {"pipeline_id": NaN} crashing the CRM query)."""

import pytest
from starlette.testclient import TestClient

from invoicebridge.adapters.config import AppConfig
from invoicebridge.adapters.demo import build_demo


@pytest.fixture
def client(tmp_path):
    app, info = build_demo(AppConfig(data_dir=tmp_path, port=8000, sync_interval=0))
    with TestClient(app, base_url="http://127.0.0.1:8000") as c:
        c.headers["Authorization"] = f"Bearer {info['api_key']}"
        yield c


@pytest.mark.parametrize("field", ["pipeline_id", "stage_id"])
@pytest.mark.parametrize("value", ["nan", "1.5", "²", True, 1.5, [1]])
def test_a_pipeline_or_stage_id_that_is_not_a_whole_number_is_refused(client, field, value):
    response = client.post("/api/bulk", json={"dry_run": True, field: value})
    assert response.status_code == 400, response.text
    assert field in response.json()["message"]


def test_whole_number_ids_still_query(client):
    response = client.post("/api/bulk", json={"dry_run": True, "pipeline_id": 1, "stage_id": "1"})
    assert response.status_code == 202, response.text
