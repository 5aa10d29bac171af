"""What every part of the store shares: the clock, how values are written (JSON, columns), the
transaction context, and how rows are read back (dicts, invoice records).

One clock: every time the store writes comes from :attr:`StorePart.clock` (the runtime's ``now``, see
:class:`invoicebridge.core.runtime.Runtime`), never from the wall clock directly, so a simulated clock moves
leases, the outbox's times, the audit and an API key's last use together."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sqlite3
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Callable, Mapping

from .model import InvoiceRecord

if TYPE_CHECKING:
    import sqlite_utils

    from .secrets import SecretBox
    from .store_writer import Writer


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


class StorePart:
    """What every part of the store (the mixins :class:`invoicebridge.core.store.Store` is made of) reaches:
    Store sets these up."""

    conn: sqlite3.Connection
    db: sqlite_utils.Database
    box: SecretBox
    writer: Writer
    clock: Callable[[], dt.datetime]
    _kept: Callable[[Any, Callable[[], Any]], Any]

    def _stamp(self) -> str:
        """Now, as the store writes it (from the store's clock)."""
        return self.clock().isoformat(timespec="microseconds")

    def transaction(self) -> _Tx:
        return _Tx(self.conn)


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
