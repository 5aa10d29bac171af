"""The embedded store (SQLite through sqlite-utils, WAL mode).

Tables: ``connections`` (settings in clear, secrets sealed), ``settings`` (user settings and the mapping),
``app_secrets`` (sealed: admin password hash, setup code digest, backend app credentials), ``api_keys`` (hashed,
with label and last use), ``sessions`` (sign-in sessions by id digest, data sealed), ``operations`` (the
outbox that makes creation exactly-once), ``invoices`` (our records), ``audit`` (the timeline),
``webhook_receipts`` (deduplication) and ``kv`` (small durable state for plugins). Schema changes go through
:data:`MIGRATIONS`; ``meta.schema_version`` says how far a file has come.

Every method is synchronous and short; the database is opened with a busy timeout so several processes can
share one file.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import secrets as pysecrets
import sqlite3
import stat
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import sqlite_utils

from .errors import NotFound
from .i18n import LazyText, _
from .model import Connection, InvoiceRecord, Role
from .jobs_store import JobStore, migrate_jobs
from .outbox_store import OutboxStore, migrate_outbox
from .secrets import SecretBox, load_or_create_key

log = logging.getLogger("invoicebridge.store")

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


# Files of a data folder that only the app's user may read: a database there also has -wal and -shm files.
PRIVATE_FILES = ("secret.key", "demo.json")


def make_private_dir(folder: Path) -> None:
    """Create ``folder`` (and its parents) 0700; an existing one readable by others is tightened (and logged)."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    _tighten(folder, 0o700)


def make_private_file(path: Path) -> None:
    """Make an existing file 0600 (logged when it was readable by others); a missing one is left missing."""
    _tighten(path, 0o600)


def _tighten(path: Path, wanted: int) -> None:
    try:
        current = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return
    if current & 0o077:
        path.chmod(wanted)
        log.warning("tightened the permissions of %s from %o to %o (only this app's user may read its data)", path, current, wanted)


API_KEY_USE_RESOLUTION_S = 60  # an API key's last use is written at most this often


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="microseconds")


def _json(value: Any) -> str:
    return json.dumps(value, default=_json_default, sort_keys=True)


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if hasattr(value, "value"):
        return value.value
    raise TypeError(f"cannot store {type(value).__name__}")


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


MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [_m1, _m2_sessions_and_key_use, _m3_neutral_statuses, migrate_outbox,
                                                             migrate_jobs]


