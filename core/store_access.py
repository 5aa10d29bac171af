"""Who may come in: API keys (SHA-256 digests of random 256-bit keys) and server-side sign-in sessions."""

from __future__ import annotations

import datetime as dt
import secrets as pysecrets
import sqlite3
from typing import Any, Mapping

import sqlite_utils

from .errors import NotFound
from .i18n import _
from .secrets import SecretBox
from .store_rows import _digest, _row_dict, _Tx, now_iso

API_KEY_USE_RESOLUTION_S = 60  # an API key's last use is written at most this often

class AccessStore:
    """API keys and sign-in sessions."""

    conn: sqlite3.Connection
    db: sqlite_utils.Database
    box: SecretBox

    def transaction(self) -> _Tx:
        return _Tx(self.conn)

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
