"""First run and trouble: the setup checklist, Connect refused without app credentials (in the page and on the
server), Reconnect wherever an error asks for it, and errors shown without raw API addresses."""

import html
import re

import pytest
from starlette.testclient import TestClient

from invoicebridge.adapters.app import create_app
from invoicebridge.adapters.config import AppConfig
from invoicebridge.adapters.demo import build_demo
from invoicebridge.core.model import Role

PASSWORD = "correct horse battery"


def sign_in(client, password):
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    answer = client.post("/login", data={"password": password, "csrf_token": token}, follow_redirects=False)
    assert answer.status_code == 303


def csrf(client, path="/connections"):
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text).group(1)


@pytest.fixture
def bare(tmp_path):
    """A fresh installation: no app credentials, nothing connected."""
    app = create_app(AppConfig(data_dir=tmp_path, admin_password=PASSWORD, sync_interval=0))
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        sign_in(client, PASSWORD)
        yield client, app


@pytest.fixture
def demo(tmp_path, validate_demo):
    app, info = build_demo(AppConfig(data_dir=tmp_path, port=8000, sync_interval=0))
    validate_demo(app)
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        sign_in(client, info["admin_password"])
        yield client, app


def steps(page: str) -> dict[str, str]:
    """The checklist's steps as {step: state}."""
    return dict(re.findall(r'<li class="step" data-step="([a-z-]+)" data-state="([a-z]+)"', page))


def problems(page: str) -> list[str]:
    """The plain text of every error shown (technical details folded away are not part of it)."""
    return [html.unescape(re.sub(r"<[^>]+>", "", t)) for t in re.findall(r'<span class="problem-text">(.*?)</span>', page, re.S)]


def visible(page: str) -> str:
    """The page without the folded technical details."""
    return re.sub(r"<details class=\"problem-details\">.*?</details>", "", page, flags=re.S)


# ---- Connect without app credentials ---------------------------------------------------------------------


def test_connect_is_disabled_with_the_reason_while_the_app_credentials_are_missing(bare):
    client, app = bare
    page = client.get("/connections").text
    assert 'href="/connect/xero"' not in page  # no link that sends the browser off with an empty client_id
    button = re.search(r'<button[^>]*data-connect="xero"[^>]*>', page)
    assert button and "disabled" in button.group(0)
    reason = re.search(r'id="connect-reason-xero"[^>]*>(.*?)</', page, re.S)
    assert reason and reason.group(1).strip()
    assert 'aria-describedby="connect-reason-xero"' in button.group(0)


def test_the_server_refuses_to_start_oauth_without_a_client_id(bare):
    client, app = bare
    answer = client.get("/connect/xero", follow_redirects=False)
    assert answer.status_code == 409
    assert "location" not in answer.headers
    assert "client_id=" not in answer.text
    assert "credentials" in answer.text.lower()


def test_once_credentials_are_saved_connect_is_a_link_again(bare):
    client, app = bare
    client.post("/connect/xero/credentials", data={"client_id": "abc", "client_secret": "s3cret", "csrf_token": csrf(client)})
    page = client.get("/connections").text
    assert 'href="/connect/xero"' in page and "connect-reason-xero" not in page
    assert "s3cret" not in page


# ---- the setup checklist -----------------------------------------------------------------------------------


def test_a_fresh_installation_shows_the_setup_checklist_with_every_step_to_do(bare):
    client, app = bare
    page = client.get("/").text
    assert steps(page) == {"credentials": "todo", "accounting": "todo", "crm": "todo", "mapping": "todo", "invoice": "todo"}
    for step in ("credentials", "accounting", "crm", "mapping"):
        item = re.search(rf'data-step="{step}".*?</li>', page, re.S).group(0)
        assert re.search(r'<a [^>]*href="/(connections|settings)[^"]*"', item), item


def test_the_checklist_follows_progress_and_goes_away_when_both_sides_are_connected(demo):
    client, app = demo
    assert steps(client.get("/").text) == {}  # both connected: no checklist
    store = app.state.runtime.store
    store.deactivate_connection(store.active_connection(Role.ACCOUNTING).id)
    state = steps(client.get("/").text)
    assert state == {"credentials": "done", "accounting": "todo", "crm": "done", "mapping": "done", "invoice": "todo"}


# ---- Reconnect, and errors without raw addresses ---------------------------------------------------------------


