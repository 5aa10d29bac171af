"""The JSON API fuzzed from its own OpenAPI document (/api/openapi.json), through the demo wiring (real plugins,
both sandboxes): every documented operation gets seeded random calls built from its parameter and body
schemas, mixed with hostile values (wrong types, huge numbers, odd unicode, path tricks, broken JSON). No
answer may be a 5xx, carry a stack trace, or be anything but JSON (the PDF aside).

A small schema-driven generator instead of schemathesis: no extra dependency, and seeded so a failure
reproduces; the printed case says what was sent."""

from __future__ import annotations

import datetime as dt
import json
import random
import re
from typing import Any

import pytest
from starlette.testclient import TestClient

from invoicebridge.adapters.app import _drain_background
from invoicebridge.adapters.config import AppConfig
from invoicebridge.adapters.demo import build_demo
from invoicebridge.sandbox_kit.clock import SimulatedClock

SEED = 1120
CASES_PER_OPERATION = 30
HOSTILE = [None, True, -1, 0, 2**63, -(2**63), 1e308, float("nan"), "", " ", "0", "-1", "1e999", "../../etc/passwd",
           "%00", "\u0000", "ʕ•ᴥ•ʔ", "DROP TABLE invoices;--", "<script>alert(1)</script>", "x" * 5000, [], {}, [1, "a"],
           {"$ref": "#"}, "2026-02-30", "9999-12-31", "NaN", "Infinity"]
TRACE = re.compile(r"Traceback \(most recent call last\)|File \"/|\bline \d+, in ")


@pytest.fixture
def api(tmp_path):
    app, info = build_demo(AppConfig(data_dir=tmp_path, port=8000, sync_interval=0))
    # simulated time for the app and both sandboxes: the waits Xero's 60-a-minute limit asks for cost nothing
    clock = SimulatedClock(start=dt.datetime.now(dt.timezone.utc), scale=1.0)
    runtime = app.state.runtime
    runtime.now, runtime.sleep = clock.now, clock.sleep
    xero = app.state.sandboxes["xero"][1]
    xero.clock = xero.state.clock = xero.identity.clock = clock.now
    app.state.sandboxes["pipedrive"][1].state.sandbox.clock = clock.now
    with TestClient(app, base_url="http://127.0.0.1:8000", raise_server_exceptions=False) as client:
        client.headers["Authorization"] = f"Bearer {info['api_key']}"
        yield client, app, info


def resolve(doc: dict, schema: dict | None) -> dict:
    while schema and "$ref" in schema:
        node: Any = doc
        for part in schema["$ref"].lstrip("#/").split("/"):
            node = node[part]
        schema = node
    return schema or {}


def value_for(doc: dict, schema: dict | None, rng: random.Random, depth: int = 0) -> Any:
    """A value the schema allows most of the time, and a hostile one otherwise."""
    schema = resolve(doc, schema)
    if rng.random() < 0.25 or depth > 3:
        return rng.choice(HOSTILE)
    kind = schema.get("type")
    if "enum" in schema:
        return rng.choice(schema["enum"])
    if kind == "object" or "properties" in schema:
        props = schema.get("properties") or {}
        chosen = [p for p in props if rng.random() < 0.6]
        out = {p: value_for(doc, props[p], rng, depth + 1) for p in chosen}
        if rng.random() < 0.2:
            out[rng.choice(["extra", "Status", "__proto__"])] = rng.choice(HOSTILE)
        return out
    if kind == "array":
        return [value_for(doc, schema.get("items"), rng, depth + 1) for _ in range(rng.randint(0, 4))]
    if kind == "integer":
        return rng.choice([1, 2, 3, rng.randint(1, 10**6), 0, -5])
    if kind == "number":
        return rng.choice([0, 1.5, 99.999, 10**9, -3, "12.50"])
    if kind == "boolean":
        return rng.random() < 0.5
    if schema.get("format") == "date":
        return rng.choice(["2026-11-20", "2026-13-01", "20/11/2026", "2026-11-20T10:00:00Z"])
    return rng.choice(["1", "2", "abc", "GBP", "DRAFT", "AWAITING_PAYMENT", "OUTPUT2", "200", "CONSULT-H", "ʕ•ᴥ•ʔ", ""])


def path_value(doc: dict, schema: dict, rng: random.Random) -> str:
    if rng.random() < 0.3:
        return rng.choice(["0", "-1", "99999999999999999999", "abc", "%2e%2e", "1.5", "%F0%9F%98%80", "a" * 200, "%00"])
    schema = resolve(doc, schema)
    if schema.get("type") == "integer":
        return str(rng.choice([1, 2, 3, 4, 50]))
    return rng.choice(["1", "2", "3", "4", "5", "6", "7", "999", "abc"])


def test_every_documented_operation_survives_fuzzing_without_5xx_or_stack_traces(api):
    client, app, info = api
    doc = client.get("/api/openapi.json").json()
    rng = random.Random(SEED)
    # a few real invoices, so ids hit existing records as well as missing ones
    for deal in ("1", "2", "3"):
        client.post(f"/api/deals/{deal}/invoices", json={}, headers={"Idempotency-Key": f"fuzz-seed-{deal}"})
    sent = 0
    problems: list[str] = []
    for path, operations in doc["paths"].items():
        for method, op in operations.items():
            params = op.get("parameters", [])
            body_schema = ((op.get("requestBody") or {}).get("content") or {}).get("application/json", {}).get("schema")
            for _ in range(CASES_PER_OPERATION):
                url = path
                headers: dict[str, str] = {}
                for param in params:
                    if param["in"] == "path":
                        url = url.replace("{" + param["name"] + "}", path_value(doc, param.get("schema", {}), rng))
                    elif param["in"] == "header" and rng.random() < 0.7:
                        headers[param["name"]] = rng.choice(["k-" + str(rng.randint(1, 9)), "", " ", "ключ", "x" * 300, "a/b"])
                kwargs: dict[str, Any] = {"headers": headers}
                if method in ("post", "put", "patch"):
                    roll = rng.random()
                    if roll < 0.1:
                        kwargs["content"] = rng.choice([b"{", b"null", b"[]", b"\xff\xfe", b'{"a":' * 50])
                        headers["Content-Type"] = "application/json"
                    elif roll < 0.15:
                        kwargs["content"] = b"a=b"
                        headers["Content-Type"] = "application/x-www-form-urlencoded"
                    else:
                        payload = value_for(doc, body_schema, rng) if body_schema else rng.choice([{}, None, []])
                        kwargs["content"] = json.dumps(payload, allow_nan=True).encode()
                        headers["Content-Type"] = "application/json"
                try:
                    response = client.request(method.upper(), url, **kwargs)
                except Exception as exc:  # the client itself could not send it (e.g. an invalid header value)
                    if "header" in str(exc).lower() or isinstance(exc, (UnicodeEncodeError, ValueError)):
                        continue
                    raise
                sent += 1
                case = f"{method.upper()} {url} {kwargs.get('content', b'')[:200]!r} {headers}"
                if response.status_code >= 500:
                    problems.append(f"{response.status_code} for {case}: {response.text[:300]}")
                elif TRACE.search(response.text):
                    problems.append(f"stack trace for {case}: {response.text[:300]}")
                elif not path.endswith("/pdf") and response.status_code != 204 and \
                        "application/json" not in response.headers.get("content-type", ""):
                    problems.append(f"not JSON ({response.headers.get('content-type')}) for {case}")
    client.portal.call(_drain_background, app)
    assert sent >= 300
    assert not problems, f"{len(problems)} of {sent} calls failed:\n" + "\n".join(problems[:15])
