"""Reads the web pages make on every request, kept until the database changes.

The active connections, the settings and the API keys are read by nearly every request; they change rarely.
:meth:`HotReads.generation` moves whenever the database does: at once for this connection's own writes
(``total_changes``) and for the writer thread's (its connection's, read before an awaited write returns), and
within :data:`GENERATION_RECHECK_S` for another connection's commit (another process), which SQLite's
``PRAGMA data_version`` tells. Whatever :meth:`HotReads._kept` holds is dropped when the generation moves;
rendered pages use the generation in their cache keys the same way.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any, Callable

from .store_writer import Writer

GENERATION_RECHECK_S = 0.001  # another connection's commit is seen by the kept reads at most this late


class HotReads:
    conn: sqlite3.Connection
    writer: Writer

    def _init_reads(self) -> None:
        self._reads: dict[Any, Any] = {}
        self._reads_at: tuple[int, int] = (-1, -1)
        self._generation: tuple[int, int] = (-1, -1)
        self._generation_at = 0.0

    def generation(self) -> tuple[int, int]:
        """Moves whenever the database does (asking SQLite costs a query, and one request asks several times,
        so another connection's commits are looked for at most every :data:`GENERATION_RECHECK_S`)."""
        mine = self.conn.total_changes + self.writer.applied
        now = time.monotonic()
        if mine != self._generation[1] or now - self._generation_at >= GENERATION_RECHECK_S:
            self._generation = (self.conn.execute("PRAGMA data_version").fetchone()[0], mine)
            self._generation_at = now
        return self._generation

    def _kept(self, key: Any, compute: Callable[[], Any]) -> Any:
        if self.writer.on_thread():  # inside a write (maybe uncommitted): read it, keep nothing
            return compute()
        now = self.generation()
        if now != self._reads_at:
            self._reads.clear()
            self._reads_at = now
        if key not in self._reads:
            self._reads[key] = compute()
        return self._reads[key]

    @property
    def total_changes(self) -> int:
        """Rows changed through this store, by its own connection and by its writer thread."""
        self.writer.flush()
        return self.conn.total_changes + self.writer.applied
