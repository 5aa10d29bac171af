"""Hardening of the running app (issue #13): body limits enforced while streaming, download file names outside
Latin-1, malformed signed webhooks, security headers, file modes of the data folder, and no secret in the logs."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import stat
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient
from test_security_refusals import create_one, demo, login, secrets_of, settle, snapshot, xero_event_body  # noqa: F401

from invoicebridge.adapters.app import create_app
from invoicebridge.adapters.config import AppConfig
from invoicebridge.adapters.demo import build_demo

# ---- bodies are limited while they stream in -------------------------------------------------------------


async def post_streamed(app, path: str, *, chunks: int, chunk_size: int = 64 * 1024, declare: int | None = None,
                        headers: list | None = None) -> tuple[int, int]:
    """POST a body of ``chunks`` chunks straight through ASGI; return (status, chunks the app pulled)."""
    served = 0

    async def receive():
        nonlocal served
        if served >= chunks:
            return {"type": "http.disconnect"}
        served += 1
        return {"type": "http.request", "body": b"x" * chunk_size, "more_body": served < chunks}

    answer: dict = {}

    async def send(message):
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]

    head = [(b"host", b"127.0.0.1:8000"), (b"content-type", b"application/json"), *(headers or [])]
    if declare is not None:
        head.append((b"content-length", str(declare).encode()))
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "", "headers": head,
             "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000), "state": {}}
    await app(scope, receive, send)
    return answer["status"], served


@pytest.fixture
def plain_app(tmp_path):
    return create_app(AppConfig(data_dir=tmp_path / "data", sync_interval=0))


@pytest.mark.anyio
@pytest.mark.parametrize("path", ["/webhooks/xero", "/webhooks/pipedrive", "/api/bulk"])
async def test_a_100_mb_body_without_length_is_refused_after_the_limit_not_read_whole(plain_app, path):
    key = plain_app.state.runtime.store.create_api_key("test")
    chunks = 100 * 16  # 100 MB in 64 KB chunks
    status, served = await post_streamed(plain_app, path, chunks=chunks, headers=[(b"authorization", f"Bearer {key}".encode())])
    assert status == 413
    assert served <= 1 * 1024 * 1024 // (64 * 1024) + 1, f"the app pulled {served} chunks of 64 KB"


@pytest.mark.anyio
async def test_forms_have_the_small_default_limit_even_when_a_handler_reads_the_whole_body():
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    from invoicebridge.adapters.middleware import DEFAULT_BODY_LIMIT, body_limit_for, run_limited

    async def greedy(request):
        return PlainTextResponse(str(len(await request.body())))

    inner = Starlette(routes=[Route("/settings", greedy, methods=["POST"])])

    async def app(scope, receive, send):  # the body limit as the web app's one middleware runs it
        await run_limited(inner, scope, receive, send, body_limit_for(scope["path"]))

    status, served = await post_streamed(app, "/settings", chunks=1600)
    assert status == 413 and served == DEFAULT_BODY_LIMIT // (64 * 1024) + 1
    assert await post_streamed(app, "/settings", chunks=2) == (200, 2)


@pytest.mark.anyio
async def test_a_declared_length_over_the_limit_is_refused_before_reading_anything(plain_app):
    status, served = await post_streamed(plain_app, "/webhooks/xero", chunks=1600, declare=100 * 1024 * 1024)
    assert (status, served) == (413, 0)


@pytest.mark.anyio
async def test_limits_are_per_route_and_a_body_under_them_is_read(plain_app):
    # 512 KB: over the webhooks' limit, under the API's (which then refuses it for what it is, not its size)
    assert (await post_streamed(plain_app, "/webhooks/xero", chunks=8))[0] == 413
    status, served = await post_streamed(plain_app, "/api/bulk", chunks=8)
    assert status == 401 or served == 8  # the API key is checked first; nothing refused for size
    assert status != 413


def test_a_too_large_body_over_http_gets_413_with_a_json_reason(demo):  # noqa: F811
    client, app, info = demo
    response = client.post("/webhooks/xero", content=b"{" * (300 * 1024))
    assert response.status_code == 413 and response.json()["error"] == "TooLarge"
    response = client.post("/api/bulk", content=json.dumps({"deal_ids": ["1"] * 400_000}))
    assert response.status_code == 413 and "1 MB" in response.json()["message"]

    def streamed():  # no Content-Length: refused while reading, with the same answer
        for _ in range(20):
            yield b" " * (64 * 1024)

    response = client.post("/webhooks/xero", content=streamed())
    assert response.status_code == 413 and response.json()["error"] == "TooLarge"


# ---- downloads: file names outside Latin-1 ---------------------------------------------------------------


def test_pdf_download_of_an_invoice_numbered_outside_latin1_works_on_the_page_and_the_api(demo):  # noqa: F811
    client, app, info = demo
    invoice = create_one(client, app, info["suggested_deal"])
    app.state.runtime.store.update_invoice(invoice["id"], number="INV–0001")  # an en dash, as Xero allows
    browser = TestClient(app, base_url="http://127.0.0.1:8000")
    login(browser, info)
    for response in (client.get(f"/api/invoices/{invoice['id']}/pdf"), browser.get(f"/invoices/{invoice['id']}/pdf")):
        assert response.status_code == 200, response.text[:200]
        assert response.content.startswith(b"%PDF")
        disposition = response.headers["content-disposition"]
        assert disposition == "attachment; filename=\"INV_0001.pdf\"; filename*=UTF-8''INV%E2%80%930001.pdf"


def test_content_disposition_keeps_the_fallback_plain_ascii_and_quoted():
    from invoicebridge.adapters.downloads import content_disposition

    for name in ['INV-0001.pdf', 'Rechnung Ä"x;.pdf', "发票.pdf", "a\\b/c\r\n.pdf", ""]:
        header = content_disposition(name)
        header.encode("latin-1")
        fallback = header.split('filename="', 1)[1].split('"', 1)[0]
        assert fallback and fallback.isascii() and not set(fallback) & set('"\\;/\r\n')
        assert "filename*=UTF-8''" in header and "\r" not in header and "\n" not in header


# ---- signed webhooks of any shape: 2xx or 400, never 500; a refusal changes nothing ----------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=25)
xero_keys = st.sampled_from(["events", "resourceId", "tenantId", "eventCategory", "eventType", "eventDateUtc"])
pipedrive_keys = st.sampled_from(["meta", "data", "previous", "current", "entity", "entity_id", "id", "status",
                                  "event", "v", "object", "attempt"])


def shaped(keys) -> st.SearchStrategy:
    """JSON that uses the field names the receivers read, with any values: wrong types where they look."""
    return st.recursive(json_values, lambda inner: st.dictionaries(keys, inner, max_size=5) | st.lists(inner, max_size=3),
                        max_leaves=20)


class Body(bytes):
    """A request body whose repr stays short (hypothesis prints the examples it tried)."""

    def __repr__(self) -> str:
        return f"Body({len(self)} bytes: {bytes(self[:80])!r}...)"


def nested(depth: int, leaf: str = "{}") -> bytes:
    return Body(("[" * depth + leaf + "]" * depth).encode())


bodies = st.one_of(
    json_values.map(lambda v: json.dumps(v).encode()),
    st.integers(min_value=10, max_value=100_000).map(nested),
    st.integers(min_value=10, max_value=5000).map(lambda n: Body(('{"events":' * n + "[]" + "}" * n).encode())),
    st.text(max_size=200).map(str.encode),  # not JSON at all (and unicode)
    st.just(Body(('{"events": "' + "é" * 100_000 + '"}').encode())),  # big, under the limit
)


def xero_signature(info, body: bytes) -> str:
    return base64.b64encode(hmac.new(info["xero"]["webhook_key"].encode(), body, hashlib.sha256).digest()).decode()


def webhook_state(app) -> dict:
    store = app.state.runtime.store
    return {**snapshot(app), "kv": store.conn.execute("SELECT namespace, key, value FROM kv ORDER BY 1, 2").fetchall(),
            "receipts": store.conn.execute("SELECT count(*) FROM webhook_receipts").fetchone()[0]}


def check_delivery(client, app, post) -> None:
    before = webhook_state(app)
    response = post()
    assert response.status_code in (200, 202, 204, 400), (response.status_code, response.text[:300])
    settle(client, app)
    if response.status_code == 400:
        assert response.json()["message"]
        assert webhook_state(app) == before


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(body=st.one_of(bodies, shaped(xero_keys).map(lambda v: json.dumps({"events": v} if not isinstance(v, dict) else v).encode())))
def test_any_signed_xero_body_gets_2xx_or_400_never_500(demo, body):  # noqa: F811
    client, app, info = demo
    check_delivery(client, app, lambda: client.post("/webhooks/xero", content=body,
                                                    headers={"x-xero-signature": xero_signature(info, body)}))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(body=st.one_of(bodies, shaped(pipedrive_keys).map(lambda v: json.dumps(v).encode())))
def test_any_pipedrive_body_with_the_right_credentials_gets_2xx_or_400_never_500(demo, body):  # noqa: F811
    client, app, info = demo
    auth = (info["pipedrive"]["webhook_user"], info["pipedrive"]["webhook_password"])
    check_delivery(client, app, lambda: client.post("/webhooks/pipedrive", content=body, auth=auth,
                                                    headers={"Content-Type": "application/json"}))


@pytest.mark.parametrize("body", [
    nested(5000),  # deeper than the parser's recursion limit
    nested(40),  # parsed, but deeper than any delivery
    b'{"events": {"resourceId": "x"}}',  # an object where the list belongs
    b'{"events": [["INVOICE"]]}',  # a list where an event object belongs
    b'{"events": [{"eventCategory": "INVOICE", "resourceId": {"id": 1}, "tenantId": "t"}]}',
    b'{"events": [{"eventCategory": ["INVOICE"], "resourceId": "x"}]}',
])
def test_malformed_signed_xero_bodies_are_400(demo, body):  # noqa: F811
    client, app, info = demo
    before = webhook_state(app)
    response = client.post("/webhooks/xero", content=body, headers={"x-xero-signature": xero_signature(info, body)})
    assert response.status_code == 400 and response.json()["error"] == "MalformedPayload", response.text
    assert webhook_state(app) == before


@pytest.mark.parametrize("payload", [
    {"meta": {"id": "e1", "entity": "deal", "entity_id": "5"}, "data": ["won"]},  # a list where the deal belongs
    {"meta": {"id": "e2", "entity": "deal", "entity_id": {"id": 5}}, "data": {"status": "won"}},
    {"meta": {"id": ["e3"], "entity": "deal", "entity_id": "5"}, "data": {}},
    {"meta": {"id": "e4", "entity": "deal", "entity_id": "5"}, "data": {"status": ["won"]}, "previous": {}},
    {"meta": {"v": 1, "object": "deal", "id": 5}, "event": "updated.deal", "current": [1], "previous": None},
])
def test_malformed_pipedrive_bodies_with_the_right_credentials_are_400(demo, payload):  # noqa: F811
    client, app, info = demo
    app.state.runtime.store.update_settings({"automation_draft_when_won": True})
    before = webhook_state(app)
    response = client.post("/webhooks/pipedrive", content=json.dumps(payload), headers={"Content-Type": "application/json"},
                           auth=(info["pipedrive"]["webhook_user"], info["pipedrive"]["webhook_password"]))
    assert response.status_code == 400, response.text
    assert webhook_state(app) == before


# ---- security headers -------------------------------------------------------------------------------------


def test_every_answer_has_the_security_headers_and_only_the_crm_panel_may_be_framed(demo):  # noqa: F811
    client, app, info = demo
    for path in ["/login", "/api/openapi.json", "/static/app.css", "/nowhere"]:
        response = client.get(path)
        csp = response.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp, path
        assert "'unsafe-inline'" not in csp.split("script-src", 1)[1].split(";", 1)[0]
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] in ("same-origin", "strict-origin-when-cross-origin")
        assert "strict-transport-security" not in response.headers  # plain http here
    refused = client.post("/webhooks/xero", content=b"x" * (300 * 1024))
    assert refused.status_code == 413 and refused.headers["x-content-type-options"] == "nosniff"
    # the plugin's in-CRM panel declares the CRM's domain; the core names none itself
    panel_paths = [path for path, _ in app.state.plugins.frame_ancestors(app.state.runtime)]
    assert panel_paths
    for path in panel_paths:
        csp = client.get(path).headers["content-security-policy"]
        assert "frame-ancestors 'none'" not in csp and "frame-ancestors https://" in csp


def test_hsts_only_when_the_public_url_is_https(tmp_path):
    app = create_app(AppConfig(data_dir=tmp_path, public_url="https://invoices.example.com", sync_interval=0))
    with TestClient(app, base_url="https://invoices.example.com") as client:
        assert client.get("/login").headers["strict-transport-security"].startswith("max-age=")


# ---- file modes of the data folder --------------------------------------------------------------------------


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def data_files(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.is_file()]


def test_a_fresh_demo_data_folder_is_private(tmp_path):
    folder = tmp_path / "fresh"
    app, info = build_demo(AppConfig(data_dir=folder, port=8000, sync_interval=0))
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        client.headers["Authorization"] = f"Bearer {info['api_key']}"
        create_one(client, app, info["suggested_deal"])
        names = {p.name for p in data_files(folder)}
        assert {"invoicebridge.db", "invoicebridge.db-wal", "invoicebridge.db-shm", "secret.key", "demo.json"} <= names
        assert mode(folder) == 0o700
        assert {p.name: oct(mode(p)) for p in data_files(folder)} == {n: oct(0o600) for n in names}


def test_an_existing_folder_with_loose_permissions_is_tightened_and_the_fix_is_logged(tmp_path, caplog):
    folder = tmp_path / "loose"
    create_app(AppConfig(data_dir=folder, sync_interval=0)).state.runtime.store.close()
    folder.chmod(0o755)
    for path in data_files(folder):
        path.chmod(0o644)
    (folder / "notes.txt").write_text("kept by someone")  # not ours: left as it is
    (folder / "notes.txt").chmod(0o644)
    caplog.set_level(logging.WARNING)
    create_app(AppConfig(data_dir=folder, sync_interval=0))
    assert mode(folder) == 0o700
    for path in data_files(folder):
        if path.name == "notes.txt":
            continue
        try:
            assert mode(path) == 0o600, path.name
        except FileNotFoundError:  # SQLite may fold the -wal/-shm files away while we look (checkpoint on close)
            continue
    assert mode(folder / "notes.txt") == 0o644
    assert "tightened" in caplog.text and str(folder) in caplog.text


# ---- secrets stay out of the logs ---------------------------------------------------------------------------


def test_no_secret_reaches_the_logs_from_demo_start_to_bulk_webhooks_and_sync(tmp_path, caplog):
    """Logging at DEBUG everywhere (our loggers, httpx, httpcore, uvicorn) from before the demo connects: its
    OAuth exchange, a create, approve and pay with the webhook that follows, a won deal, a bulk run and a sync."""
    caplog.set_level(logging.DEBUG)
    for name in ("", "httpx", "httpcore", "uvicorn", "invoicebridge"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    app, info = build_demo(AppConfig(data_dir=tmp_path, port=8000, sync_interval=0))
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        client.headers["Authorization"] = f"Bearer {info['api_key']}"
        app.state.runtime.store.update_settings({"automation_draft_when_won": True})
        invoice = create_one(client, app, info["suggested_deal"])
        assert client.post(f"/api/invoices/{invoice['id']}/approve").status_code == 200
        xero = app.state.sandboxes["xero"][1]
        assert 200 in client.portal.call(xero.deliver_webhooks)  # the approval, signed with the webhook key
        pipedrive = app.state.sandboxes["pipedrive"][1]
        open_deal = next(d for d in pipedrive.state.sandbox.deals.values() if d["status"] == "open")
        client.post(f"/sandbox/pipedrive/console/deals/{open_deal['id']}/win")
        job = client.post("/api/bulk", json={"deal_ids": [d for d in list(pipedrive.state.sandbox.deals)[:4]]}).json()
        settle(client, app)
        assert client.get(f"/api/bulk/{job['run_id']}").json()["state"] == "finished"
        assert client.post("/api/sync").status_code == 200
        browser = TestClient(app, base_url="http://127.0.0.1:8000")
        login(browser, info)
        browser.get("/connections")
        secrets = secrets_of(app, info)
    assert {"xero access_token", "xero refresh_token", "pipedrive access_token", "pipedrive refresh_token", "admin password",
            "api key"} <= set(secrets)
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    logs = "\n".join(formatter.format(r) + repr(r.args) for r in caplog.records)
    assert len(caplog.records) > 20  # DEBUG really was on
    for name, value in secrets.items():
        assert value not in logs, f"the {name} appears in the log"
