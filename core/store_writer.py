"""The store's one writer thread: every write issued from async code runs there, so the event loop never waits on
SQLite's write lock (another process may hold it for up to the busy timeout).

:class:`Writer` owns one thread with its own SQLite connection. It runs what it is handed in the order it was
handed over:

- ``await writer.run(fn, *args)`` runs ``fn`` there and hands back its result (or raises its exception); a
  callable that opens a transaction (``with store.transaction(): …``) runs as one unit on that thread, so what
  must be atomic (an operation's begin and its audit, a status change and its write-backs) stays atomic. While
  ``fn`` runs on the thread, the store's ``conn``/``db`` are the thread's connection, so any store method works
  there unchanged. Once handed over a write runs to its end even if the awaiting task is cancelled.
- :meth:`Writer.submit` hands over a bookkeeping write (an API key's last use, a session's last-seen time) and
  does not wait. No write is lost: :meth:`Writer.close` applies everything handed over before it stops, a write
  handed over after that is applied at once on the caller's connection, and a bookkeeping write that fails is
  logged and kept as an error that the next :meth:`Writer.flush` raises (:class:`StoreWriteError`).

Synchronous callers (the CLI, migrations, tests) keep writing on the store's own connection. Reads stay on the
caller's connection: in WAL mode a reader never takes the write lock. An in-memory database cannot be shared with
a second connection: there (no other process can hold its lock) every write runs at once on the caller's
connection. The thread holds no reference to the store, so a store nobody closes is collected and its thread
stops.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import queue
import sqlite3
import threading
import weakref
from typing import Any, Awaitable, Callable, Sequence

import sqlite_utils

log = logging.getLogger("invoicebridge.store")

_STOP = object()


class StoreWriteError(RuntimeError):
    """Writes the writer thread could not apply (each was logged when it failed)."""


class _Thread:
    """What the writer thread and the store share (never the store itself)."""

    def __init__(self) -> None:
        self.jobs: "queue.Queue[Any]" = queue.Queue()
        self.ident: int | None = None
        self.conn: sqlite3.Connection | None = None
        self.db: sqlite_utils.Database | None = None
        self.applied = 0  # rows changed on the thread's connection: the hot reads' generation moves with it
        self.errors: list[str] = []
        self.lock = threading.Lock()


def _serve(path: str, shared: _Thread) -> None:
    try:
        conn = sqlite3.connect(path, isolation_level=None, timeout=30, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout = 30000")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
    except sqlite3.Error as exc:  # every write handed over fails with it (none waits forever)
        log.error("the store's writer thread could not open %s: %s", path, exc)
        _refuse_all(shared, exc)
        return
    shared.conn, shared.db, shared.ident = conn, sqlite_utils.Database(conn), threading.get_ident()
    try:
        while True:
            job = shared.jobs.get()
            try:
                if job is _STOP:
                    return
                _do(conn, shared, *job)
            finally:
                shared.jobs.task_done()
    finally:
        shared.ident = None
        conn.close()


def _refuse_all(shared: _Thread, exc: Exception) -> None:
    while (job := shared.jobs.get()) is not _STOP:
        future, what = job[0], job[1]
        if future is not None and future.set_running_or_notify_cancel():
            future.set_exception(exc)
        elif future is None:
            with shared.lock:
                shared.errors.append(f"{what}: {exc}")
        shared.jobs.task_done()
    shared.jobs.task_done()


def _do(conn: sqlite3.Connection, shared: _Thread, future: concurrent.futures.Future | None, what: str,
        fn: Callable[..., Any], args: tuple, kwargs: dict[str, Any]) -> None:
    if future is not None and not future.set_running_or_notify_cancel():
        return
    try:
        result = fn(*args, **kwargs)
    except BaseException as exc:  # handed back to the caller (or kept for flush) below
        if conn.in_transaction:  # a callable that left its transaction open: nothing of it is kept
            conn.execute("ROLLBACK")
        shared.applied = conn.total_changes
        if future is not None:
            future.set_exception(exc)
            return
        log.error("the store's writer thread could not apply %s: %s", what, exc)
        with shared.lock:
            shared.errors.append(f"{what}: {exc}")
        return
    shared.applied = conn.total_changes
    if future is not None:
        future.set_result(result)


class Writer:
    def __init__(self, path: str, inline: sqlite3.Connection) -> None:
        self._inline = inline
        self._threaded = path != ":memory:"
        self._path = path
        self._shared = _Thread()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False
        self._stop = weakref.finalize(self, self._shared.jobs.put, _STOP)  # a store nobody closed: the thread ends

    # -- what the store asks
    def on_thread(self) -> bool:
        """Whether the caller is the writer thread (the store's ``conn`` is then the thread's connection)."""
        return self._shared.ident is not None and threading.get_ident() == self._shared.ident

    @property
    def conn(self) -> sqlite3.Connection | None:
        return self._shared.conn

    @property
    def db(self) -> sqlite_utils.Database | None:
        return self._shared.db

    @property
    def applied(self) -> int:
        return self._shared.applied

    # -- handing writes over
    async def run(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        """Run ``fn(*args, **kwargs)`` on the writer thread; the event loop goes on meanwhile."""
        future: concurrent.futures.Future = concurrent.futures.Future()
        if not self._hand_over((future, getattr(fn, "__name__", "a write"), fn, args, kwargs)):
            return fn(*args, **kwargs)
        waiting = asyncio.wrap_future(future)
        try:
            return await asyncio.shield(waiting)
        except asyncio.CancelledError:  # the write still runs to its end; its outcome is no one's to read
            waiting.add_done_callback(lambda f: f.cancelled() or f.exception())
            raise

    def submit(self, sql: str, params: Sequence[Any] = ()) -> None:
        """Hand over a bookkeeping write and go on (it is applied in order, after what was handed over before)."""
        params = tuple(params)
        if self.on_thread():  # handed over from a write running on the thread: part of it
            _execute(self._shared, sql, params)
        elif not self._hand_over((None, sql.split(" WHERE")[0], _execute, (self._shared, sql, params), {})):
            self._inline.execute(sql, params)  # counted in the connection's own total_changes

    def _hand_over(self, job: tuple) -> bool:
        with self._lock:
            if not self._threaded or self._closed or self.on_thread():
                return False
            if self._thread is None:
                self._thread = threading.Thread(target=_serve, args=(self._path, self._shared),
                                                name="invoicebridge-store-writer", daemon=True)
                self._thread.start()
            self._shared.jobs.put(job)
            return True

    def flush(self) -> None:
        """Wait for every write handed over so far; raise :class:`StoreWriteError` if a bookkeeping write failed
        since the last flush."""
        if self._thread is not None and not self.on_thread():
            self._shared.jobs.join()
        with self._shared.lock:
            errors, self._shared.errors = self._shared.errors, []
        if errors:
            raise StoreWriteError("; ".join(errors))

    def close(self) -> None:
        """Apply every write handed over, then stop the thread (later writes are applied inline)."""
        with self._lock:
            self._closed = True
            thread, self._thread = self._thread, None
        if thread is not None:
            self._stop()
            thread.join()


def _execute(shared: _Thread, sql: str, params: tuple) -> None:
    assert shared.conn is not None  # set before the thread takes its first job
    shared.conn.execute(sql, params)


class Writes:
    """The store's writes, awaited: ``await store.writes.audit(...)`` runs any store method on the writer thread,
    ``await store.writes.run(fn, ...)`` any callable (several writes in one transaction) as one unit."""

    def __init__(self, store: Any, writer: Writer) -> None:
        self._store = store
        self._writer = writer

    async def run(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        return await self._writer.run(fn, *args, **kwargs)

    def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]:
        method = getattr(self._store, name)

        async def write(*args: Any, **kwargs: Any) -> Any:
            return await self._writer.run(method, *args, **kwargs)

        write.__name__ = name
        return write
