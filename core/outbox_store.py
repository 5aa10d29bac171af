"""The outbox's rows in the store: every side effect (an invoice to create, a CRM activity, its completion, a
CRM note) is one row of ``operations`` with a kind, a typed state (``pending``, ``in_flight`` under a lease,
``done``, ``failed`` to retry at ``next_try_at``, ``dead``, ``cancelled``), its attempts, and the process that
holds its lease (``holder``, so a restart can take over from a dead holder at once)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Callable, Mapping

import sqlite_utils

STATES = ("pending", "in_flight", "done", "failed", "dead", "cancelled")
FREE_RETRIES = 5  # a failed row is tried again on every pass this often, then with growing pauses


def retry_wait(attempts: int) -> int:
    """Seconds before the next try of a row that failed ``attempts`` times: at once for the first
    :data:`FREE_RETRIES`, then doubling from two minutes up to an hour."""
    return 0 if attempts <= FREE_RETRIES else min(60 * 2 ** (attempts - FREE_RETRIES), 3600)


def migrate_outbox(db: sqlite_utils.Database) -> None:
    """The lease holder and the next try on each operation (the holder was a kv row per operation, never
    removed), and whether an invoice was sent to its customer."""
    columns = db["operations"].columns_dict
    if "holder" not in columns:
        db.table("operations").add_column("holder", str, not_null_default="")
    if "next_try_at" not in columns:
        db.table("operations").add_column("next_try_at", str, not_null_default="")
    db.table("operations").create_index(["kind", "state"], if_not_exists=True)
    if "sent" not in db["invoices"].columns_dict:
        db.table("invoices").add_column("sent", int, not_null_default=0)
    conn = db.conn
    conn.execute("UPDATE operations SET holder = (SELECT json_extract(kv.value, '$') FROM kv WHERE kv.namespace = "
                 "'operation-holder' AND kv.key = operations.key) WHERE key IN (SELECT key FROM kv WHERE namespace = "
                 "'operation-holder' AND value != 'null')")
    conn.execute("DELETE FROM kv WHERE namespace IN ('operation-holder', 'dead-checked')")


def migrate_sent_marks(db: sqlite_utils.Database) -> None:
    """When an operation was first sent (``sent_at``: written before the request leaves, so a later attempt
    knows it is in doubt, and how long ago the first one went out) and what the other side answered
    (``result``: the id of the object a CRM write-back made). Rows an older version left unfinished after an
    attempt count as sent when they were written."""
    columns = db["operations"].columns_dict
    if "sent_at" not in columns:
        db.table("operations").add_column("sent_at", str, not_null_default="")
    if "result" not in columns:
        db.table("operations").add_column("result", str, not_null_default="")
    db.conn.execute("UPDATE operations SET sent_at = created_at WHERE attempts > 0 AND state NOT IN ('done', 'cancelled')")


class OutboxStore:
    conn: Any
    _stamp: Callable[[], str]  # the store's clock, as text (store_rows.StorePart)

    def enqueue(self, key: str, *, kind: str, deal_id: str, record_id: int | None, payload: Mapping[str, Any],
                stamp: str) -> bool:
        """Add a side effect unless its key exists (the key is its dedupe key); True when added."""
        from .store import _json

        cur = self.conn.execute(
            "INSERT OR IGNORE INTO operations (key, kind, deal_id, payload, request_hash, state, attempts, lease_until,"
            " last_error, record_id, holder, next_try_at, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, '', 'pending', 0, '', '', ?, '', '', ?, ?)",
            (key, kind, str(deal_id), _json(dict(payload)), record_id, stamp, stamp))
        return cur.rowcount == 1

    def due_operations(self, kinds: tuple[str, ...], *, now: dt.datetime, record_id: int | None = None,
                       limit: int = 500) -> list[dict[str, Any]]:
        """Rows of ``kinds`` that may be worked on now: pending, failed whose next try has come, or in flight
        (the caller decides whether that lease is over or its holder gone). Oldest first."""
        from .store import _row_dict

        sql = (f"SELECT * FROM operations WHERE kind IN ({','.join('?' * len(kinds))})"
               " AND (state IN ('pending', 'in_flight') OR (state = 'failed' AND next_try_at <= ?))")
        params: list[Any] = [*kinds, now.isoformat()]
        if record_id is not None:
            sql += " AND record_id = ?"
            params.append(record_id)
        cur = self.conn.execute(sql + " ORDER BY created_at, rowid LIMIT ?", [*params, limit])
        return [_row_dict(cur, r) for r in cur.fetchall()]

    def operation_state(self, key: str) -> str:
        row = self.conn.execute("SELECT state FROM operations WHERE key = ?", (key,)).fetchone()
        return row[0] if row else ""

    def cancel_operation(self, key: str, reason: str, *, states: tuple[str, ...] = ("pending", "failed")) -> bool:
        """Drop a side effect nobody has started (pending or waiting for a retry; ``states`` widens it for a
        holder dropping its own claimed row); True when it was dropped."""
        cur = self.conn.execute("UPDATE operations SET state = 'cancelled', last_error = ?, lease_until = '', updated_at = ?"
                                f" WHERE key = ? AND state IN ({','.join('?' * len(states))})", (reason, self._stamp(), key, *states))
        return cur.rowcount == 1

    def rearm_operation(self, key: str, *, states: tuple[str, ...] = ("done", "dead", "cancelled")) -> bool:
        """Make an ended row (in ``states``) pending again; True when it was. Its attempts are kept, so the next
        one knows an earlier attempt may have reached the other side."""
        cur = self.conn.execute("UPDATE operations SET state = 'pending', last_error = '', next_try_at = '', holder = '',"
                                f" updated_at = ? WHERE key = ? AND state IN ({','.join('?' * len(states))})",
                                (self._stamp(), key, *states))
        return cur.rowcount == 1

    def retry_later(self, key: str, error: str, *, next_try_at: str) -> None:
        self.conn.execute("UPDATE operations SET state = 'failed', last_error = ?, lease_until = '', next_try_at = ?,"
                          " updated_at = ? WHERE key = ?", (error, next_try_at, self._stamp(), key))

    def mark_sent(self, keys: "list[str] | tuple[str, ...]", *, now: dt.datetime) -> None:
        """Record, before the request leaves, that these operations are being sent; the first time is kept. A
        later attempt of a row with ``sent_at`` is in doubt: the earlier one may have reached the other side."""
        if keys:
            self.conn.execute(f"UPDATE operations SET sent_at = ? WHERE sent_at = '' AND key IN ({','.join('?' * len(keys))})",
                              (now.isoformat(), *keys))

    def set_result(self, key: str, result: str) -> None:
        """What the other side answered for a sent operation (the id of the object it made)."""
        self.conn.execute("UPDATE operations SET result = ? WHERE key = ?", (str(result or ""), key))

    def operation_result(self, key: str) -> str:
        row = self.conn.execute("SELECT result FROM operations WHERE key = ?", (key,)).fetchone()
        return str(row[0] or "") if row else ""

    def release(self, key: str, held_until: str) -> None:
        """Give a claimed row back untouched (it has to wait for another one); the attempt is not counted."""
        self.conn.execute("UPDATE operations SET state = 'pending', attempts = attempts - 1, lease_until = ''"
                          " WHERE key = ? AND state = 'in_flight' AND lease_until = ?", (key, held_until))

    def enqueue_latest(self, key: str, *, kind: str, deal_id: str, record_id: int | None, payload: Mapping[str, Any],
                       stamp: str) -> None:
        """A side effect whose latest payload is all that matters (a value written over the previous one): add
        it, or put the new payload on the row and make an ended row pending again. A row in flight keeps its
        state; its sender sees the payload changed (:meth:`finish_if_current`) and leaves it pending."""
        from .store import _json

        self.conn.execute(
            "INSERT INTO operations (key, kind, deal_id, payload, request_hash, state, attempts, lease_until,"
            " last_error, record_id, holder, next_try_at, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, '', 'pending', 0, '', '', ?, '', '', ?, ?)"
            " ON CONFLICT(key) DO UPDATE SET payload = excluded.payload, deal_id = excluded.deal_id,"
            " updated_at = excluded.updated_at, last_error = '', next_try_at = '',"
            " state = CASE WHEN state = 'in_flight' THEN 'in_flight' ELSE 'pending' END,"
            " holder = CASE WHEN state = 'in_flight' THEN holder ELSE '' END",
            (key, kind, str(deal_id), _json(dict(payload)), record_id, stamp, stamp))

    def finish_if_current(self, key: str, payload: Mapping[str, Any]) -> bool:
        """Done when the row still carries ``payload`` (what was just sent); else a newer one came meanwhile and
        the row goes back to pending for it. True when finished."""
        from .store import _json

        cur = self.conn.execute("UPDATE operations SET state = 'done', last_error = '', lease_until = '', updated_at = ?"
                                " WHERE key = ? AND state = 'in_flight' AND payload = ?", (self._stamp(), key, _json(dict(payload))))
        if cur.rowcount == 1:
            return True
        self.conn.execute("UPDATE operations SET state = 'pending', lease_until = '', holder = '', updated_at = ?"
                          " WHERE key = ? AND state = 'in_flight'", (self._stamp(), key))
        return False
