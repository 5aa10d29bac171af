"""What the core hands to every hook: transports, clock, sleep, secrets and settings of connections, a small
durable key-value store (``kv_get``/``kv_set``) and a per-process ``cache``.

Tests build a :class:`Runtime` with ``transports={"<backend>": httpx.ASGITransport(app=sandbox)}`` so no plugin
ever reaches the network; ``sleep`` and ``now`` are injectable so retries and expiry are tested without
waiting.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any, Awaitable, Callable, Mapping

import attrs
import httpx

from .errors import NotConnected
from .model import Connection, Role


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


@attrs.define
class Runtime:
    store: Any  # invoicebridge.core.store.Store
    transports: Mapping[str, httpx.AsyncBaseTransport] = attrs.field(factory=dict)
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    now: Callable[[], dt.datetime] = utcnow
    public_url: str = "http://127.0.0.1:8000"  # where remote services reach us (webhooks, OAuth redirects)
    config: dict[str, Any] = attrs.field(factory=dict)  # per-backend settings from the environment
    cache: dict[Any, Any] = attrs.field(factory=dict)  # plugins keep clients, limiters and locks here
    plugins: Any = None  # the Plugins facade, set by the app

    def __attrs_post_init__(self) -> None:
        """One clock, owned by the runtime: the store stamps what it writes with this runtime's ``now`` (so a
        simulated clock moves leases, the outbox, the audit and sessions together). The store never hands its
        clock back; a clock the store was opened with is replaced."""
        if self.store is not None and hasattr(self.store, "clock"):
            self.store.clock = lambda: self.now()  # follows a ``now`` set later too

    def today(self) -> dt.date:
        return self.now().date()

    # -- HTTP
    def http_client(self, backend: str, *, base_url: str = "", **kwargs: Any) -> httpx.AsyncClient:
        """An AsyncClient for ``backend``, on the injected transport when there is one."""
        transport = self.transports.get(backend)
        kwargs.setdefault("timeout", httpx.Timeout(30.0, connect=10.0))
        if transport is not None:
            kwargs["transport"] = transport
        return httpx.AsyncClient(base_url=base_url, **kwargs)

    # -- connections and their secrets
    def connection(self, role: Role | str) -> Connection:
        conn = self.store.active_connection(Role(role))
        if conn is None:
            what = "CRM" if Role(role) is Role.CRM else "accounting"
            names = [i.label or i.name for i in (self.plugins.backends() if self.plugins is not None else []) if i.role == Role(role)]
            what += f" ({' / '.join(names)})" if names else ""
            raise NotConnected(f"No {what} connection is set up; connect one on the Connections page")
        return conn

    def maybe_connection(self, role: Role | str) -> Connection | None:
        return self.store.active_connection(Role(role))

    def secrets(self, connection: Connection) -> dict[str, Any]:
        return self.store.get_secrets(connection.id)

    # a plugin's writes run on the store's writer thread (awaited), like core's own: never on the event loop
    async def save_secrets(self, connection: Connection, secrets: Mapping[str, Any]) -> None:
        await self.store.writes.set_secrets(connection.id, dict(secrets))

    async def update_settings(self, connection: Connection, settings: Mapping[str, Any]) -> Connection:
        return await self.store.writes.update_connection(connection.id, settings=settings)

    def backend_config(self, backend: str) -> dict[str, Any]:
        return dict(self.config.get(backend, {}))

    # -- small durable key-value space for plugins (dedupe of write-backs, cursors)
    def kv_get(self, namespace: str, key: str) -> Any:
        return self.store.kv_get(namespace, key)

    async def kv_set(self, namespace: str, key: str, value: Any) -> None:
        await self.store.writes.kv_set(namespace, key, value)

    def recorded_operation(self, backend: str, remote_id: str) -> str | None:
        """The operation core recorded for a remote invoice (None when none has it)."""
        record = self.store.invoice_by_remote(backend, remote_id)
        return getattr(record, "operation_key", None) or None
