"""The plugin manager, the backend registry it fills, and the facade the rest of the code calls.

Built-in plugins are found exactly like third-party ones, through the ``invoicebridge`` entry-point group
(our own ``pyproject.toml`` declares the built-in ones there). Each registers its backends through
``invoicebridge_register_backends``; :class:`Plugins` keeps the :class:`BackendRegistry` and dispatches every
backend call to the instance bound to the connection (``registry.open(connection, context)``), so no plugin
sees a call for another's connection. Discovery, routes, sandboxes and events stay pluggy hooks, all called
through ``pm.hook`` (so hook wrappers and pluggy's tracing see them).
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, Callable, Iterable, Mapping

import pluggy

from . import hookspecs
from .context import context_for
from .errors import NotConnected
from .model import BackendInfo, Connection
from .registry import BackendRegistry

hookimpl = pluggy.HookimplMarker("invoicebridge")
PROJECT = "invoicebridge"
BUILTIN_PACKAGE = "invoicebridge.plugins"


def _builtin_plugin_names() -> list[str]:
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


_ISOLATED = "_invoicebridge_isolated"


class _Failed:
    """What an isolated event implementation returns instead of raising (see :meth:`Plugins._event`)."""

    __slots__ = ("error",)

    def __init__(self, error: Exception) -> None:
        self.error = error


def _isolated(function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` (an event implementation) returning its ``Exception`` as a :class:`_Failed` rather than
    raising it, now or when its awaitable is awaited. ``BaseException`` (a cancelled task, an exit) still
    propagates."""

    async def settle(value: Any) -> Any:
        try:
            return await await_me_maybe(value)
        except Exception as exc:
            return _Failed(exc)

    @functools.wraps(function)
    def call(*args: Any) -> Any:
        try:
            value = function(*args)
        except Exception as exc:
            return _Failed(exc)
        if inspect.isawaitable(value) or (callable(value) and not inspect.isclass(value)):
            return settle(value)
        return value

    setattr(call, _ISOLATED, True)
    return call


def make_plugin_manager(*, load_entry_points: bool = True, extra: Iterable[object] = ()) -> pluggy.PluginManager:
    """A plugin manager with the entry-point plugins (``load_entry_points``) and ``extra``. Without entry
    points it holds nothing but ``extra``; the built-ins are a fallback only for an uninstalled source tree."""
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(hookspecs)
    if load_entry_points:
        pm.load_setuptools_entrypoints(PROJECT)
        if not pm.get_plugins():
            import importlib

            for name in _builtin_plugin_names():
                pm.register(importlib.import_module(name), name=name.rsplit(".", 2)[-2])
    for plugin in extra:
        pm.register(plugin)
    pm.check_pending()
    return pm


def builtin_plugins() -> list[object]:
    """The built-in plugin modules, for ``make_plugin_manager(load_entry_points=False, extra=builtin_plugins())``."""
    import importlib

    return [importlib.import_module(name) for name in _builtin_plugin_names()]


