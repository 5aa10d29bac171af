"""The neutral :class:`BackendContext` core hands a backend: a narrow view of the runtime."""

from __future__ import annotations

import datetime as dt
from typing import Any, Mapping

import httpx

from .model import Connection


class RuntimeContext:
    """Satisfies :class:`invoicebridge.core.backends.BackendContext` by delegating to a ``Runtime``; a backend
    sees the clock, HTTP, its connection's secrets and settings, the key-value space and a cache, nothing more
    (not the store, not the other plugins)."""

    def __init__(self, runtime: Any) -> None:
        self._runtime = runtime

    @property
    def public_url(self) -> str:
        return self._runtime.public_url

    @property
    def cache(self) -> dict[Any, Any]:
        return self._runtime.cache

    def now(self) -> dt.datetime:
        return self._runtime.now()

    def today(self) -> dt.date:
        return self._runtime.today()

    async def sleep(self, seconds: float) -> None:
        await self._runtime.sleep(seconds)

    def http_client(self, backend: str, *, base_url: str = "", **kwargs: Any) -> httpx.AsyncClient:
        return self._runtime.http_client(backend, base_url=base_url, **kwargs)

    def backend_config(self, backend: str) -> dict[str, Any]:
        return self._runtime.backend_config(backend)

    def secrets(self, connection: Connection) -> dict[str, Any]:
        return self._runtime.secrets(connection)

    async def save_secrets(self, connection: Connection, secrets: Mapping[str, Any]) -> None:
        await self._runtime.save_secrets(connection, secrets)

    async def update_settings(self, connection: Connection, settings: Mapping[str, Any]) -> Connection:
        return await self._runtime.update_settings(connection, settings)

    def kv_get(self, namespace: str, key: str) -> Any:
        return self._runtime.kv_get(namespace, key)

    async def kv_set(self, namespace: str, key: str, value: Any) -> None:
        await self._runtime.kv_set(namespace, key, value)

    def recorded_operation(self, backend: str, remote_id: str) -> str | None:
        store = getattr(self._runtime, "store", None)
        record = store.invoice_by_remote(backend, remote_id) if store is not None else None
        return getattr(record, "operation_key", None) or None


def context_for(runtime: Any) -> Any:
    """The context of ``runtime`` (one per runtime, kept in its cache); a context passes through."""
    if not hasattr(runtime, "store") and hasattr(runtime, "kv_get"):
        return runtime
    key = ("core", "backend-context")
    ctx = runtime.cache.get(key)
    if ctx is None:
        ctx = runtime.cache[key] = RuntimeContext(runtime)
    return ctx
