import subprocess
import sys
import textwrap

import pytest

from invoicebridge.core import Role
from invoicebridge.core.errors import NotConnected
from invoicebridge.core.plugins import Plugins, builtin_plugins, hookimpl, make_plugin_manager


def test_builtin_plugins_are_found_through_the_entry_point_group():
    plugins = Plugins(make_plugin_manager())
    names = {b.name: b.role for b in plugins.backends()}
    assert names["xero"] is Role.ACCOUNTING and names["pipedrive"] is Role.CRM
    assert names["quickbooks"] is Role.ACCOUNTING  # registered by its entry point, like a third party


def test_a_misspelt_hook_fails_loudly():
    class Bad:
        @hookimpl
        def crm_get_deel(self, runtime, connection, deal_id):
            return None

    import pluggy

    with pytest.raises(pluggy.PluginValidationError):
        make_plugin_manager(load_entry_points=False, extra=[Bad()])


def test_without_entry_points_the_manager_holds_only_what_it_is_given():
    """``load_entry_points=False`` used to fall back to the built-in plugins; it must load nothing else."""
    class Mine:
        @hookimpl
        def on_deal_won(self, runtime, deal_id):
            return None

    mine = Mine()
    assert make_plugin_manager(load_entry_points=False).get_plugins() == set()
    assert make_plugin_manager(load_entry_points=False, extra=[mine]).get_plugins() == {mine}
    assert Plugins(make_plugin_manager(load_entry_points=False)).backends() == []


def _backend(name, role="accounting", **methods):
    """A backend factory registered the public way, with the given instance methods."""
    from invoicebridge.core import BackendInfo

    cls = type(f"Backend_{name}", (), {
        "info": BackendInfo(name=name, role=role),
        "__init__": lambda self, connection, context: setattr(self, "connection", connection),
        "open": classmethod(lambda cls, connection, context: cls(connection, context)),
        **methods,
    })

    class Plugin:
        @hookimpl
        def invoicebridge_register_backends(self, register):
            register(cls)

    return Plugin()


@pytest.mark.anyio
async def test_backend_methods_may_be_async_and_missing_ones_name_the_backend(store):
    from invoicebridge.core.runtime import Runtime

    async def deep_link(self, remote_id):
        return f"https://books.example/{remote_id}"

    plugins = Plugins(make_plugin_manager(load_entry_points=False, extra=[_backend("async", deep_link=deep_link)]))
    conn = store.add_connection(backend="async", role="accounting")
    runtime = Runtime(store=store)
    assert await plugins.deep_link(runtime, connection=conn, remote_id="7") == "https://books.example/7"
    with pytest.raises(NotConnected, match="'async' plugin does not support PDFs"):
        await plugins.invoice_pdf(runtime, connection=conn, remote_id="7")


def test_two_plugins_registering_one_backend_name_is_refused():
    plugins = Plugins(make_plugin_manager(load_entry_points=False, extra=[_backend("twin"), _backend("twin")]))
    with pytest.raises(ValueError, match="twin"):
        plugins.backends()


@pytest.mark.anyio
async def test_backend_calls_go_through_the_hook_caller_so_tracing_sees_registration(store):
    """Registration is a pluggy hook called through ``pm.hook``: hook-call monitoring (tracing) sees it."""
    pm = make_plugin_manager(load_entry_points=False, extra=[_backend("traced")])
    seen = []
    undo = pm.add_hookcall_monitoring(lambda name, impls, kwargs: seen.append(name), lambda *a: None)
    try:
        assert [b.name for b in Plugins(pm).backends()] == ["traced"]
    finally:
        undo()
    assert "invoicebridge_register_backends" in seen


