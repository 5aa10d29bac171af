import re

import httpx
import pipedrive_support
import pytest
import xero_support
from contract import ValidatingTransport
from starlette.testclient import TestClient

from invoicebridge.adapters.config import AppConfig
from invoicebridge.adapters.demo import build_demo


@pytest.fixture(scope="session")
def official_specs():
    return {"xero": xero_support.load_specs(), "pipedrive": pipedrive_support.load_specs()}


@pytest.fixture
def demo(tmp_path, official_specs):
    """The demo wiring (both sandboxes), every sandbox call checked against the official specs, signed in."""
    app, info = build_demo(AppConfig(data_dir=tmp_path, port=8000, sync_interval=0))
    runtime = app.state.runtime
    inner = httpx.ASGITransport(app=app)
    checked = [ValidatingTransport(inner, official_specs["xero"], xero_support.map_request),
               ValidatingTransport(inner, official_specs["pipedrive"], pipedrive_support.map_request)]
    runtime.transports["xero"], runtime.transports["pipedrive"] = checked
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        page = client.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        client.post("/login", data={"password": info["admin_password"], "csrf_token": token}, follow_redirects=False)
        yield client, app, info
    problems = [p for t in checked for p in t.problems]
    assert not problems, "spec violations:\n" + "\n".join(problems)
