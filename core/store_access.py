"""Who may come in: API keys (SHA-256 digests of random 256-bit keys) and server-side sign-in sessions."""

from __future__ import annotations

import copy
import datetime as dt
import secrets as pysecrets
from typing import Any, Mapping

from .errors import NotFound
from .i18n import _
from .store_rows import StorePart, _digest, _row_dict

API_KEY_USE_RESOLUTION_S = 60  # an API key's last use is written at most this often
OPENED_SESSIONS_KEPT = 4096


class AccessStore(StorePart):
    """API keys and sign-in sessions."""

    def _init_access(self) -> None:
        self._opened: dict[str, dict[str, Any]] = {}  # sealed session data -> opened (opening costs a fifth of a page)
        self._key_used: dict[int, dt.datetime] = {}  # API key id -> the last use handed to the writer

    # -- API keys (stored as SHA-256 digests of random 256-bit keys)
    def create_api_key(self, label: str = "") -> str:
        key = "ib_" + pysecrets.token_urlsafe(32)
        self.db.table("api_keys").insert({"digest": _digest(key), "label": label, "created_at": self._stamp(), "hint": key[:7]})
        return key

    def check_api_key(self, key: str, *, now: dt.datetime | None = None) -> bool:
        """Whether ``key`` is a live API key. Its last use is recorded, at most once a minute (not a write per
        request)."""
        if not key:
            return False
        digest = _digest(key)
        row = self._kept(("api_key", digest),  # every API request asks; kept until the store changes
                         lambda: self.conn.execute("SELECT id, last_used_at FROM api_keys WHERE digest = ?", (digest,)).fetchone())
        if row is None:
            return False
        now = now or self.clock()
        try:
            last = max(filter(None, [dt.datetime.fromisoformat(row[1]) if row[1] else None, self._key_used.get(row[0])]))
            stale = (now - last).total_seconds() >= API_KEY_USE_RESOLUTION_S
        except (TypeError, ValueError):  # no use yet, or a time we cannot read
            stale = True
        if stale:  # handed to the writer thread: the request does not wait for SQLite's write lock
            self._key_used[row[0]] = now
            self.writer.submit("UPDATE api_keys SET last_used_at = ? WHERE id = ?", (now.isoformat(timespec="seconds"), row[0]))
        return True

    def list_api_keys(self) -> list[dict[str, Any]]:
        """Every API key: id, label, hint (its first characters), created_at, last_used_at. Never the key."""
        self.writer.flush()
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
        digest = _digest(session_id)

        def read() -> dict[str, Any] | None:
            cur = self.conn.execute("SELECT * FROM sessions WHERE digest = ?", (digest,))
            row = cur.fetchone()
            return _row_dict(cur, row) if row is not None else None

        kept = self._kept(("session", digest), read)  # every page view asks; kept until the store changes
        if kept is None:
            return None
        out = dict(kept)
        sealed = out["data"]
        if sealed in self._opened:  # the same sealed text opens to the same data: a copy of it
            out["data"] = copy.deepcopy(self._opened[sealed])
            return out
        try:
            out["data"] = self.box.open(sealed)
        except Exception:  # sealed with a key we no longer have: as good as no session
            return None
        if len(self._opened) >= OPENED_SESSIONS_KEPT:
            self._opened.clear()
        self._opened[sealed] = copy.deepcopy(out["data"])
        return out

    def update_session(self, session_id: str, *, data: Mapping[str, Any] | None = None, last_seen: float | None = None) -> None:
        changes: dict[str, Any] = {}
        if data is not None:
            changes["data"] = self.box.seal(dict(data))
        if last_seen is not None:
            changes["last_seen"] = last_seen
        if set(changes) == {"last_seen"}:  # a touch (at most once a minute): handed to the writer thread
            self.writer.submit("UPDATE sessions SET last_seen = ? WHERE digest = ?", (last_seen, _digest(session_id)))
        elif changes:
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
