"""The embedded store (SQLite through sqlite-utils, WAL mode).

Tables: ``connections`` (settings in clear, secrets sealed), ``settings`` (user settings and the mapping),
``app_secrets`` (sealed: admin password hash, setup code digest, backend app credentials), ``api_keys`` (hashed,
with label and last use), ``sessions`` (sign-in sessions by id digest, data sealed), ``operations`` (the
outbox that makes creation exactly-once), ``invoices`` (our records), ``audit`` (the timeline),
``webhook_receipts`` (deduplication) and ``kv`` (small durable state for plugins). Schema changes go through
:data:`MIGRATIONS`; ``meta.schema_version`` says how far a file has come.

Every method is synchronous and short; the database is opened with a busy timeout so several processes can
share one file. Async code does not call the writing methods directly: it awaits them on the store's one writer
thread (``await store.writes.<method>(…)``, ``await store.writes.run(fn)`` for a transaction of several; see
:mod:`.store_writer`), so the event loop never waits on SQLite's write lock. Reads stay on the caller's
connection (WAL readers never take the write lock). Every time the store writes comes from its ``clock``.
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
from pathlib import Path
from typing import Callable

import sqlite_utils

from .jobs_store import JobStore, migrate_jobs
from .outbox_store import OutboxStore, migrate_outbox, migrate_sent_marks
from .runtime import utcnow
from .secrets import SecretBox, load_or_create_key
from .store_access import API_KEY_USE_RESOLUTION_S, AccessStore
from .store_connections import ConnectionStore
from .store_files import PRIVATE_FILES, make_private_dir, make_private_file
from .store_invoices import InvoiceStore
from .store_kv import DEFAULT_SETTINGS, SettingsStore
from .store_reads import HotReads
from .store_rows import _column, _digest, _json, _json_default, _record, _row_dict, _Tx
from .store_schema import _m1, _m2_sessions_and_key_use, _m3_neutral_statuses, _m6_growth_indexes
from .store_writer import StoreWriteError, Writer, Writes

__all__ = ["API_KEY_USE_RESOLUTION_S", "DEFAULT_SETTINGS", "MIGRATIONS", "PRIVATE_FILES", "Store", "make_private_dir",
           "make_private_file", "StoreWriteError", "Writes", "_Tx", "_column", "_digest", "_json", "_json_default", "_record", "_row_dict"]

MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [_m1, _m2_sessions_and_key_use, _m3_neutral_statuses, migrate_outbox,
                                                             migrate_jobs, _m6_growth_indexes,
                                                             migrate_sent_marks]


class Store(HotReads, ConnectionStore, AccessStore, SettingsStore, InvoiceStore, OutboxStore, JobStore):
    def __init__(self, conn: sqlite3.Connection, box: SecretBox, path: str, *,
                 clock: Callable[[], dt.datetime] = utcnow) -> None:
        self._conn = conn
        self._db = sqlite_utils.Database(conn)
        self.box = box
        self.path = path
        self.clock = clock  # every time the store writes; the Runtime shares its ``now`` with it
        self.writer = Writer(path, conn)  # the one writer thread (store_writer)
        self.writes = Writes(self, self.writer)  # ``await store.writes.<method>(…)`` from async code
        self._init_reads()
        self._init_access()
        self.migrate()

    @classmethod
    def open(cls, path: str | Path = ":memory:", *, data_dir: str | Path | None = None,
             clock: Callable[[], dt.datetime] = utcnow) -> "Store":
        """Open (creating and migrating) the store. ``data_dir`` holds ``secret.key``; it defaults to the
        database's folder. ``clock`` gives every time the store writes."""
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
        return cls(conn, SecretBox(key), path, clock=clock)

    @property
    def conn(self) -> sqlite3.Connection:  # type: ignore[override]  # read-only: the caller's thread decides
        """The writer thread's connection on that thread, the store's own everywhere else."""
        if self.writer.on_thread() and self.writer.conn is not None:
            return self.writer.conn
        return self._conn

    @property
    def db(self) -> sqlite_utils.Database:  # type: ignore[override]
        if self.writer.on_thread() and self.writer.db is not None:
            return self.writer.db
        return self._db

    def close(self) -> None:
        self.writer.close()
        self._conn.close()

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
