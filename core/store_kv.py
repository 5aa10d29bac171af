"""User settings and the mapping, webhook receipts, and small durable state for plugins (kv)."""

from __future__ import annotations

import json
from typing import Any, Mapping

from .store_rows import StorePart, _json

DEFAULT_SETTINGS: dict[str, Any] = {
    "reminder_enabled": True,
    "reminder_due_days": 3,
    "note_on_create": True,
    "note_on_status_change": True,
    "automation_draft_when_won": False,
    "sync_interval_seconds": 300,
    "create_status": "DRAFT",
    "attention_draft_days": 7,  # a draft waiting longer is listed under "Needs attention"
}



class SettingsStore(StorePart):
    """Settings, mapping, webhook receipts and kv."""

    # -- settings and mapping
    def get_settings(self) -> dict[str, Any]:
        return dict(self._settings())

    def get_setting(self, key: str, default: Any = None) -> Any:
        """One setting (its default when unset), without copying them all: what every request asks."""
        return self._settings().get(key, default)

    def _settings(self) -> dict[str, Any]:
        def read() -> dict[str, Any]:
            out = dict(DEFAULT_SETTINGS)
            for key, value in self.conn.execute("SELECT key, value FROM settings WHERE key != 'mapping'"):
                out[key] = json.loads(value)
            return out

        return self._kept("settings", read)  # every request asks; kept until the store changes (callers copy)

    def update_settings(self, values: Mapping[str, Any]) -> dict[str, Any]:
        with self.transaction():
            for key, value in values.items():
                self.db.table("settings").upsert({"key": key, "value": _json(value)}, pk="key")
        return self.get_settings()

    def get_mapping_data(self) -> dict[str, Any] | None:
        row = self.conn.execute("SELECT value FROM settings WHERE key = 'mapping'").fetchone()
        return json.loads(row[0]) if row else None

    def set_mapping_data(self, data: Mapping[str, Any]) -> None:
        self.db.table("settings").upsert({"key": "mapping", "value": _json(dict(data))}, pk="key")

    # -- webhooks and kv
    def first_receipt(self, source: str, event_id: str) -> bool:
        """Record a webhook event id; True the first time it is seen, False for a replay."""
        cur = self.conn.execute(
            "INSERT OR IGNORE INTO webhook_receipts (source, event_id, received_at) VALUES (?, ?, ?)",
            (source, event_id, self._stamp()),
        )
        return cur.rowcount == 1

    def kv_get(self, namespace: str, key: str, default: Any = None) -> Any:
        row = self.conn.execute("SELECT value FROM kv WHERE namespace = ? AND key = ?", (namespace, key)).fetchone()
        return json.loads(row[0]) if row else default

    def kv_set(self, namespace: str, key: str, value: Any) -> None:
        self.conn.execute(
            "INSERT INTO kv (namespace, key, value) VALUES (?, ?, ?) ON CONFLICT(namespace, key) DO UPDATE SET value = excluded.value",
            (namespace, key, _json(value)),
        )

    def kv_items(self, namespace: str) -> dict[str, Any]:
        """Every key of a namespace that holds a value (keys set to None are left out), in key order."""
        rows = self.conn.execute("SELECT key, value FROM kv WHERE namespace = ? AND value != 'null' ORDER BY key", (namespace,))
        return {key: json.loads(value) for key, value in rows.fetchall()}

    def kv_put_if_absent(self, namespace: str, key: str, value: Any) -> bool:
        cur = self.conn.execute("INSERT OR IGNORE INTO kv (namespace, key, value) VALUES (?, ?, ?)", (namespace, key, _json(value)))
        return cur.rowcount == 1
