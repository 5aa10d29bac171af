"""The plugin manager and the one typed facade over ``pm.hook``.

Built-in plugins are found exactly like third-party ones, through the ``invoicebridge`` entry-point group
(our own ``pyproject.toml`` declares the built-in ones there). The rest of the code calls
:class:`Plugins` methods with keyword arguments and never touches ``pm.hook``.
"""

from __future__ import annotations

import inspect
from typing import Any, Iterable

import pluggy

from . import hookspecs
from .errors import NotConnected
from .model import BackendInfo, Connection

hookimpl = pluggy.HookimplMarker("invoicebridge")
PROJECT = "invoicebridge"
BUILTIN_PACKAGE = "invoicebridge.plugins"


def builtin_plugins() -> list[str]:
    """The ``hooks`` modules of the plugins shipped in :data:`BUILTIN_PACKAGE` (each a package of its own): the
    fallback when the package is imported from a source tree that was never installed (no entry points)."""
    import importlib.util
    import pkgutil

    package = importlib.import_module(BUILTIN_PACKAGE)
    return [f"{BUILTIN_PACKAGE}.{found.name}.hooks" for found in pkgutil.iter_modules(package.__path__)
            if found.ispkg and importlib.util.find_spec(f"{BUILTIN_PACKAGE}.{found.name}.hooks") is not None]


async def await_me_maybe(value: Any) -> Any:
    """A hook may return a value, an awaitable, or a callable returning either (datasette's helper)."""
    if callable(value) and not inspect.isclass(value):
        value = value()
    if inspect.isawaitable(value):
        value = await value
    return value


def make_plugin_manager(*, load_entry_points: bool = True, extra: Iterable[object] = ()) -> pluggy.PluginManager:
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(hookspecs)
    if load_entry_points:
        pm.load_setuptools_entrypoints(PROJECT)
    if not load_entry_points or not pm.get_plugins():
        import importlib

        for name in builtin_plugins():
            module = importlib.import_module(name)
            if not pm.is_registered(module):
                pm.register(module, name=name.rsplit(".", 2)[-2])
    for plugin in extra:
        pm.register(plugin)
    pm.check_pending()
    return pm