def test_a_connection_in_error_offers_reconnect_and_hides_the_api_address(demo):
    client, app = demo
    store = app.state.runtime.store
    xero = store.active_connection(Role.ACCOUNTING)
    store.update_connection(xero.id, status="error", last_error="The Xero connection was revoked: reconnect Xero on the "
                            "Connections page (GET https://api.xero.com/api.xro/2.0/Organisation → 401)")
    for path in ("/", "/connections"):
        page = client.get(path).text
        assert 'href="/reconnect/xero"' in page, path
        assert any("revoked" in p for p in problems(page)), path
        assert not [p for p in problems(page) if "http" in p], problems(page)
        assert "api.xero.com" not in visible(page), path
        assert "api.xero.com/api.xro/2.0/Organisation" in page  # still there, folded away
    again = client.get("/reconnect/xero", follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"] == "/connect/xero"


def _connect_crm_with_the_api_token(client, app):
    """The demo connects through OAuth; these tests want the CRM's API-token connection instead."""
    store = app.state.runtime.store
    store.deactivate_connection(store.active_connection(Role.CRM).id)
    done = client.post("/connect/pipedrive/token", data={"csrf_token": csrf(client), "token": "sandbox-token"})
    assert done.status_code == 200 and store.active_connection(Role.CRM).settings["auth"] == "token"
    return store.active_connection(Role.CRM)


def test_a_token_connection_reconnects_with_a_new_token(demo):
    client, app = demo
    store = app.state.runtime.store
    crm = _connect_crm_with_the_api_token(client, app)
    store.update_connection(crm.id, status="error", last_error="Pipedrive rejected the credentials; reconnect Pipedrive")
    again = client.get("/reconnect/pipedrive", follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"] == "/connections#backend-pipedrive"
    card = re.search(r'id="backend-pipedrive".*?</section>', client.get("/connections").text, re.S).group(0)
    assert 'action="/connect/pipedrive/token"' in card


def test_a_failed_check_flashes_a_plain_message_with_reconnect_and_folded_details(demo):
    client, app = demo
    pipedrive = app.state.sandboxes["pipedrive"][1].state.sandbox
    crm = _connect_crm_with_the_api_token(client, app)
    pipedrive.api_tokens.clear()  # the token was revoked in Pipedrive
    page = client.post(f"/connections/{crm.id}/check", data={"csrf_token": csrf(client)}).text
    flash = re.search(r'<div class="flash error".*?</div>\s*(?=<)', page, re.S).group(0)
    assert "reconnect" in flash.lower() and 'href="/reconnect/pipedrive"' in flash
    assert not [p for p in problems(flash) if "http" in p], problems(flash)
    assert "<details" in flash and "/api/v1/users/me" in flash  # the request is in the details


def test_the_failure_list_folds_technical_details_away(demo):
    client, app = demo
    store = app.state.runtime.store
    store.put_operation("k-1", kind="create_invoice", deal_id="1", payload={"source": "page"})
    store.fail_operation("k-1", "Xero is unavailable right now; try again later (PUT https://api.xero.com/api.xro/2.0/Invoices → 503)")
    page = client.get("/").text
    assert any("unavailable" in p for p in problems(page))
    assert "api.xero.com" not in visible(page) and "api.xero.com" in page


def test_an_error_page_for_an_expired_login_offers_reconnect_and_folds_the_request(demo, monkeypatch):
    from invoicebridge.core.errors import AuthError

    client, app = demo

    async def refused(invoice_id):
        raise AuthError("The Xero connection was revoked: reconnect Xero on the Connections page", backend="xero",
                        method="GET", url="https://api.xero.com/api.xro/2.0/Invoices/abc", status=401)

    monkeypatch.setattr(app.state.pipeline, "pdf", refused)
    page = client.get("/invoices/1/pdf")
    assert page.status_code == 502
    assert 'href="/reconnect/xero"' in page.text
    assert problems(page.text) == ["The Xero connection was revoked: reconnect Xero on the Connections page"]
    assert "api.xero.com" not in visible(page.text) and "/Invoices/abc" in page.text


def test_the_deal_page_folds_a_failed_creates_details_away(demo):
    client, app = demo
    store = app.state.runtime.store
    store.put_operation("k-2", kind="create_invoice", deal_id="1", payload={"source": "page"})
    store.fail_operation("k-2", "Xero is unavailable right now (PUT https://api.xero.com/api.xro/2.0/Invoices → 503)")
    page = client.get("/deals/1").text
    assert any("unavailable" in p for p in problems(page))
    assert "api.xero.com" not in visible(page) and "api.xero.com" in page


def test_searching_before_the_crm_is_connected_says_so(bare):
    client, app = bare
    page = client.get("/search", params={"q": "acme"})
    assert page.status_code == 422 and "search-problem" in page.text and "CRM" in page.text
