"""A fake runtime and service for the connector kit's tests: a clock whose sleep moves time, secrets in a dict
that remembers every save, and an httpx.MockTransport in front of a handler."""

from __future__ import annotations

import datetime as dt

import httpx

from invoicebridge.core.connector import Dialect

START = dt.datetime(2026, 11, 20, 9, 30, tzinfo=dt.timezone.utc)


class FakeRuntime:
    def __init__(self, handler=None, *, secrets: dict | None = None) -> None:
        self.current = START
        self.sleeps: list[float] = []
        self.cache: dict = {}
        self.saved: list[dict] = []
        self._secrets = dict(secrets or {})
        self.transport = httpx.MockTransport(handler) if handler else None
        self.clients: list[httpx.AsyncClient] = []

    def now(self) -> dt.datetime:
        return self.current

    def advance(self, seconds: float) -> None:
        self.current += dt.timedelta(seconds=seconds)

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(seconds)

    def secrets(self, connection) -> dict:
        return dict(self._secrets)

    async def save_secrets(self, connection, secrets) -> None:
        self._secrets = dict(secrets)
        self.saved.append(dict(secrets))

    def http_client(self, backend: str, **kwargs) -> httpx.AsyncClient:
        client = httpx.AsyncClient(transport=self.transport, **kwargs)
        self.clients.append(client)
        return client


class Conn:
    id = 7
    settings: dict = {}


class PlainDialect(Dialect):
    backend = "svc"
