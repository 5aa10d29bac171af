"""The store's schema: the first tables and the migrations that brought later versions (the list of
steps, :data:`invoicebridge.core.store.MIGRATIONS`, stays in ``store``)."""

from __future__ import annotations

import json
from typing import Any

import sqlite_utils

from .store_rows import _json


def _m1(db: sqlite_utils.Database) -> None:
    db.table("meta").create({"key": str, "value": str}, pk="key", if_not_exists=True)
    db.table("connections").create(
        {
            "id": int,
            "backend": str,
            "role": str,
            "label": str,
            "settings": str,
            "secrets": str,
            "status": str,
            "active": int,
            "last_error": str,
            "last_sync_at": str,
            "created_at": str,
            "updated_at": str,
        },
        pk="id",
        not_null={"backend", "role"},
        defaults={"status": "active", "active": 1, "last_error": "", "last_sync_at": "", "settings": "{}"},
        if_not_exists=True,
    )
    db.table("settings").create({"key": str, "value": str}, pk="key", if_not_exists=True)
    db.table("app_secrets").create({"name": str, "value": str}, pk="name", if_not_exists=True)
    db.table("api_keys").create(
        {"id": int, "digest": str, "label": str, "created_at": str}, pk="id", if_not_exists=True
    )
    db.table("api_keys").create_index(["digest"], unique=True, if_not_exists=True)
    db.table("operations").create(
        {
            "key": str,
            "kind": str,
            "deal_id": str,
            "payload": str,
            "request_hash": str,
            "state": str,
            "attempts": int,
            "lease_until": str,
            "last_error": str,
            "record_id": int,
            "created_at": str,
            "updated_at": str,
        },
        pk="key",
        defaults={"state": "pending", "attempts": 0, "last_error": "", "lease_until": ""},
        if_not_exists=True,
    )
    db.table("operations").create_index(["state"], if_not_exists=True)
    db.table("operations").create_index(["deal_id"], if_not_exists=True)
    db.table("invoices").create(
        {
            "id": int,
            "deal_id": str,
            "backend": str,
            "remote_id": str,
            "number": str,
            "status": str,
            "currency": str,
            "total": str,
            "amount_paid": str,
            "amount_due": str,
            "date": str,
            "due_date": str,
            "contact_name": str,
            "reference": str,
            "operation_key": str,
            "created_at": str,
            "updated_at": str,
        },
        pk="id",
        if_not_exists=True,
    )
    db.table("invoices").create_index(["backend", "remote_id"], unique=True, if_not_exists=True)
    db.table("invoices").create_index(["operation_key"], unique=True, if_not_exists=True)
    db.table("invoices").create_index(["deal_id"], if_not_exists=True)
    db.table("audit").create(
        {
            "id": int,
            "at": str,
            "invoice_id": int,
            "deal_id": str,
            "kind": str,
            "message": str,
            "data": str,
        },
        pk="id",
        if_not_exists=True,
    )
    db.table("audit").create_index(["invoice_id"], if_not_exists=True)
    db.table("audit").create_index(["deal_id"], if_not_exists=True)
    db.table("webhook_receipts").create(
        {"source": str, "event_id": str, "received_at": str}, pk=("source", "event_id"), if_not_exists=True
    )
    db.table("kv").create({"namespace": str, "key": str, "value": str}, pk=("namespace", "key"), if_not_exists=True)


def _m2_sessions_and_key_use(db: sqlite_utils.Database) -> None:
    """Server-side sign-in sessions (the cookie carries only a random id; we keep its SHA-256 digest), and
    when each API key was last used."""
    db.table("sessions").create(
        {"digest": str, "user": str, "kind": str, "data": str, "created_at": float, "last_seen": float, "expires_at": float},
        pk="digest",
        if_not_exists=True,
    )
    db.table("sessions").create_index(["user"], if_not_exists=True)
    db.table("sessions").create_index(["expires_at"], if_not_exists=True)
    columns = db["api_keys"].columns_dict
    if "last_used_at" not in columns:
        db.table("api_keys").add_column("last_used_at", str)
    if "hint" not in columns:
        db.table("api_keys").add_column("hint", str)


# The status values stored before core's statuses were neutral (they were one backend's words).
_LEGACY_STATUSES = {"SUBMITTED": "AWAITING_APPROVAL", "AUTHORISED": "AWAITING_PAYMENT"}


def _neutral(value: Any) -> Any:
    """``value`` with every ``status`` entry (at any depth) in the neutral vocabulary."""
    if isinstance(value, dict):
        return {k: (_LEGACY_STATUSES.get(v, v) if k in ("status", "create_status") and isinstance(v, str) else _neutral(v))
                for k, v in value.items()}
    if isinstance(value, list):
        return [_neutral(v) for v in value]
    return value


def _m3_neutral_statuses(db: sqlite_utils.Database) -> None:
    """Stored statuses move to core's neutral names: invoices, the drafts waiting in operations, the mapping's
    create status and the settings."""
    for old, new in _LEGACY_STATUSES.items():
        db.execute("UPDATE invoices SET status = ? WHERE status = ?", [new, old])
    for row in list(db.execute("SELECT key, payload FROM operations").fetchall()):
        payload = json.loads(row[1] or "null")
        if _neutral(payload) != payload:
            db.execute("UPDATE operations SET payload = ? WHERE key = ?", [_json(_neutral(payload)), row[0]])
    for row in list(db.execute("SELECT key, value FROM settings").fetchall()):
        value = json.loads(row[1] or "null")
        new_value = _neutral(value) if row[0] == "mapping" else (
            _LEGACY_STATUSES.get(value, value) if row[0] == "create_status" and isinstance(value, str) else value)
        if new_value != value:
            db.execute("UPDATE settings SET value = ? WHERE key = ?", [_json(new_value), row[0]])



def _m6_growth_indexes(db: sqlite_utils.Database) -> None:
    """Two reads grew with the table: the dashboard's recent invoices sorted every invoice by ``updated_at``, and
    the outbox looked an invoice's operations up by ``record_id`` with a scan (bench/curve.py at 100,000)."""
    db.table("invoices").create_index(["updated_at"], if_not_exists=True)
    db.table("operations").create_index(["record_id"], if_not_exists=True)
