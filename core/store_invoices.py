"""Our invoice records, the operations that create them, and the audit timeline."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, Iterator, Mapping

from .errors import NotFound
from .i18n import LazyText, _
from .model import InvoiceRecord
from .store_rows import StorePart, _column, _json, _record, _row_dict


class InvoiceStore(StorePart):
    """Operations, invoices and the audit."""

    # -- operations (the outbox)
    def put_operation(self, key: str, *, kind: str, deal_id: str, payload: Mapping[str, Any], request_hash: str = "") -> tuple[dict[str, Any], bool]:
        """Insert the operation unless its key exists; return (row, created)."""
        stamp = self._stamp()
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
        now = now or self.clock()
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
        now = now or self.clock()
        until = (now + dt.timedelta(seconds=lease_seconds)).isoformat()
        cur = self.conn.execute(
            "UPDATE operations SET lease_until = ?, updated_at = ? WHERE key = ? AND state = 'in_flight' AND lease_until = ?",
            (until, now.isoformat(), key, held_until),
        )
        return until if cur.rowcount == 1 and held_until else ""

    def finish_operation(self, key: str, *, record_id: int | None = None) -> None:
        self.conn.execute(
            "UPDATE operations SET state = 'done', record_id = ?, last_error = '', lease_until = '', updated_at = ? WHERE key = ?",
            (record_id, self._stamp(), key),
        )

    def fail_operation(self, key: str, error: str, *, final: bool = False) -> None:
        self.conn.execute(
            "UPDATE operations SET state = ?, last_error = ?, lease_until = '', updated_at = ? WHERE key = ?",
            ("dead" if final else "failed", error, self._stamp(), key),
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
        stamp = self._stamp()
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
        assert cur.lastrowid is not None  # an INSERT always sets it
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
        changes["updated_at"] = self._stamp()
        self.db.table("invoices").update(invoice_id, changes)
        return self.get_invoice(invoice_id)

    def get_invoice(self, invoice_id: int) -> InvoiceRecord:
        try:
            rows = self._invoices("WHERE id = ?", (invoice_id,))
        except OverflowError:  # an id past SQLite's 64 bits
            rows = []
        if not rows:
            raise NotFound(_("Invoice %(id)s does not exist here") % {"id": invoice_id})
        return rows[0]

    def _invoices(self, where: str, params: tuple = ()) -> list[InvoiceRecord]:
        """Plain SQL: sqlite-utils looks the table's columns up on every call, which cost pages more than the rows."""
        cur = self.conn.execute(f"SELECT * FROM invoices {where}", params)
        return [_record(_row_dict(cur, r)) for r in cur.fetchall()]

    def open_invoices(self, backend: str, *, paid_since: str = "") -> list[InvoiceRecord]:
        """The backend's invoices whose status can still change (not voided or deleted), oldest first; paid ones
        only when their record changed at or after ``paid_since`` (a stamp; "": every paid one)."""
        return self._invoices("WHERE backend = ? AND status NOT IN ('VOIDED', 'DELETED')"
                              " AND (status != 'PAID' OR updated_at >= ?) ORDER BY id", (backend, paid_since))

    def invoice_by_remote(self, backend: str, remote_id: str) -> InvoiceRecord | None:
        rows = list(self.db["invoices"].rows_where("backend = ? AND remote_id = ?", [backend, remote_id], limit=1))
        return _record(rows[0]) if rows else None

    def invoice_by_operation(self, operation_key: str) -> InvoiceRecord | None:
        rows = list(self.db["invoices"].rows_where("operation_key = ?", [operation_key], limit=1))
        return _record(rows[0]) if rows else None

    def invoices_for_deal(self, deal_id: str) -> list[InvoiceRecord]:
        return self._invoices("WHERE deal_id = ? ORDER BY id DESC", (str(deal_id),))

    def recent_invoices(self, limit: int = 50) -> list[InvoiceRecord]:
        return self._invoices("ORDER BY updated_at DESC LIMIT ?", (limit,))

    def invoices_to_watch(self, today: dt.date, limit: int = 200) -> list[InvoiceRecord]:
        """Drafts and invoices past their due date that are not paid, voided or deleted (for "Needs attention")."""
        return self._invoices(
            "WHERE status = 'DRAFT' or (status in ('AWAITING_APPROVAL', 'AWAITING_PAYMENT') and due_date is not null and due_date != '' "
            "and due_date < ?) ORDER BY id LIMIT ?", (today.isoformat(), limit))

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
                "at": self._stamp(),
                "invoice_id": invoice_id,
                "deal_id": str(deal_id) if deal_id is not None else None,
                "kind": kind,
                "message": str(message),
                "data": _json(data),
            }
        )

    def audit_entries(self, *, invoice_id: int | None = None, deal_id: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        if invoice_id is not None:
            cur = self.conn.execute("SELECT * FROM audit WHERE invoice_id = ? ORDER BY id LIMIT ?", (invoice_id, limit))
        elif deal_id is not None:
            cur = self.conn.execute("SELECT * FROM audit WHERE deal_id = ? ORDER BY id LIMIT ?", (str(deal_id), limit))
        else:
            cur = self.conn.execute("SELECT * FROM audit ORDER BY id DESC LIMIT ?", (limit,))
        rows = [_row_dict(cur, r) for r in cur.fetchall()]
        return [dict(r, data=json.loads(r["data"] or "{}")) for r in rows]
