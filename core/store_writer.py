"""One writer thread for the store's bookkeeping writes: the request path hands them over and goes on.

A web request that only reads may still owe the store a small write now and then (an API key's last use, a
session's last-seen time, each at most once a minute). Those go to :class:`WriteBehind`: one daemon thread with
its own SQLite connection applies them in the order they were handed over, so the event loop never waits on
SQLite's write lock (another process may hold it for up to the busy timeout).

No write is lost: :meth:`WriteBehind.close` applies everything handed over before it stops, a write handed over
after that is applied at once on the caller's connection, and a write that fails is logged and kept as an error
that the next :meth:`WriteBehind.flush` raises (:class:`StoreWriteError`). ``flush()`` waits until every write
handed over so far is applied; reads that must see them (listing API keys) call it first. An in-memory database
cannot be shared with a second connection: there the writes are applied at once, on the caller's connection.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
from typing import Any, Sequence

log = logging.getLogger("invoicebridge.store")

_STOP = object()


class StoreWriteError(RuntimeError):
    """Writes the writer thread could not apply (each was logged when it failed)."""


class WriteBehind:
    def __init__(self, path: str, inline: sqlite3.Connection) -> None:
        self._inline = inline
        self._threaded = path != ":memory:"
        self._path = path
        self._queue: "queue.Queue[Any]" = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False
        self._errors: list[str] = []
        self.applied = 0  # rows changed by the thread's writes, for tests and benchmarks

    def submit(self, sql: str, params: Sequence[Any] = ()) -> None:
        with self._lock:
            if not self._threaded or self._closed:
                self._inline.execute(sql, tuple(params))  # counted in the connection's own total_changes
                return
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="invoicebridge-store-writer", daemon=True)
                self._thread.start()
            self._queue.put((sql, tuple(params)))

    def flush(self) -> None:
        """Wait for every write handed over so far; raise :class:`StoreWriteError` if any failed since the last
        flush."""
        if self._thread is not None:
            self._queue.join()
        with self._lock:
            errors, self._errors = self._errors, []
        if errors:
            raise StoreWriteError("; ".join(errors))

    def close(self) -> None:
        """Apply every write handed over, then stop the thread (later writes are applied inline)."""
        with self._lock:
            self._closed = True
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(_STOP)
            thread.join()

    def _run(self) -> None:
        conn = sqlite3.connect(self._path, isolation_level=None, timeout=30, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout = 30000")
        conn.execute("PRAGMA synchronous = NORMAL")
        try:
            while True:
                item = self._queue.get()
                try:
                    if item is _STOP:
                        return
                    sql, params = item
                    try:
                        self.applied += conn.execute(sql, params).rowcount
                    except sqlite3.Error as exc:
                        log.error("the store's writer thread could not apply %s: %s", sql.split(" WHERE")[0], exc)
                        with self._lock:
                            self._errors.append(f"{sql.split(' WHERE')[0]}: {exc}")
                finally:
                    self._queue.task_done()
        finally:
            conn.close()
