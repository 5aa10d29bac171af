"""Connections (settings in clear, secrets sealed) and the app-level secrets."""

from __future__ import annotations

import json
from typing import Any, Callable, Mapping

import sqlite_utils

from .errors import NotFound
from .i18n import _
from .model import Connection, Role
from .store_rows import StorePart, _json, _row_dict


class ConnectionStore(StorePart):
    """Connections and app secrets."""

    # -- connections
    def add_connection(
        self,
        *,
        backend: str,
        role: Role | str,
        label: str = "",
        settings: Mapping[str, Any] | None = None,
        secrets: Mapping[str, Any] | None = None,
    ) -> Connection:
        """Add a connection and make it the active one for its role (others of that role are deactivated)."""
        role = Role(role)
        stamp = self._stamp()
        with self.transaction():
            self.conn.execute("UPDATE connections SET active = 0 WHERE role = ?", (role.value,))
            cur = self.conn.execute(
                "INSERT INTO connections (backend, role, label, settings, secrets, status, active, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, 'active', 1, ?, ?)",
                (backend, role.value, label, _json(dict(settings or {})), self.box.seal(dict(secrets or {})), stamp, stamp),
            )
        assert cur.lastrowid is not None  # an INSERT always sets it
        return self.get_connection(cur.lastrowid)

    def _row_to_connection(self, row: Mapping[str, Any]) -> Connection:
        return Connection(
            id=row["id"],
            backend=row["backend"],
            role=row["role"],
            label=row["label"] or "",
            settings=json.loads(row["settings"] or "{}"),
            status=row["status"] or "active",
        )

    def _connection_row(self, connection_id: int) -> dict[str, Any]:
        try:
            return self.db.table("connections").get(connection_id)
        except sqlite_utils.db.NotFoundError:
            raise NotFound(_("Connection %(id)s does not exist") % {"id": connection_id}) from None

    def get_connection(self, connection_id: int) -> Connection:
        return self._row_to_connection(self._connection_row(connection_id))

    def active_connection(self, role: Role | str) -> Connection | None:
        role = Role(role)

        def read() -> Connection | None:
            cur = self.conn.execute("SELECT * FROM connections WHERE role = ? AND active = 1 ORDER BY id DESC LIMIT 1", (role.value,))
            row = cur.fetchone()
            return self._row_to_connection(_row_dict(cur, row)) if row else None

        return self._kept(("active_connection", role), read)  # every request asks; kept until the store changes

    def list_connections(self, *, active_only: bool = True) -> list[Connection]:
        where = "active = 1" if active_only else None
        return [self._row_to_connection(r) for r in self.db["connections"].rows_where(where, order_by="id")]

    def connection_health(self, connection_id: int) -> dict[str, str]:
        row = self._connection_row(connection_id)
        return {"status": row["status"], "last_error": row["last_error"] or "", "last_sync_at": row["last_sync_at"] or ""}

    def update_connection(self, connection_id: int, *, settings: Mapping[str, Any] | None = None, **fields: Any) -> Connection:
        row = self._connection_row(connection_id)
        changes: dict[str, Any] = {k: v for k, v in fields.items() if k in {"label", "status", "last_error", "last_sync_at", "active"}}
        if settings is not None:
            merged = json.loads(row["settings"] or "{}")
            merged.update(settings)
            changes["settings"] = _json(merged)
        changes["updated_at"] = self._stamp()
        self.db.table("connections").update(connection_id, changes)
        return self.get_connection(connection_id)

    def deactivate_connection(self, connection_id: int) -> None:
        self._connection_row(connection_id)
        self.db.table("connections").update(
            connection_id, {"active": 0, "status": "disconnected", "secrets": self.box.seal({}), "updated_at": self._stamp()}
        )

    def get_secrets(self, connection_id: int) -> dict[str, Any]:
        return self.box.open(self._connection_row(connection_id)["secrets"])

    def set_secrets(self, connection_id: int, secrets: Mapping[str, Any]) -> None:
        self._connection_row(connection_id)
        self.db.table("connections").update(connection_id, {"secrets": self.box.seal(dict(secrets)), "updated_at": self._stamp()})

    # -- app-level secrets (session key, backend app credentials)
    def get_app_secret(self, name: str, default: Any = None) -> Any:
        row = self.conn.execute("SELECT value FROM app_secrets WHERE name = ?", (name,)).fetchone()
        return self.box.open(row[0]) if row else default

    def set_app_secret(self, name: str, value: Any) -> None:
        self.db.table("app_secrets").upsert({"name": name, "value": self.box.seal(value)}, pk="name")

    def app_secret_or_create(self, name: str, factory: Callable[[], Any]) -> Any:
        with self.transaction():
            value = self.get_app_secret(name)
            if value is None:
                value = factory()
                self.set_app_secret(name, value)
        return value
