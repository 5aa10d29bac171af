"""The demo app (sandboxes and seeded data) behind a TestClient that speaks to the JSON API with the demo's key,
and a browser-like client signed in to its pages."""

from __future__ import annotations

import contextlib
import re
from typing import Any, Iterator

from starlette.testclient import TestClient

from invoicebridge.adapters.config import AppConfig
from invoicebridge.adapters.demo import build_demo


@contextlib.contextmanager
def api_demo(data_dir: Any) -> Iterator[tuple[TestClient, Any, dict[str, Any]]]:
    app, info = build_demo(AppConfig(data_dir=data_dir, port=8000, sync_interval=0))
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        client.headers["Authorization"] = f"Bearer {info['api_key']}"
        yield client, app, info


def page_client(app: Any, info: dict[str, Any]) -> TestClient:
    """A second client on the same app, signed in to the pages as the admin (no API key)."""
    browser = TestClient(app, base_url="http://127.0.0.1:8000")
    token = re.search(r'name="csrf_token" value="([^"]+)"', browser.get("/login").text).group(1)
    answer = browser.post("/login", data={"password": info["admin_password"], "csrf_token": token}, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    return browser
