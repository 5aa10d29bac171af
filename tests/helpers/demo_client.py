"""The demo app (sandboxes and seeded data) behind a TestClient that speaks to the JSON API with the demo's key."""

from __future__ import annotations

import contextlib
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