class Plugins:
    """Typed facade: backend calls go to the registry's instance for the connection; the method names are
    the old per-hook ones (keyword arguments only), so call sites need not know the difference."""

    def __init__(self, pm: pluggy.PluginManager | None = None) -> None:
        self.pm = pm or make_plugin_manager()
        self._registry: BackendRegistry | None = None
        self._registered: tuple[int, ...] = ()

    def register(self, plugin: object, name: str | None = None) -> None:
        self.pm.register(plugin, name=name)
        self.pm.check_pending()

    def unregister(self, plugin: object) -> None:
        self.pm.unregister(plugin)

    # -- registration
    @property
    def registry(self) -> BackendRegistry:
        """Filled from ``invoicebridge_register_backends`` (through ``pm.hook``), again whenever plugins change."""
        plugins = tuple(id(p) for p in self.pm.get_plugins())
        if self._registry is None or plugins != self._registered:
            registry = BackendRegistry()
            self.pm.hook.invoicebridge_register_backends(register=registry.register)
            self._registry, self._registered = registry, plugins
        return self._registry

    def backends(self) -> list[BackendInfo]:
        return self.registry.infos()

    def backend(self, name: str) -> BackendInfo:
        return self.registry.factory(name).info

    def label(self, name: str) -> str:
        """The name people know a backend by (its registered label; the name itself when it is not registered)."""
        factory = self.registry.get(name)
        return getattr(getattr(factory, "info", None), "label", "") or name.title()

    def open(self, runtime, connection: Connection) -> Any:
        """The backend instance bound to ``connection`` (an AccountingBackend or a CrmSource)."""
        return self.registry.open(connection, context_for(runtime))

    def web_routes(self, runtime) -> list:
        return [r for routes in self.pm.hook.invoicebridge_web_routes(runtime=runtime) for r in (routes or [])]

    def frame_ancestors(self, runtime) -> list[tuple[str, list[str]]]:
        return [(str(path), [str(s) for s in sources])
                for pairs in self.pm.hook.invoicebridge_frame_ancestors(runtime=runtime) for path, sources in (pairs or [])]

    def sandboxes(self, runtime) -> list:
        return [s for group in self.pm.hook.invoicebridge_sandboxes(runtime=runtime) for s in (group or [])]

    # -- dispatch
    async def _call(self, runtime, connection: Connection, method: str, *args: Any, what: str, required: bool = True,
                    **kwargs: Any) -> Any:
        backend = self.open(runtime, connection)
        func = getattr(backend, method, None)
        if func is None:
            if not required:
                return None
            raise NotConnected(f"The {connection.backend!r} plugin does not support {what}")
        return await await_me_maybe(func(*args, **kwargs))

    async def _connect(self, runtime, backend: str, method: str, what: str, **kwargs: Any) -> Any:
        factory = self.registry.factory(backend)
        func = getattr(factory, method, None)
        if func is None:
            raise NotConnected(f"The {backend!r} plugin does not support {what}")
        return await await_me_maybe(func(context_for(runtime), **kwargs))

    async def _event(self, hook: str, **kwargs: Any) -> list[Any]:
        """Call the event through ``pm.hook`` (so hook wrappers and pluggy's tracing see it), then await what the
        implementations returned, one by one in pluggy's order. One that raises does not keep the others from the
        event (each implementation is wrapped by :func:`_isolated` first, so pluggy's call goes on and no started
        coroutine is left un-awaited); the first error is raised once all have run."""
        caller = getattr(self.pm.hook, hook)
        for impl in caller.get_hookimpls():
            if not (impl.hookwrapper or impl.wrapper) and not getattr(impl.function, _ISOLATED, False):
                impl.function = _isolated(impl.function)
        results: list[Any] = []
        errors: list[Exception] = []
        for outcome in caller(**kwargs):
            if inspect.isawaitable(outcome):
                outcome = await outcome
            if isinstance(outcome, _Failed):
                errors.append(outcome.error)
            elif outcome is not None:
                results.append(outcome)
        if errors:
            raise errors[0]
        return results

    # -- connecting
    async def authorize_url(self, runtime, *, backend: str, redirect_uri: str, state: str, code_challenge: str, settings: dict) -> str:
        return await self._connect(runtime, backend, "authorize_url", "OAuth", redirect_uri=redirect_uri, state=state,
                                   code_challenge=code_challenge, settings=settings)

    async def complete_oauth(self, runtime, *, backend: str, code: str, redirect_uri: str, code_verifier: str, settings: dict,
                             callback: Mapping[str, str] | None = None):
        """``callback``: the callback's other query parameters (an account the service chose there), given to a
        backend whose ``complete_oauth`` takes a ``callback`` keyword (older backends are called without it)."""
        extra = {"callback": dict(callback or {})} if _takes(self.registry.get(backend), "complete_oauth", "callback") else {}
        return await self._connect(runtime, backend, "complete_oauth", "OAuth", code=code, redirect_uri=redirect_uri,
                                   code_verifier=code_verifier, settings=settings, **extra)

    async def connect_with_token(self, runtime, *, backend: str, token: str, settings: dict):
        return await self._connect(runtime, backend, "connect_with_token", "API tokens", token=token, settings=settings)

    async def connected(self, runtime, *, connection: Connection, public_url: str) -> list:
        result = await self._call(runtime, connection, "connected", public_url, what="", required=False)
        return [] if result is None else [result]

    async def verify_page_token(self, runtime, *, connection: Connection, params: dict):
        return await self._call(runtime, connection, "verify_page_token", params, what="", required=False)

    async def check(self, runtime, *, connection: Connection):
        return await self._call(runtime, connection, "check", what="health checks")

    async def disconnect(self, runtime, *, connection: Connection) -> bool:
        return await self._call(runtime, connection, "disconnect", what="disconnecting")

    # -- CRM
    async def get_deal(self, runtime, *, connection: Connection, deal_id: str):
        return await self._call(runtime, connection, "get_deal", deal_id, what="reading deals")

    async def get_deal_for_display(self, runtime, *, connection: Connection, deal_id: str, lines: bool = True):
        """The deal for a page view: the backend's ``get_deal_for_display`` when it has one (it may reuse related
        records it read a little earlier), else ``get_deal``. ``lines=False``: the page shows the lines only when
        asked, so the backend's ``get_deal_head`` is used when it has one (it may leave them unread)."""
        backend = self.open(runtime, connection)
        read = (None if lines else getattr(backend, "get_deal_head", None)) \
            or getattr(backend, "get_deal_for_display", None) or getattr(backend, "get_deal", None)
        if read is None:
            raise NotConnected(f"The {connection.backend!r} plugin does not support reading deals")
        return await await_me_maybe(read(deal_id))

    async def get_deal_lines(self, runtime, *, connection: Connection, deal):
        """``deal`` (answered by ``get_deal_head`` without its lines) with them: the backend's ``get_deal_lines``
        when it has one, else the deal read again for a page."""
        backend = self.open(runtime, connection)
        read = getattr(backend, "get_deal_lines", None)
        if read is None:
            return await self.get_deal_for_display(runtime, connection=connection, deal_id=deal.id)
        return await await_me_maybe(read(deal))

    async def get_deals(self, runtime, *, connection: Connection, deal_ids: list[str]) -> list:
        return await self._call(runtime, connection, "get_deals", deal_ids, what="reading deals")

    async def find_deals(self, runtime, *, connection: Connection, query) -> list:
        return await self._call(runtime, connection, "find_deals", query, what="finding deals")

    async def search_deals(self, runtime, *, connection: Connection, term: str, limit: int) -> list:
        return await self._call(runtime, connection, "search_deals", term, limit, what="searching deals")

    async def deal_id_from_url(self, runtime, *, connection: Connection, url: str) -> str | None:
        return await self._call(runtime, connection, "deal_id_from_url", url, what="", required=False)

    async def list_fields(self, runtime, *, connection: Connection) -> list:
        return await self._call(runtime, connection, "list_fields", what="listing fields")

    async def add_activity(self, runtime, *, connection: Connection, deal_id: str, subject: str, due_date, note: str, dedupe_key: str,
                           in_doubt: bool = False) -> str:
        return await self._call(runtime, connection, "add_activity", deal_id, subject, due_date, note, dedupe_key,
                                in_doubt=in_doubt, what="activities")

    async def complete_activity(self, runtime, *, connection: Connection, deal_id: str, dedupe_key: str,
                                activity_id: str = "") -> str:
        """The activity made under ``dedupe_key`` (``activity_id`` when known) marked done; ``""`` when there was
        none to complete."""
        return await self._call(runtime, connection, "complete_activity", deal_id, dedupe_key, activity_id=activity_id,
                                what="activities") or ""

    async def add_note(self, runtime, *, connection: Connection, deal_id: str, content: str, dedupe_key: str,
                       in_doubt: bool = False) -> str:
        return await self._call(runtime, connection, "add_note", deal_id, content, dedupe_key, in_doubt=in_doubt, what="notes")

    async def set_deal_fields(self, runtime, *, connection: Connection, deal_id: str, values) -> None:
        await self._call(runtime, connection, "set_deal_fields", deal_id, dict(values), what="deal fields")

    async def deal_url(self, runtime, *, connection: Connection, deal_id: str) -> str:
        return await self._call(runtime, connection, "deal_url", deal_id, what="deal links")

    async def crm_verify_webhook(self, runtime, *, connection: Connection, request) -> list:
        return await self._call(runtime, connection, "verify_webhook", request, what="webhooks")

    # -- accounting
    async def catalog(self, runtime, *, connection: Connection):
        return await self._call(runtime, connection, "catalog", what="catalogs")

    async def current_user(self, runtime, *, connection: Connection):
        return await self._call(runtime, connection, "current_user", what="users")

    async def find_or_create_customers(self, runtime, *, connection: Connection, customers: list) -> list:
        return await self._call(runtime, connection, "find_or_create_customers", customers, what="contacts")

    async def create_invoices(self, runtime, *, connection: Connection, requests: list) -> list:
        return await self._call(runtime, connection, "create_invoices", requests, what="creating invoices")

    async def find_created(self, runtime, *, connection: Connection, requests: list) -> dict:
        return await self._call(runtime, connection, "find_created", requests, what="finding created invoices")

    async def change_status(self, runtime, *, connection: Connection, remote_id: str, command, operation_key: str):
        return await self._call(runtime, connection, "change_status", remote_id, command, operation_key, what="status changes")

    async def email_recipient(self, runtime, *, connection: Connection, remote_id: str) -> str:
        return await self._call(runtime, connection, "email_recipient", remote_id, what="email recipients")

    async def get_invoices(self, runtime, *, connection: Connection, remote_ids: list[str]) -> list:
        return await self._call(runtime, connection, "get_invoices", remote_ids, what="reading invoices")

    async def modified_since(self, runtime, *, connection: Connection, since) -> list:
        return await self._call(runtime, connection, "modified_since", since, what="sync")

    async def invoice_pdf(self, runtime, *, connection: Connection, remote_id: str) -> bytes:
        return await self._call(runtime, connection, "invoice_pdf", remote_id, what="PDFs")

    async def share_link(self, runtime, *, connection: Connection, remote_id: str) -> str:
        return await self._call(runtime, connection, "share_link", remote_id, what="share links")

    async def deep_link(self, runtime, *, connection: Connection, remote_id: str) -> str:
        return await self._call(runtime, connection, "deep_link", remote_id, what="deep links")

    async def accounting_verify_webhook(self, runtime, *, connection: Connection, request) -> list:
        return await self._call(runtime, connection, "verify_webhook", request, what="webhooks")

    # -- events
    async def invoice_created(self, runtime, *, record, deal, invoice) -> list:
        return await self._event("on_invoice_created", runtime=runtime, record=record, deal=deal, invoice=invoice)

    async def invoice_status_changed(self, runtime, *, record, previous, current) -> list:
        return await self._event("on_invoice_status_changed", runtime=runtime, record=record, previous=previous, current=current)

    async def invoice_settled(self, runtime, *, record, reason: str) -> list:
        return await self._event("on_invoice_settled", runtime=runtime, record=record, reason=reason)

    async def deal_won(self, runtime, *, deal_id: str) -> list:
        return await self._event("on_deal_won", runtime=runtime, deal_id=deal_id)


def _takes(factory: Any, method: str, keyword: str) -> bool:
    """Whether ``factory.method`` accepts ``keyword`` (by name or through ``**kwargs``)."""
    func = getattr(factory, method, None)
    try:
        params = inspect.signature(func).parameters.values() if func is not None else ()
    except (TypeError, ValueError):
        return False
    return any(p.name == keyword or p.kind is inspect.Parameter.VAR_KEYWORD for p in params)
