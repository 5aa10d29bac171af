"""Server-side sessions: the cookie carries only a random session id; the store keeps its SHA-256 digest and
the session's data (sealed), so a session can be ended for good (sign out, sign out everywhere, a password
change) and a cookie replayed after that opens nothing.

``request.session`` works as with Starlette's cookie sessions. A session gets a new id whenever the signed-in
user changes (sign-in, a CRM link for another user), so an id seen before sign-in is worth nothing after it.
Each kind of session has a lifetime and an idle timeout (:data:`LIMITS`); the last-seen time is written at
most once a minute, not on every request.
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any, Callable

from starlette.requests import HTTPConnection, cookie_parser
from starlette.types import Scope

from .security import ADMIN

COOKIE = "invoicebridge_session"
_COOKIE_PREFIX = COOKIE.encode("latin-1") + b"="
# kind: (lifetime, idle timeout) in seconds. "" is a visitor who has not signed in (the sign-in form's CSRF
# token and the language live there); "crm" is a CRM user who opened a deal from inside the CRM.
LIMITS: dict[str, tuple[float, float]] = {
    "": (60 * 60, 60 * 60),
    ADMIN: (7 * 24 * 3600, 12 * 3600),
    "crm": (60 * 60, 30 * 60),
}
TOUCH_EVERY_S = 60
_TOUCHED_KEPT = 10_000


def session_kind(data: dict[str, Any]) -> str:
    user = str(data.get("user") or "")
    if not user:
        return ""
    return ADMIN if user == ADMIN else "crm"


def session_id(request: HTTPConnection) -> str | None:
    """The current session's id (to keep it when ending the others), or None before it is stored."""
    return (request.scope.get("session_row") or {}).get("id")


class ServerSessions:
    """Opens the request's session before the endpoint runs and saves it when the answer starts (both called by
    :class:`.web_stack.WebMiddleware`)."""

    def __init__(self, *, store: Any, now: Callable[[], dt.datetime], https_only: bool = False) -> None:
        self.store, self.now, self.https_only = store, now, https_only
        # hash(session id) -> the last-seen time this process handed to the writer: the requests that read the
        # session before that write was applied do not each write it again
        self._touched: dict[int, float] = {}

    async def open(self, scope: Scope) -> tuple[Any, float]:
        """Put the session's data in ``scope["session"]``; returns what :meth:`commit` compares with, and now."""
        now = self.now().timestamp()
        sid = _session_cookie(scope)
        row = self.store.get_session(sid) if sid else None
        if row is not None and not self._alive(row, now):
            await self.store.writes.delete_session(sid)
            row = None
        data = dict(row["data"]) if row else {}
        scope["session"] = data
        scope["session_row"] = {"id": sid, "user": row["user"], "last_seen": row["last_seen"],
                                "quiet_until": self._quiet_until(row)} if row else {}
        return _canonical(data), now

    @staticmethod
    def _alive_until(row: dict[str, Any]) -> float:
        idle = LIMITS.get(row.get("kind") or "", LIMITS[""])[1]
        return min(float(row["expires_at"]), float(row["last_seen"]) + idle)

    def _alive(self, row: dict[str, Any], now: float) -> bool:
        return now < self._alive_until(row)

    def _quiet_until(self, row: dict[str, Any]) -> float:
        """Until when a request in this session, changing nothing in it, leaves it as it is: alive, and its
        last-seen time not due to be written (a page kept in front of the stack is served only until then)."""
        return min(self._alive_until(row), float(row["last_seen"]) + TOUCH_EVERY_S)

    async def commit(self, scope: Scope, before: Any, now: float) -> str | None:
        """Save the session after the endpoint ran; returns the Set-Cookie header to send, if any."""
        data: dict[str, Any] = scope["session"]
        row = scope.get("session_row") or {}
        sid = row.get("id")
        if not data:
            if sid:
                await self.store.writes.delete_session(sid)
                return self._cookie("", 0)
            return None
        user = str(data.get("user") or "")
        if sid and row.get("user") == user:
            changed = _canonical(data) != before
            if changed or now - max(float(row.get("last_seen") or 0), self._touched.get(hash(sid), 0.0)) >= TOUCH_EVERY_S:
                if len(self._touched) >= _TOUCHED_KEPT:
                    self._touched.clear()
                self._touched[hash(sid)] = now
                await self.store.writes.update_session(sid, data=data if changed else None, last_seen=now)
            return None
        if sid:  # the signed-in user changed: a new id, so the old one (maybe seen by others) opens nothing
            await self.store.writes.delete_session(sid)
        kind = session_kind(data)
        lifetime = LIMITS[kind][0]
        await self.store.writes.purge_sessions(now=now, idle_limits={k: v[1] for k, v in LIMITS.items()})
        new_id = secrets.token_urlsafe(32)
        await self.store.writes.create_session(new_id, user=user, kind=kind, data=data, now=now, expires_at=now + lifetime)
        scope["session_row"] = {"id": new_id, "user": user, "last_seen": now}
        return self._cookie(new_id, int(lifetime))

    def _cookie(self, value: str, max_age: int) -> str:
        cookie = f"{COOKIE}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax"
        return cookie + "; Secure" if self.https_only else cookie


def _session_cookie(scope: Scope) -> str | None:
    """Our cookie's value from the request's (first) Cookie header; the header is parsed only when it can hold it."""
    for name, value in scope.get("headers") or ():
        if name == b"cookie":
            if _COOKIE_PREFIX not in value:
                return None
            return cookie_parser(value.decode("latin-1")).get(COOKIE) or None
    return None


def _canonical(data: Any) -> Any:
    """A copy of the session's data to compare with after the endpoint ran (nested lists and dicts copied, so a
    change inside them shows); comparing copies costs a fraction of serialising the data twice a request."""
    if isinstance(data, dict):
        return {k: _canonical(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [_canonical(v) for v in data]
    return data