class Plugins:
    """Typed facade: one method per hook, keyword arguments only."""

    def __init__(self, pm: pluggy.PluginManager | None = None) -> None:
        self.pm = pm or make_plugin_manager()

    def register(self, plugin: object, name: str | None = None) -> None:
        self.pm.register(plugin, name=name)
        self.pm.check_pending()

    def unregister(self, plugin: object) -> None:
        self.pm.unregister(plugin)

    # -- registration
    def backends(self) -> list[BackendInfo]:
        out: list[BackendInfo] = []
        for result in self.pm.hook.invoicebridge_backends():
            out.extend(result or [])
        return out

    def backend(self, name: str) -> BackendInfo:
        for info in self.backends():
            if info.name == name:
                return info
        raise NotConnected(f"No plugin provides the backend {name!r}; install it or check the name")

    def web_routes(self, runtime) -> list:
        return [r for routes in self.pm.hook.invoicebridge_web_routes(runtime=runtime) for r in (routes or [])]

    def frame_ancestors(self, runtime) -> list[tuple[str, list[str]]]:
        return [(str(path), [str(s) for s in sources])
                for pairs in self.pm.hook.invoicebridge_frame_ancestors(runtime=runtime) for path, sources in (pairs or [])]

    def sandboxes(self, runtime) -> list:
        return [s for group in self.pm.hook.invoicebridge_sandboxes(runtime=runtime) for s in (group or [])]

    # -- helpers
    async def _first_or_none(self, hook: str, **kwargs: Any) -> Any:
        """pluggy's ``firstresult`` stops at the first non-None *return value*, and an ``async def`` hook
        returns a coroutine even when it will answer None ("not my backend"). So the facade walks the
        implementations itself, in pluggy's call order (LIFO, honouring tryfirst/trylast), awaiting each,
        and stops at the first real answer."""
        caller = getattr(self.pm.hook, hook)
        for impl in reversed(caller.get_hookimpls()):
            if impl.hookwrapper or impl.wrapper:
                continue
            result = await await_me_maybe(impl.function(*[kwargs[name] for name in impl.argnames]))
            if result is not None:
                return result
        return None

    async def _first(self, hook: str, *, what: str, **kwargs: Any) -> Any:
        result = await self._first_or_none(hook, **kwargs)
        if result is None:
            target = kwargs.get("connection") or kwargs.get("backend")
            name = getattr(target, "backend", target)
            raise NotConnected(f"The {name!r} plugin does not support {what}")
        return result

    async def _all(self, hook: str, **kwargs: Any) -> list[Any]:
        """Every implementation, awaited one by one in pluggy's order. One that raises does not keep the
        others from the event (pluggy's own call would stop there, leaving started coroutines un-awaited);
        the first error is raised once all have run."""
        results: list[Any] = []
        errors: list[Exception] = []
        for impl in reversed(getattr(self.pm.hook, hook).get_hookimpls()):
            if impl.hookwrapper or impl.wrapper:
                continue
            try:
                result = await await_me_maybe(impl.function(*[kwargs[name] for name in impl.argnames]))
            except Exception as exc:
                errors.append(exc)
                continue
            if result is not None:
                results.append(result)
        if errors:
            raise errors[0]
        return results

    # -- connecting
    async def authorize_url(self, runtime, *, backend: str, redirect_uri: str, state: str, code_challenge: str, settings: dict) -> str:
        return await self._first("backend_authorize_url", what="OAuth", runtime=runtime, backend=backend,
                                 redirect_uri=redirect_uri, state=state, code_challenge=code_challenge, settings=settings)

    async def complete_oauth(self, runtime, *, backend: str, code: str, redirect_uri: str, code_verifier: str, settings: dict):
        return await self._first("backend_complete_oauth", what="OAuth", runtime=runtime, backend=backend, code=code,
                                 redirect_uri=redirect_uri, code_verifier=code_verifier, settings=settings)

    async def connect_with_token(self, runtime, *, backend: str, token: str, settings: dict):
        return await self._first("backend_connect_with_token", what="API tokens", runtime=runtime, backend=backend,
                                 token=token, settings=settings)

    async def connected(self, runtime, *, connection: Connection, public_url: str) -> list:
        return await self._all("backend_connected", runtime=runtime, connection=connection, public_url=public_url)

    async def verify_page_token(self, runtime, *, connection: Connection, params: dict):
        return await self._first_or_none("crm_verify_page_token", runtime=runtime, connection=connection, params=params)

    async def check(self, runtime, *, connection: Connection):
        return await self._first("backend_check", what="health checks", runtime=runtime, connection=connection)

    async def disconnect(self, runtime, *, connection: Connection) -> bool:
        return await self._first("backend_disconnect", what="disconnecting", runtime=runtime, connection=connection)

    # -- CRM
    async def get_deal(self, runtime, *, connection: Connection, deal_id: str):
        return await self._first("crm_get_deal", what="reading deals", runtime=runtime, connection=connection, deal_id=deal_id)

    async def get_deals(self, runtime, *, connection: Connection, deal_ids: list[str]) -> list:
        return await self._first("crm_get_deals", what="reading deals", runtime=runtime, connection=connection, deal_ids=deal_ids)

    async def find_deals(self, runtime, *, connection: Connection, query) -> list:
        return await self._first("crm_find_deals", what="finding deals", runtime=runtime, connection=connection, query=query)

    async def search_deals(self, runtime, *, connection: Connection, term: str, limit: int) -> list:
        return await self._first("crm_search_deals", what="searching deals", runtime=runtime, connection=connection,
                                 term=term, limit=limit)

    async def deal_id_from_url(self, runtime, *, connection: Connection, url: str) -> str | None:
        return await self._first_or_none("crm_deal_id_from_url", runtime=runtime, connection=connection, url=url)

    async def list_fields(self, runtime, *, connection: Connection) -> list:
        return await self._first("crm_list_fields", what="listing fields", runtime=runtime, connection=connection)

    async def add_activity(self, runtime, *, connection: Connection, deal_id: str, subject: str, due_date, note: str, dedupe_key: str) -> str:
        return await self._first("crm_add_activity", what="activities", runtime=runtime, connection=connection,
                                 deal_id=deal_id, subject=subject, due_date=due_date, note=note, dedupe_key=dedupe_key)

    async def add_note(self, runtime, *, connection: Connection, deal_id: str, content: str, dedupe_key: str) -> str:
        return await self._first("crm_add_note", what="notes", runtime=runtime, connection=connection,
                                 deal_id=deal_id, content=content, dedupe_key=dedupe_key)

    async def deal_url(self, runtime, *, connection: Connection, deal_id: str) -> str:
        return await self._first("crm_deal_url", what="deal links", runtime=runtime, connection=connection, deal_id=deal_id)

    async def crm_verify_webhook(self, runtime, *, connection: Connection, request) -> list:
        return await self._first("crm_verify_webhook", what="webhooks", runtime=runtime, connection=connection, request=request)

    # -- accounting
    async def catalog(self, runtime, *, connection: Connection):
        return await self._first("accounting_catalog", what="catalogs", runtime=runtime, connection=connection)

    async def current_user(self, runtime, *, connection: Connection):
        return await self._first("accounting_current_user", what="users", runtime=runtime, connection=connection)

    async def find_or_create_customers(self, runtime, *, connection: Connection, customers: list) -> list:
        return await self._first("accounting_find_or_create_customers", what="contacts", runtime=runtime,
                                 connection=connection, customers=customers)

    async def create_invoices(self, runtime, *, connection: Connection, requests: list) -> list:
        return await self._first("accounting_create_invoices", what="creating invoices", runtime=runtime,
                                 connection=connection, requests=requests)

    async def find_created(self, runtime, *, connection: Connection, requests: list) -> dict:
        return await self._first("accounting_find_created", what="finding created invoices", runtime=runtime,
                                 connection=connection, requests=requests)

    async def change_status(self, runtime, *, connection: Connection, remote_id: str, command, operation_key: str):
        return await self._first("accounting_change_status", what="status changes", runtime=runtime, connection=connection,
                                 remote_id=remote_id, command=command, operation_key=operation_key)

    async def email_recipient(self, runtime, *, connection: Connection, remote_id: str) -> str:
        return await self._first("accounting_email_recipient", what="email recipients", runtime=runtime,
                                 connection=connection, remote_id=remote_id)

    async def get_invoices(self, runtime, *, connection: Connection, remote_ids: list[str]) -> list:
        return await self._first("accounting_get_invoices", what="reading invoices", runtime=runtime, connection=connection,
                                 remote_ids=remote_ids)

    async def modified_since(self, runtime, *, connection: Connection, since) -> list:
        return await self._first("accounting_modified_since", what="sync", runtime=runtime, connection=connection, since=since)

    async def invoice_pdf(self, runtime, *, connection: Connection, remote_id: str) -> bytes:
        return await self._first("accounting_invoice_pdf", what="PDFs", runtime=runtime, connection=connection, remote_id=remote_id)

    async def share_link(self, runtime, *, connection: Connection, remote_id: str) -> str:
        return await self._first("accounting_share_link", what="share links", runtime=runtime, connection=connection,
                                 remote_id=remote_id)

    async def deep_link(self, runtime, *, connection: Connection, remote_id: str) -> str:
        return await self._first("accounting_deep_link", what="deep links", runtime=runtime, connection=connection,
                                 remote_id=remote_id)

    async def accounting_verify_webhook(self, runtime, *, connection: Connection, request) -> list:
        return await self._first("accounting_verify_webhook", what="webhooks", runtime=runtime, connection=connection,
                                 request=request)

    # -- events
    async def invoice_created(self, runtime, *, record, deal, invoice) -> list:
        return await self._all("on_invoice_created", runtime=runtime, record=record, deal=deal, invoice=invoice)

    async def invoice_status_changed(self, runtime, *, record, previous, current) -> list:
        return await self._all("on_invoice_status_changed", runtime=runtime, record=record, previous=previous, current=current)

    async def invoice_settled(self, runtime, *, record, reason: str) -> list:
        return await self._all("on_invoice_settled", runtime=runtime, record=record, reason=reason)

    async def deal_won(self, runtime, *, deal_id: str) -> list:
        return await self._all("on_deal_won", runtime=runtime, deal_id=deal_id)
