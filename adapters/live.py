"""Live status on the deal page by server-sent events (``GET /deals/{id}/events``), instead of a poll every 3 s.

The page opens an ``EventSource`` on this stream; the server sends ``event: version`` with the deal's version
(a digest of its invoices' statuses and payments and its operations, as the page shows it) whenever it changes,
and the page reloads. One watcher task per app looks at the store's generation (which moves on any write, by
this process or another one sharing the database) every :data:`WATCH_INTERVAL_S` while someone listens, and
wakes the streams; each stream then works out its own deal's version, and sends only when that changed. A
comment line every :data:`KEEPALIVE_S` keeps proxies from closing a quiet stream; a stream ends after
:data:`STREAM_LIFETIME_S` (the browser reconnects after ``retry`` ms), so a server shutting down never waits
long for open pages.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import AsyncIterator

from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

from .security import crm_scope, login_required

WATCH_INTERVAL_S = 0.1
KEEPALIVE_S = 15.0
STREAM_LIFETIME_S = 30.0
RETRY_MS = 500


class StoreWatch:
    """Wakes every waiting stream when the store's generation moves; runs only while someone waits."""

    def __init__(self, store, interval: float = WATCH_INTERVAL_S) -> None:
        self.store = store
        self.interval = interval
        self.listeners = 0
        self._changed = asyncio.Event()
        self._task: asyncio.Task | None = None

    @contextlib.asynccontextmanager
    async def listening(self) -> AsyncIterator["StoreWatch"]:
        self.listeners += 1
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())
        try:
            yield self
        finally:
            self.listeners -= 1

    async def changed(self, timeout: float) -> bool:
        """Wait until the store changes (True) or ``timeout`` seconds pass (False)."""
        event = self._changed
        try:
            await asyncio.wait_for(event.wait(), timeout)
            return True
        except TimeoutError:
            return False

    async def _run(self) -> None:
        seen = self.store.generation()
        while self.listeners > 0:
            await asyncio.sleep(self.interval)
            now = self.store.generation()
            if now != seen:
                seen = now
                event, self._changed = self._changed, asyncio.Event()
                event.set()


def store_watch(request: Request) -> StoreWatch:
    state = request.app.state
    watch = getattr(state, "store_watch", None)
    if watch is None:
        watch = state.store_watch = StoreWatch(state.runtime.store)
    return watch


def frame(event: str, data: str) -> bytes:
    return f"event: {event}\ndata: {data}\n\n".encode()


@login_required
@crm_scope("deal")
async def deal_events(request: Request) -> StreamingResponse:
    from .pages.deals import _deal_id, _deal_version

    deal_id = _deal_id(request)
    store = request.app.state.runtime.store
    watch = store_watch(request)

    async def stream() -> AsyncIterator[bytes]:
        async with watch.listening():
            version = _deal_version(store, deal_id)
            yield f"retry: {RETRY_MS}\n".encode() + frame("version", version)
            ends = time.monotonic() + STREAM_LIFETIME_S
            quiet_since = time.monotonic()
            while (left := ends - time.monotonic()) > 0:
                if await watch.changed(min(left, KEEPALIVE_S)):
                    now = _deal_version(store, deal_id)
                    if now != version:
                        version = now
                        quiet_since = time.monotonic()
                        yield frame("version", version)
                elif time.monotonic() - quiet_since >= KEEPALIVE_S:
                    quiet_since = time.monotonic()
                    yield b": keep-alive\n\n"
            # the page opens its next stream at once on this (the browser's own reconnect waits ``retry`` ms,
            # and a change in that gap would wait for it)
            yield frame("bye", "")

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def routes() -> list[Route]:
    return [Route("/deals/{deal_id}/events", deal_events)]
