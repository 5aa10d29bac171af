"""An address that matches no route says where to go instead of Starlette's bare "Not Found"."""

from starlette.testclient import TestClient

from invoicebridge.adapters.app import create_app
from invoicebridge.adapters.config import AppConfig
from invoicebridge.core.plugins import Plugins, make_plugin_manager

PASSWORD = "correct horse battery"


def _app(tmp_path, store):
    plugins = Plugins(make_plugin_manager(load_entry_points=False, extra=[]))
    return create_app(AppConfig(data_dir=tmp_path, sync_interval=0, admin_password=PASSWORD), store=store, plugins=plugins)


def test_unknown_api_path_and_method_name_the_path_and_the_openapi_document(tmp_path, store):
    with TestClient(_app(tmp_path, store)) as client:
        missing = client.get("/api/no-such-thing")
        wrong_method = client.delete("/api/sync")
    assert missing.status_code == 404
    assert missing.json() == {"error": "HTTPError", "message": "There is nothing at /api/no-such-thing; see /api/openapi.json"}
    assert wrong_method.status_code == 405
    assert wrong_method.json()["message"] == "/api/sync does not take DELETE requests; see /api/openapi.json"


def test_unknown_page_says_so_in_words_even_before_signing_in(tmp_path, store):
    with TestClient(_app(tmp_path, store)) as client:
        page = client.get("/no-such-page")
    assert page.status_code == 404
    assert "There is nothing at /no-such-page; check the address or start from the dashboard" in page.text
