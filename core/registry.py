"""The backend registry: filled once from ``invoicebridge_register_backends``, then dispatch by name."""

from __future__ import annotations

from typing import Any

from .errors import NotConnected
from .i18n import _
from .model import BackendInfo, Capabilities, Connection


class BackendRegistry:
    def __init__(self) -> None:
        self._factories: dict[str, Any] = {}
        self._capabilities: dict[tuple[int, str] | None, Capabilities] = {}

    def register(self, factory: Any) -> None:
        """Add a backend (a :class:`invoicebridge.core.backends.BackendFactory`). A second backend with the
        same name is refused: names are how connections find their backend."""
        info = getattr(factory, "info", None)
        if not isinstance(info, BackendInfo):
            raise TypeError(f"{factory!r} has no BackendInfo in .info")
        if info.name in self._factories and self._factories[info.name] is not factory:
            raise ValueError(f"Two plugins register the backend {info.name!r}")
        self._factories[info.name] = factory
        self._capabilities.clear()

    def names(self) -> list[str]:
        return list(self._factories)

    def infos(self) -> list[BackendInfo]:
        return [f.info for f in self._factories.values()]

    def get(self, name: str) -> Any | None:
        return self._factories.get(name)

    def factory(self, name: str) -> Any:
        factory = self._factories.get(name)
        if factory is None:
            raise NotConnected(_("No plugin provides the backend %(name)r; install it or check the name") % {"name": name})
        return factory

    def capabilities(self, connection: Connection | None) -> Capabilities:
        """What the backend bound to ``connection`` can do: the defaults without a connection or when no plugin
        provides its backend any more. Kept per connection (id and backend), so another connection is looked up
        afresh, and for the registry's life (the facade builds a new registry whenever plugins change)."""
        key = (connection.id, connection.backend) if connection is not None else None
        caps = self._capabilities.get(key)
        if caps is None:
            factory = self._factories.get(connection.backend) if connection is not None else None
            caps = self._capabilities[key] = factory.info.capabilities if factory is not None else Capabilities()
        return caps

    def open(self, connection: Connection, context: Any) -> Any:
        """The backend instance bound to ``connection``."""
        return self.factory(connection.backend).open(connection, context)