def test_third_party_plugin_installed_as_a_separate_distribution_is_discovered(tmp_path):
    src = tmp_path / "src"
    (src / "ib_freshbooks").mkdir(parents=True)
    (src / "ib_freshbooks" / "__init__.py").write_text(textwrap.dedent('''
        from invoicebridge.core import BackendInfo, Role, hookimpl

        class Books:
            info = BackendInfo(name="freshbooks", role=Role.ACCOUNTING, label="FreshBooks")

            def __init__(self, connection, context):
                self.connection = connection

            @classmethod
            def open(cls, connection, context):
                return cls(connection, context)

            async def deep_link(self, remote_id):
                return "https://fb.example/invoice/" + remote_id

        @hookimpl
        def invoicebridge_register_backends(register):
            register(Books)
    '''))
    (src / "pyproject.toml").write_text(textwrap.dedent('''
        [build-system]
        requires = ["setuptools"]
        build-backend = "setuptools.build_meta"
        [project]
        name = "ib-freshbooks"
        version = "0.1"
        [project.entry-points.invoicebridge]
        freshbooks = "ib_freshbooks"
        [tool.setuptools]
        packages = ["ib_freshbooks"]
    '''))
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
                    "--target", str(site), str(src)], check=True, capture_output=True)
    probe = textwrap.dedent('''
        import asyncio, sys
        from invoicebridge.core.plugins import Plugins
        from invoicebridge.core.runtime import Runtime
        from invoicebridge.core.store import Store
        plugins = Plugins()
        store = Store.open(":memory:")
        conn = store.add_connection(backend="freshbooks", role="accounting")
        print(sorted(b.name for b in plugins.backends()))
        print(asyncio.run(plugins.deep_link(Runtime(store=store), connection=conn, remote_id="9")))
    ''')
    out = subprocess.run([sys.executable, "-c", probe], env={"PYTHONPATH": str(site), "PATH": ""}, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["['freshbooks', 'pipedrive', 'quickbooks', 'xero']", "https://fb.example/invoice/9"]


@pytest.mark.anyio
@pytest.mark.parametrize("order", [("a", "b"), ("b", "a")])
async def test_backends_answer_for_their_own_connections_whatever_the_order(store, order):
    """Core dispatches by ``connection.backend`` to the instance bound to it, whatever the registration order
    (there are no "not mine" guards any more)."""
    from invoicebridge.core.model import Health
    from invoicebridge.core.runtime import Runtime

    def plugin(name):
        async def check(self):
            return Health(ok=True, detail=f"{name}:{self.connection.id}")
        return _backend(name, role="accounting" if name == "a" else "crm", check=check)

    plugins = Plugins(make_plugin_manager(load_entry_points=False, extra=[plugin(n) for n in order]))
    runtime = Runtime(store=store)
    for name in ("a", "b"):
        conn = store.add_connection(backend=name, role="accounting" if name == "a" else "crm")
        assert (await plugins.check(runtime, connection=conn)).detail == f"{name}:{conn.id}"


@pytest.mark.anyio
@pytest.mark.parametrize("failing_is_async", [True, False])
async def test_one_plugin_failing_on_an_event_does_not_keep_the_others_from_it(store, failing_is_async):
    """Event hooks go to every plugin. A third-party plugin that raises (registered last, so called first)
    must not cost the others their event (the CRM write-back), nor leave their coroutines un-awaited;
    the failure is still raised afterwards so the caller can record and retry it."""
    from invoicebridge.core.runtime import Runtime

    seen = []

    class Writeback:
        @hookimpl
        async def on_deal_won(self, runtime, deal_id):
            seen.append(("writeback", deal_id))

    class Broken:
        if failing_is_async:
            @hookimpl
            async def on_deal_won(self, runtime, deal_id):
                raise RuntimeError("third-party plugin broke")
        else:
            @hookimpl
            def on_deal_won(self, runtime, deal_id):
                raise RuntimeError("third-party plugin broke")

    class Later:
        @hookimpl
        def on_deal_won(self, runtime, deal_id):
            seen.append(("later", deal_id))

    plugins = Plugins(make_plugin_manager(load_entry_points=False, extra=[Writeback(), Broken(), Later()]))
    with pytest.raises(RuntimeError, match="third-party plugin broke"):
        await plugins.deal_won(Runtime(store=store), deal_id="7")
    assert sorted(seen) == [("later", "7"), ("writeback", "7")]


def test_the_builtin_backends_satisfy_the_typed_protocols(store):
    """Xero is an AccountingBackend and Pipedrive a CrmSource (runtime-checkable protocols), not the other way."""
    from invoicebridge.core import AccountingBackend, CrmSource
    from invoicebridge.core.runtime import Runtime

    plugins = Plugins(make_plugin_manager(load_entry_points=False, extra=builtin_plugins()))
    runtime = Runtime(store=store)
    xero = plugins.open(runtime, store.add_connection(backend="xero", role="accounting", settings={"tenant_id": "t"}))
    pipedrive = plugins.open(runtime, store.add_connection(backend="pipedrive", role="crm"))
    assert isinstance(xero, AccountingBackend) and not isinstance(xero, CrmSource)
    assert isinstance(pipedrive, CrmSource) and not isinstance(pipedrive, AccountingBackend)


@pytest.mark.anyio
async def test_events_go_through_pm_hook_so_a_wrapper_sees_them(store):
    """Events are called as ``pm.hook.<name>(...)``, not by walking the implementations: a hook wrapper around
    one sees the call and its arguments, and what the (still un-awaited) implementations returned."""
    from invoicebridge.core.runtime import Runtime

    seen = []

    class Listener:
        @hookimpl
        async def on_deal_won(self, runtime, deal_id):
            seen.append(("listener", deal_id))
            return "listened"

    class Wrapper:
        @hookimpl(wrapper=True)
        def on_deal_won(self, runtime, deal_id):
            seen.append(("before", deal_id))
            results = yield
            seen.append(("after", len(results)))
            return results

    plugins = Plugins(make_plugin_manager(load_entry_points=False, extra=[Listener(), Wrapper()]))
    assert await plugins.deal_won(Runtime(store=store), deal_id="7") == ["listened"]
    assert seen == [("before", "7"), ("after", 1), ("listener", "7")]


@pytest.mark.anyio
async def test_pluggys_tracing_records_an_event(store):
    from invoicebridge.core.runtime import Runtime

    class Listener:
        @hookimpl
        def on_invoice_settled(self, runtime, record, reason):
            return None

    pm = make_plugin_manager(load_entry_points=False, extra=[Listener()])
    written: list[str] = []
    pm.trace.root.setwriter(written.append)
    undo = pm.enable_tracing()
    try:
        await Plugins(pm).invoice_settled(Runtime(store=store), record=None, reason="paid")
    finally:
        undo()
    trace = "".join(written)
    assert "on_invoice_settled [hook]" in trace and "reason: paid" in trace and "finish on_invoice_settled" in trace
