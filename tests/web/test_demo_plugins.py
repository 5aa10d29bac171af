"""The demo names no backend: it mounts, configures and connects whatever sandboxes the installed plugins describe
(``invoicebridge_sandboxes``: each a :class:`Sandbox` with its :class:`DemoOffer`), through core's connect use case."""

from starlette.applications import Starlette
from starlette.testclient import TestClient

from invoicebridge.adapters.cli import demo_banner
from invoicebridge.adapters.config import AppConfig
from invoicebridge.adapters.demo import build_demo
from invoicebridge.core import BackendInfo, ConnectionBound, ConnectResult, Health, RemoteUser, Role, hookimpl
from invoicebridge.core.plugins import Plugins, make_plugin_manager
from invoicebridge.core.sandboxes import DemoOffer, Sandbox


class LedgerSandbox:
    name, mount_path = "ledger", "/sandbox/ledger"

    def __init__(self):
        self.app = Starlette()
        self.seen: dict = {}

    def seed(self):
        pass

    def reset(self):
        pass

    def demo_offer(self, *, public_url, transport, secrets):
        self.seen = {"transport": transport}
        return DemoOffer(config={"api_base": f"{public_url}/sandbox/ledger"}, connect="token", token="ledger-token",
                         mapping={"account_code": "4000"}, info={"console_url": f"{public_url}/sandbox/ledger/"},
                         label="Ledger", console_hint="close the books")


class LedgerBackend(ConnectionBound):
    info = BackendInfo(name="ledger", role=Role.ACCOUNTING, label="Ledger", auth_methods=("token",))

    @classmethod
    def connect_with_token(cls, context, *, token, settings):
        return ConnectResult(secrets={"token": token}, settings={"auth": "token"}, label="Ledger books")

    def check(self):
        return Health(ok=True, user=RemoteUser(name="Ann", role="ADMIN"))


class Ledger:
    """A third-party accounting plugin with a sandbox, connected with an API token."""

    def __init__(self):
        self.sandbox = LedgerSandbox()
        assert isinstance(self.sandbox, Sandbox)

    @hookimpl
    def invoicebridge_register_backends(self, register):
        register(LedgerBackend)

    @hookimpl
    def invoicebridge_sandboxes(self, runtime):
        return [self.sandbox]


def test_the_demo_connects_the_sandboxes_the_plugins_describe(tmp_path):
    ledger = Ledger()
    pm = make_plugin_manager(load_entry_points=False)
    for name, plugin in list(pm.list_name_plugin()):  # only the third-party plugin
        pm.unregister(plugin, name=name)
    pm.register(ledger)
    app, info = build_demo(AppConfig(data_dir=tmp_path, port=8000, sync_interval=0), plugins=Plugins(pm))
    assert app.state.sandboxes["ledger"][1] is ledger.sandbox
    assert app.state.runtime.transports["ledger"] is ledger.sandbox.seen["transport"]
    assert info["ledger"] == {"console_url": "http://127.0.0.1:8000/sandbox/ledger/"}
    assert "Ledger      http://127.0.0.1:8000/sandbox/ledger/  (close the books)" in demo_banner(info)
    with TestClient(app, base_url="http://127.0.0.1:8000"):
        store = app.state.runtime.store
        conn = store.active_connection(Role.ACCOUNTING)
        assert conn.backend == "ledger" and conn.label == "Ledger books"
        assert app.state.runtime.backend_config("ledger")["api_base"] == "http://127.0.0.1:8000/sandbox/ledger"
        assert store.get_mapping_data()["account_code"] == "4000"


def test_the_demo_works_with_a_real_accounts_settings_in_the_environment(tmp_path, monkeypatch):
    """A client ID for a real account in the environment must not reach the demo's sandboxes (they would refuse
    the demo's own OAuth)."""
    from invoicebridge.core.model import Role as R

    for backend in ("XERO", "PIPEDRIVE"):  # the built-in plugins' variables, as an operator would set them
        monkeypatch.setenv(f"INVOICEBRIDGE_{backend}_CLIENT_ID", "real-client-id")
        monkeypatch.setenv(f"INVOICEBRIDGE_{backend}_CLIENT_SECRET", "real-secret")
    app, info = build_demo(AppConfig.from_env(data_dir=tmp_path, port=8000, sync_interval=0))
    assert app.state.runtime.backend_config("xero")["client_id"] == "sandbox-client"
    with TestClient(app, base_url="http://127.0.0.1:8000"):
        store = app.state.runtime.store
        assert store.active_connection(R.ACCOUNTING) is not None and store.active_connection(R.CRM) is not None
