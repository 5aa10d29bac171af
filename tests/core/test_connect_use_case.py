"""Connecting is one use case in core (core/connect.py), the same for the pages and the demo: OAuth with state and
PKCE, a token, choosing among several organisations, refusing a role that may not create invoices, disconnecting."""

import asyncio
from urllib.parse import parse_qs, urlsplit

import pytest

from invoicebridge.core import AccountChoice, BackendInfo, ConnectionBound, ConnectResult, Health, RemoteUser, Role, hookimpl
from invoicebridge.core.connect import ConnectFlow, ConnectProblem
from invoicebridge.core.plugins import Plugins, make_plugin_manager
from invoicebridge.core.runtime import Runtime


class Ledger:
    """An accounting plugin whose authorisation reaches two organisations (its backend registered the public way)."""

    name = "ledger"

    def __init__(self):
        self.role, self.connected, self.disconnected = "ADMIN", [], []
        plugin = self

        class LedgerBackend(ConnectionBound):
            info = BackendInfo(name="ledger", role=Role.ACCOUNTING, label="Ledger", auth_methods=("oauth", "token"))

            @classmethod
            def authorize_url(cls, context, *, redirect_uri, state, code_challenge, settings):
                return f"https://ledger.test/authorize?state={state}&challenge={code_challenge}"

            @classmethod
            def complete_oauth(cls, context, *, code, redirect_uri, code_verifier, settings):
                assert code == "good-code" and redirect_uri.endswith("/connect/ledger/callback") and code_verifier
                return ConnectResult(secrets={"access_token": "t"}, settings={"scope": "all"}, label="Ledger",
                                     choices=[AccountChoice("org-1", "First Ltd", {"book": "1"}),
                                              AccountChoice("org-2", "Second Ltd", {"book": "2"})])

            @classmethod
            def connect_with_token(cls, context, *, token, settings):
                return ConnectResult(secrets={"token": token}, settings={"auth": "token"}, label="Ledger by token")

            def check(self):
                return Health(ok=True, user=RemoteUser(name="Ann", role=plugin.role, may_create=plugin.role != "READONLY"))

            def connected(self, public_url):
                plugin.connected.append((self.connection.id, public_url))

            def disconnect(self):
                plugin.disconnected.append(self.connection.id)
                return True

        self.backend = LedgerBackend

    @hookimpl
    def invoicebridge_register_backends(self, register):
        register(self.backend)


@pytest.fixture
def setup(store):
    ledger = Ledger()
    pm = make_plugin_manager(load_entry_points=False)
    for name, plugin in list(pm.list_name_plugin()):  # only this test's backend
        pm.unregister(plugin, name=name)
    pm.register(ledger)
    plugins = Plugins(pm)
    runtime = Runtime(store=store, config={"ledger": {"client_id": "cid"}}, plugins=plugins)

    async def check(conn):
        return await plugins.check(runtime, connection=conn)

    return ledger, ConnectFlow(runtime, plugins, check, "https://app.test/"), store


def test_oauth_with_two_organisations_waits_for_the_choice_and_records_the_chosen_one(setup):
    ledger, flow, store = setup
    started = asyncio.run(flow.begin("ledger"))
    state = parse_qs(urlsplit(started.url).query)["state"][0]
    assert started.pending["state"] == state and started.pending["verifier"]
    outcome = asyncio.run(flow.complete("ledger", started.pending, {"state": state, "code": "good-code"}))
    assert outcome.connection is None and outcome.choices == (("org-1", "First Ltd"), ("org-2", "Second Ltd"))
    assert store.active_connection(Role.ACCOUNTING) is None
    with pytest.raises(ConnectProblem) as refused:  # only an offered organisation can be chosen
        asyncio.run(flow.choose("ledger", "org-9"))
    assert refused.value.status_code == 400
    chosen = asyncio.run(flow.choose("ledger", "org-2"))
    conn = store.active_connection(Role.ACCOUNTING)
    assert chosen.connection.id == conn.id and conn.label == "Second Ltd" and not chosen.warning
    assert conn.settings["book"] == "2" and conn.settings["organisation_id"] == "org-2"
    assert conn.settings["organisation_name"] == "Second Ltd" and conn.settings["scope"] == "all"
    assert ledger.connected == [(conn.id, "https://app.test")]
    with pytest.raises(ConnectProblem):  # the pending tokens are spent
        asyncio.run(flow.choose("ledger", "org-1"))


def test_a_callback_with_another_state_connects_nothing(setup):
    ledger, flow, store = setup
    started = asyncio.run(flow.begin("ledger"))
    for pending, params in ((started.pending, {"state": "forged", "code": "good-code"}), (None, {"state": "x", "code": "c"}),
                            (started.pending, {"error": "access_denied"})):
        with pytest.raises(ConnectProblem) as refused:
            asyncio.run(flow.complete("ledger", pending, params))
        assert refused.value.status_code == 400
    assert store.active_connection(Role.ACCOUNTING) is None and not ledger.connected


def test_without_app_credentials_nothing_is_started(setup):
    ledger, flow, store = setup
    flow.runtime.config["ledger"] = {}
    with pytest.raises(ConnectProblem) as refused:
        asyncio.run(flow.begin("ledger"))
    assert refused.value.status_code == 409 and "Ledger" in refused.value.message


def test_a_token_connects_and_a_role_that_may_not_create_is_refused(setup):
    ledger, flow, store = setup
    ledger.role = "READONLY"
    with pytest.raises(ConnectProblem) as refused:
        asyncio.run(flow.with_token("ledger", "tok"))
    assert refused.value.status_code == 403 and store.active_connection(Role.ACCOUNTING) is None
    ledger.role = "ADMIN"
    outcome = asyncio.run(flow.with_token("ledger", " tok "))
    assert outcome.label == "Ledger by token" and store.active_connection(Role.ACCOUNTING).id == outcome.connection.id
    warning = asyncio.run(flow.disconnect(outcome.connection))
    assert not warning and ledger.disconnected == [outcome.connection.id]
    assert store.active_connection(Role.ACCOUNTING) is None