class Store(OutboxStore, JobStore):
    def __init__(self, conn: sqlite3.Connection, box: SecretBox, path: str) -> None:
        self.conn = conn
        self.db = sqlite_utils.Database(conn)
        self.box = box
        self.path = path
        self.migrate()

    @classmethod
    def open(cls, path: str | Path = ":memory:", *, data_dir: str | Path | None = None) -> "Store":
        """Open (creating and migrating) the store. ``data_dir`` holds ``secret.key``; it defaults to the
        database's folder."""
        path = str(path)
        if path != ":memory:":
            data_dir = Path(data_dir) if data_dir else Path(path).parent
            for folder in dict.fromkeys([Path(path).parent, data_dir]):
                make_private_dir(folder)
            # SQLite gives the -wal and -shm files the database file's mode: create it 0600 before it opens it
            os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
        key = load_or_create_key(Path(data_dir) if data_dir else None)
        if path != ":memory:" and data_dir:  # data_dir is always set above for a file
            for name in PRIVATE_FILES:
                make_private_file(Path(data_dir) / name)
            for suffix in ("", "-wal", "-shm"):
                make_private_file(Path(f"{path}{suffix}"))
        conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        conn.execute("PRAGMA busy_timeout = 30000")
        if path != ":memory:":
            conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        return cls(conn, SecretBox(key), path)

    def close(self) -> None:
        self.conn.close()

    # -- schema
    @property
    def schema_version(self) -> int:
        if "meta" not in self.db.table_names():
            return 0
        row = self.conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        return int(row[0]) if row else 0

    def migrate(self) -> None:
        with self.transaction():
            current = self.schema_version
            for number, step in enumerate(MIGRATIONS, start=1):
                if number > current:
                    step(self.db)
                    self.db.table("meta").upsert({"key": "schema_version", "value": str(number)}, pk="key")

    def transaction(self) -> "_Tx":
        return _Tx(self.conn)

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
        stamp = now_iso()
        with self.transaction():
            self.conn.execute("UPDATE connections SET active = 0 WHERE role = ?", (role.value,))
            cur = self.conn.execute(
                "INSERT INTO connections (backend, role, label, settings, secrets, status, active, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, 'active', 1, ?, ?)",
                (backend, role.value, label, _json(dict(settings or {})), self.box.seal(dict(secrets or {})), stamp, stamp),
            )
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
        rows = list(self.db["connections"].rows_where("role = ? AND active = 1", [Role(role).value], order_by="id desc", limit=1))
        return self._row_to_connection(rows[0]) if rows else None

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
        changes["updated_at"] = now_iso()
        self.db.table("connections").update(connection_id, changes)
        return self.get_connection(connection_id)

    def deactivate_connection(self, connection_id: int) -> None:
        self._connection_row(connection_id)
        self.db.table("connections").update(
            connection_id, {"active": 0, "status": "disconnected", "secrets": self.box.seal({}), "updated_at": now_iso()}
        )

    def get_secrets(self, connection_id: int) -> dict[str, Any]:
        return self.box.open(self._connection_row(connection_id)["secrets"])

    def set_secrets(self, connection_id: int, secrets: Mapping[str, Any]) -> None:
        self._connection_row(connection_id)
        self.db.table("connections").update(connection_id, {"secrets": self.box.seal(dict(secrets)), "updated_at": now_iso()})

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

    # -- API keys (stored as SHA-256 digests of random 256-bit keys)
    def create_api_key(self, label: str = "") -> str:
        key = "ib_" + pysecrets.token_urlsafe(32)
        self.db.table("api_keys").insert({"digest": _digest(key), "label": label, "created_at": now_iso(), "hint": key[:7]})
        return key

    def check_api_key(self, key: str, *, now: dt.datetime | None = None) -> bool:
        """Whether ``key`` is a live API key. Its last use is recorded, at most once a minute (not a write per
        request)."""
        if not key:
            return False
        row = self.conn.execute("SELECT id, last_used_at FROM api_keys WHERE digest = ?", (_digest(key),)).fetchone()
        if row is None:
            return False
        now = now or dt.datetime.now(dt.timezone.utc)
        try:
            stale = not row[1] or (now - dt.datetime.fromisoformat(row[1])).total_seconds() >= API_KEY_USE_RESOLUTION_S
        except (TypeError, ValueError):
            stale = True
        if stale:
            self.conn.execute("UPDATE api_keys SET last_used_at = ? WHERE id = ?", (now.isoformat(timespec="seconds"), row[0]))
        return True

    def list_api_keys(self) -> list[dict[str, Any]]:
        """Every API key: id, label, hint (its first characters), created_at, last_used_at. Never the key."""
        cur = self.conn.execute("SELECT id, label, hint, created_at, last_used_at FROM api_keys ORDER BY id")
        return [_row_dict(cur, r) for r in cur.fetchall()]

    def revoke_api_key(self, key_id: int) -> dict[str, Any]:
        """Delete an API key for good; NotFound if there is no such key."""
        cur = self.conn.execute("SELECT id, label, hint, created_at, last_used_at FROM api_keys WHERE id = ?", (key_id,))
        row = cur.fetchone()
        if row is None:
            raise NotFound(_("There is no API key %(id)s") % {"id": key_id})
        self.conn.execute("DELETE FROM api_keys WHERE id = ?", (key_id,))
        return _row_dict(cur, row)

    # -- sign-in sessions (server-side; the cookie holds a random id, the table its digest)
    def create_session(self, session_id: str, *, user: str, kind: str, data: Mapping[str, Any], now: float, expires_at: float) -> None:
        self.conn.execute(
            "INSERT INTO sessions (digest, user, kind, data, created_at, last_seen, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (_digest(session_id), user, kind, self.box.seal(dict(data)), now, now, expires_at),
        )

    def get_session(self, session_id: str) -> dict[str, Any] | None:
        cur = self.conn.execute("SELECT * FROM sessions WHERE digest = ?", (_digest(session_id),))
        row = cur.fetchone()
        if row is None:
            return None
        out = _row_dict(cur, row)
        try:
            out["data"] = self.box.open(out["data"])
        except Exception:  # sealed with a key we no longer have: as good as no session
            return None
        return out

    def update_session(self, session_id: str, *, data: Mapping[str, Any] | None = None, last_seen: float | None = None) -> None:
        changes: dict[str, Any] = {}
        if data is not None:
            changes["data"] = self.box.seal(dict(data))
        if last_seen is not None:
            changes["last_seen"] = last_seen
        if changes:
            sets = ", ".join(f"{k} = ?" for k in changes)
            self.conn.execute(f"UPDATE sessions SET {sets} WHERE digest = ?", [*changes.values(), _digest(session_id)])

    def delete_session(self, session_id: str) -> None:
        self.conn.execute("DELETE FROM sessions WHERE digest = ?", (_digest(session_id),))

    def delete_sessions(self, *, user: str | None = None, except_id: str | None = None, signed_in: bool = False) -> int:
        """Delete the sessions of ``user`` (or, with ``signed_in``, of everyone signed in), keeping
        ``except_id``; returns how many went."""
        where, args = ["1 = 1"], []
        if user is not None:
            where.append("user = ?")
            args.append(user)
        if signed_in:
            where.append("user != ''")
        if except_id:
            where.append("digest != ?")
            args.append(_digest(except_id))
        return self.conn.execute(f"DELETE FROM sessions WHERE {' AND '.join(where)}", args).rowcount

    def purge_sessions(self, *, now: float, idle_limits: Mapping[str, float]) -> int:
        """Drop sessions past their expiry or idle for longer than their kind allows."""
        gone = self.conn.execute("DELETE FROM sessions WHERE expires_at <= ?", (now,)).rowcount
        for kind, idle in idle_limits.items():
            gone += self.conn.execute("DELETE FROM sessions WHERE kind = ? AND last_seen <= ?", (kind, now - idle)).rowcount
        return gone

    def count_sessions(self, *, user: str | None = None) -> int:
        if user is None:
            return self.conn.execute("SELECT count(*) FROM sessions").fetchone()[0]
        return self.conn.execute("SELECT count(*) FROM sessions WHERE user = ?", (user,)).fetchone()[0]

    # -- settings and mapping
    def get_settings(self) -> dict[str, Any]:
        out = dict(DEFAULT_SETTINGS)
        for row in self.db["settings"].rows_where("key != 'mapping'"):
            out[row["key"]] = json.loads(row["value"])
        return out

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

    # -- operations (the outbox)
    def put_operation(self, key: str, *, kind: str, deal_id: str, payload: Mapping[str, Any], request_hash: str = "") -> tuple[dict[str, Any], bool]:
        """Insert the operation unless its key exists; return (row, created)."""
        stamp = now_iso()
        cur = self.conn.execute(
            "INSERT OR IGNORE INTO operations (key, kind, deal_id, payload, request_hash, state, attempts, lease_until,"
            " last_error, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 'pending', 0, '', '', ?, ?)",
            (key, kind, str(deal_id), _json(dict(payload)), request_hash, stamp, stamp),
        )
        return self.get_operation(key), cur.rowcount == 1

    def get_operation(self, key: str) -> dict[str, Any]:
        cur = self.conn.execute("SELECT * FROM operations WHERE key = ?", (key,))
        row = cur.fetchone()
        if row is None:
            raise NotFound(_("Operation %(key)s does not exist") % {"key": key})
        return _row_dict(cur, row)

    def claim_operation(self, key: str, *, lease_seconds: float = 120, now: dt.datetime | None = None, holder: str = "") -> bool:
        """Take the operation for work: only one worker (in any process) wins until the lease ends. ``holder``
        (:func:`invoicebridge.core.workers.this_process`) is kept on the row so a restart can tell it died."""
        now = now or dt.datetime.now(dt.timezone.utc)
        until = (now + dt.timedelta(seconds=lease_seconds)).isoformat()
        cur = self.conn.execute(
            "UPDATE operations SET state = 'in_flight', attempts = attempts + 1, lease_until = ?, holder = ?, updated_at = ?"
            " WHERE key = ? AND (state IN ('pending', 'failed') OR (state = 'in_flight' AND lease_until < ?))",
            (until, holder, now.isoformat(), key, now.isoformat()),
        )
        return cur.rowcount == 1

    def renew_lease(self, key: str, *, held_until: str, lease_seconds: float = 120, now: dt.datetime | None = None) -> str:
        """Extend the lease of an operation we claimed (``held_until`` is the lease we hold, our claim token).
        Returns the new lease end, or "" when the operation is no longer ours (its lease ran out and another
        worker claimed it, or it was finished)."""
        now = now or dt.datetime.now(dt.timezone.utc)
        until = (now + dt.timedelta(seconds=lease_seconds)).isoformat()
        cur = self.conn.execute(
            "UPDATE operations SET lease_until = ?, updated_at = ? WHERE key = ? AND state = 'in_flight' AND lease_until = ?",
            (until, now.isoformat(), key, held_until),
        )
        return until if cur.rowcount == 1 and held_until else ""

    def finish_operation(self, key: str, *, record_id: int | None = None) -> None:
        self.conn.execute(
            "UPDATE operations SET state = 'done', record_id = ?, last_error = '', lease_until = '', updated_at = ? WHERE key = ?",
            (record_id, now_iso(), key),
        )

    def fail_operation(self, key: str, error: str, *, final: bool = False) -> None:
        self.conn.execute(
            "UPDATE operations SET state = ?, last_error = ?, lease_until = '', updated_at = ? WHERE key = ?",
            ("dead" if final else "failed", error, now_iso(), key),
        )

    def operations(self, *, states: tuple[str, ...] = ("pending", "in_flight", "failed", "dead"), deal_id: str | None = None,
                   limit: int = 200, kinds: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
        """Operations in ``states`` of ``kinds``, newest first; by default all but the kinds that retry by
        themselves (the CRM write-backs ``crm_*``, status commands, automation runs), i.e. the ones a person retries."""
        marks = ",".join("?" * len(states))
        sql = f"SELECT * FROM operations WHERE state IN ({marks})"
        params: list[Any] = list(states)
        if kinds is None:
            sql += " AND kind NOT LIKE 'crm\\_%' ESCAPE '\\' AND kind NOT IN ('command', 'automation')"
        else:
            sql += f" AND kind IN ({','.join('?' * len(kinds))})"
            params += list(kinds)
        if deal_id is not None:
            sql += " AND deal_id = ?"
            params.append(str(deal_id))
        sql += " ORDER BY created_at DESC, rowid DESC LIMIT ?"  # rowid: insertion order when two share a time
        params.append(limit)
        cur = self.conn.execute(sql, params)
        return [_row_dict(cur, r) for r in cur.fetchall()]

    # -- invoices
    def insert_invoice(self, **fields: Any) -> InvoiceRecord:
        """Insert our record of a remote invoice; if the operation or remote invoice is already recorded,
        return that record (never a second row)."""
        stamp = now_iso()
        row = {k: _column(v) for k, v in fields.items()}
        row.setdefault("created_at", stamp)
        row["updated_at"] = stamp
        with self.transaction():
            existing = self._existing_invoice(row.get("operation_key"), row.get("backend"), row.get("remote_id"))
            if existing is not None:
                return existing
            cur = self.conn.execute(
                f"INSERT INTO invoices ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})", list(row.values())
            )
        return self.get_invoice(cur.lastrowid)

    def _existing_invoice(self, operation_key: str | None, backend: str | None, remote_id: str | None) -> InvoiceRecord | None:
        r = None
        if operation_key:
            r = self.conn.execute("SELECT id FROM invoices WHERE operation_key = ?", (operation_key,)).fetchone()
        if r is None and remote_id:
            r = self.conn.execute("SELECT id FROM invoices WHERE backend = ? AND remote_id = ?", (backend, remote_id)).fetchone()
        return self.get_invoice(r[0]) if r else None

    def update_invoice(self, invoice_id: int, **fields: Any) -> InvoiceRecord:
        changes = {k: _column(v) for k, v in fields.items()}
        changes["updated_at"] = now_iso()
        self.db.table("invoices").update(invoice_id, changes)
        return self.get_invoice(invoice_id)

    def get_invoice(self, invoice_id: int) -> InvoiceRecord:
        try:
            row = self.db.table("invoices").get(invoice_id)
        except (sqlite_utils.db.NotFoundError, OverflowError):  # OverflowError: an id past SQLite's 64 bits
            raise NotFound(_("Invoice %(id)s does not exist here") % {"id": invoice_id}) from None
        return _record(row)

    def invoice_by_remote(self, backend: str, remote_id: str) -> InvoiceRecord | None:
        rows = list(self.db["invoices"].rows_where("backend = ? AND remote_id = ?", [backend, remote_id], limit=1))
        return _record(rows[0]) if rows else None

    def invoice_by_operation(self, operation_key: str) -> InvoiceRecord | None:
        rows = list(self.db["invoices"].rows_where("operation_key = ?", [operation_key], limit=1))
        return _record(rows[0]) if rows else None

    def invoices_for_deal(self, deal_id: str) -> list[InvoiceRecord]:
        return [_record(r) for r in self.db["invoices"].rows_where("deal_id = ?", [str(deal_id)], order_by="id desc")]

    def recent_invoices(self, limit: int = 50) -> list[InvoiceRecord]:
        return [_record(r) for r in self.db["invoices"].rows_where(order_by="updated_at desc", limit=limit)]

    def invoices_to_watch(self, today: dt.date, limit: int = 200) -> list[InvoiceRecord]:
        """Drafts and invoices past their due date that are not paid, voided or deleted (for "Needs attention")."""
        rows = self.db["invoices"].rows_where(
            "status = 'DRAFT' or (status in ('AWAITING_APPROVAL', 'AWAITING_PAYMENT') and due_date is not null and due_date != '' "
            "and due_date < ?)", [today.isoformat()], order_by="id", limit=limit)
        return [_record(r) for r in rows]

    def all_invoices(self, *, backend: str | None = None) -> Iterator[InvoiceRecord]:
        where, args = ("backend = ?", [backend]) if backend else (None, [])
        for r in self.db["invoices"].rows_where(where, args, order_by="id"):
            yield _record(r)

    def count_invoices(self) -> int:
        return self.db["invoices"].count

    # -- audit
    def audit(self, kind: str, message: "str | LazyText", *, invoice_id: int | None = None, deal_id: str | None = None,
              data: Mapping[str, Any] | None = None) -> None:
        """Record an event. A ``lazy_(…)`` message is kept in English in ``message`` (the API's and the CLI's
        text) and as its msgid and parameters in ``data["i18n"]``, so pages show it in the reader's language."""
        data = dict(data or {})
        if isinstance(message, LazyText):
            data["i18n"] = message.to_json()
            message = message.english()
        self.db.table("audit").insert(
            {
                "at": now_iso(),
                "invoice_id": invoice_id,
                "deal_id": str(deal_id) if deal_id is not None else None,
                "kind": kind,
                "message": str(message),
                "data": _json(data),
            }
        )

    def audit_entries(self, *, invoice_id: int | None = None, deal_id: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        if invoice_id is not None:
            rows = self.db["audit"].rows_where("invoice_id = ?", [invoice_id], order_by="id", limit=limit)
        elif deal_id is not None:
            rows = self.db["audit"].rows_where("deal_id = ?", [str(deal_id)], order_by="id", limit=limit)
        else:
            rows = self.db["audit"].rows_where(order_by="id desc", limit=limit)
        return [dict(r, data=json.loads(r["data"] or "{}")) for r in rows]

    # -- webhooks and kv
    def first_receipt(self, source: str, event_id: str) -> bool:
        """Record a webhook event id; True the first time it is seen, False for a replay."""
        cur = self.conn.execute(
            "INSERT OR IGNORE INTO webhook_receipts (source, event_id, received_at) VALUES (?, ?, ?)",
            (source, event_id, now_iso()),
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

    def kv_claim(self, namespace: str, key: str, *, now: float, ttl: float) -> bool:
        """Take a short claim on ``key`` across processes: True for the one caller that gets it; a claim older
        than ``ttl`` seconds (its holder died) can be taken over, again by exactly one caller."""
        if self.kv_put_if_absent(namespace, key, now):
            return True
        row = self.conn.execute("SELECT value FROM kv WHERE namespace = ? AND key = ?", (namespace, key)).fetchone()
        if row is None or float(json.loads(row[0]) or 0) + ttl > now:
            return False
        cur = self.conn.execute("UPDATE kv SET value = ? WHERE namespace = ? AND key = ? AND value = ?",
                                (_json(now), namespace, key, row[0]))
        return cur.rowcount == 1


class _Tx:
    """``BEGIN IMMEDIATE`` … ``COMMIT`` (nested uses join the outer transaction)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.outer = False

    def __enter__(self) -> sqlite3.Connection:
        if not self.conn.in_transaction:
            self.conn.execute("BEGIN IMMEDIATE")
            self.outer = True
        return self.conn

    def __exit__(self, exc_type, exc, tb) -> None:
        if self.outer:
            self.conn.execute("ROLLBACK" if exc_type else "COMMIT")


def _column(value: Any) -> Any:
    """A model value as stored: Decimal and dates as text, enums by their value."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if hasattr(value, "value") and not isinstance(value, (str, int)):
        return value.value
    return value


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _row_dict(cursor: sqlite3.Cursor, row: tuple) -> dict[str, Any]:
    out = dict(zip((d[0] for d in cursor.description), row, strict=True))
    if "payload" in out:
        out["payload"] = json.loads(out["payload"] or "{}")
    return out


def _record(row: Mapping[str, Any]) -> InvoiceRecord:
    return InvoiceRecord(
        id=row["id"],
        deal_id=row["deal_id"],
        backend=row["backend"] or "",
        remote_id=row["remote_id"] or "",
        number=row["number"] or "",
        status=row["status"],
        currency=row["currency"],
        total=row["total"] or "0",
        amount_paid=row["amount_paid"] or "0",
        amount_due=row["amount_due"] or "0",
        date=row["date"] or None,
        due_date=row["due_date"] or None,
        contact_name=row["contact_name"] or "",
        reference=row["reference"] or "",
        operation_key=row["operation_key"] or "",
        created_at=row["created_at"] or "",
        updated_at=row["updated_at"] or "",
        sent=bool(row.get("sent")),
    )
