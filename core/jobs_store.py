"""Background runs in the store (table ``jobs``): bulk runs and status commands answered with 202. Each row has
its id, kind (``bulk``, ``command``), state (``running``, ``finished``, ``failed``), progress (``done`` of
``total``), the request it runs (so a restart can resume it), its result or error, and the process running it
(``holder``, so a restart can tell a run whose process is gone from one another process is still running)."""

from __future__ import annotations

import json
from typing import Any, Callable, Mapping

import sqlite_utils

JOB_STATES = ("running", "finished", "failed")


def migrate_jobs(db: sqlite_utils.Database) -> None:
    """Bulk runs and command runs were kept in memory and lost on a restart."""
    db.table("jobs").create({"id": str, "kind": str, "state": str, "done": int, "total": int, "request": str, "result": str,
                       "error": str, "status_code": int, "holder": str, "created_at": str, "updated_at": str},
                      pk="id", not_null={"kind", "state"}, if_not_exists=True)
    db.table("jobs").create_index(["kind", "created_at"], if_not_exists=True)


def _job(cursor: Any, row: tuple) -> dict[str, Any]:
    out = dict(zip([c[0] for c in cursor.description], row, strict=True))
    out["request"] = json.loads(out["request"] or "{}")
    out["result"] = json.loads(out["result"]) if out["result"] else None
    out["error"] = json.loads(out["error"]) if out["error"] else None
    return out


class JobStore:
    conn: Any
    _stamp: Callable[[], str]  # the store's clock, as text (store_rows.StorePart)
    writer: Any  # store_writer.Writer

    def start_job(self, job_id: str, *, kind: str, request: Mapping[str, Any], total: int, holder: str) -> None:
        """Record a run as running (a run id used before starts over: a re-run resumes from the store)."""
        from .store import _json

        stamp = self._stamp()
        self.conn.execute(
            "INSERT INTO jobs (id, kind, state, done, total, request, result, error, status_code, holder, created_at, updated_at)"
            " VALUES (?, ?, 'running', 0, ?, ?, '', '', 0, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET state = 'running', done = 0,"
            " total = excluded.total, request = excluded.request, result = '', error = '', status_code = 0,"
            " holder = excluded.holder, updated_at = excluded.updated_at",
            (job_id, kind, total, _json(dict(request)), holder, stamp, stamp))

    def update_job(self, job_id: str, *, state: str | None = None, done: int | None = None, total: int | None = None,
                   result: Any = None, error: Any = None, status_code: int | None = None, holder: str | None = None,
                   request: Mapping[str, Any] | None = None) -> None:
        from .store import _json

        fields: dict[str, Any] = {"state": state, "done": done, "total": total, "status_code": status_code, "holder": holder,
                                  "result": None if result is None else _json(result),
                                  "error": None if error is None else _json(error),
                                  "request": None if request is None else _json(dict(request))}
        sets = {k: v for k, v in fields.items() if v is not None}
        sets["updated_at"] = self._stamp()
        self.conn.execute(f"UPDATE jobs SET {', '.join(f'{k} = ?' for k in sets)} WHERE id = ?", (*sets.values(), job_id))

    def note_progress(self, job_id: str, *, done: int, total: int) -> None:
        """A running job's progress, handed to the writer thread without waiting (applied in order, before the
        job's awaited final state): a progress callback called from the event loop never waits on the write lock."""
        self.writer.submit("UPDATE jobs SET done = ?, total = ?, updated_at = ? WHERE id = ?", (done, total, self._stamp(), job_id))

    def get_job(self, job_id: str, *, kind: str) -> dict[str, Any] | None:
        cur = self.conn.execute("SELECT * FROM jobs WHERE id = ? AND kind = ?", (job_id, kind))
        row = cur.fetchone()
        return _job(cur, row) if row else None

    def list_jobs(self, kind: str, *, states: tuple[str, ...] = JOB_STATES, limit: int = 20) -> list[dict[str, Any]]:
        """Runs of ``kind`` in ``states``, newest first."""
        cur = self.conn.execute(f"SELECT * FROM jobs WHERE kind = ? AND state IN ({','.join('?' * len(states))})"
                                " ORDER BY created_at DESC, rowid DESC LIMIT ?", (kind, *states, limit))
        return [_job(cur, r) for r in cur.fetchall()]
