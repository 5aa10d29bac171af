"""Kept JSON API answers served at the top of the stack, before any middleware, router or endpoint runs.

A GET of a route in :data:`KEPT_PATHS` that passes the full stack (API-key check, language, security headers,
body limit, sessions, the endpoint) with a 200 and no cookie set is recorded as it went out: status, headers and
body bytes, under its path and language, with the store's generation taken before the request. The next such
GET with a live API key, for the same path and language and while the store's generation has not moved, gets
those bytes again without the stack: the same answer the stack would give, since these answers depend on the
store and the language only (any write, in this process or another, moves the generation; see
``core.store_reads``), and the key is checked first (:class:`.security.ApiKeys`: a revoked key falls through
and gets the stack's 401).

Pages are kept in front the same way, for a session: a GET with our session cookie whose page said it may be
(``page_cache.cached_page(still=...)``) and went out whole with a 200 and no cookie set, while neither the store's
generation nor the session moved, is recorded under its path, query and the request's Cookie and Accept-Language
headers (everything the session, the language and the page's key are drawn from). The same request gets those
bytes again without the stack while the generation has not moved (a sign-out, a changed session, a new invoice
all move it), the session needs nothing written (:meth:`.sessions.ServerSessions._quiet_until`: alive, its
last-seen time not due), the page's ``still()`` holds (the deal snapshot it shows is the one a view would use
now), and for at most :data:`PAGE_MAX_AGE_S` (what a page shows from outside the store, such as whether the
accounting user may approve, is asked again at least that often).

Anything else goes the full way: other methods and paths, a request body, an API call with a session cookie
(the session layer may answer it with a cookie), a missing or refused key, an answer not kept yet.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .i18n import request_language
from .page_cache import IN_FRONT, PageCache
from .security import ApiKeys
from .sessions import COOKIE as SESSION_COOKIE

log = logging.getLogger("invoicebridge.web")

# Answers that depend on the store and the language only (``page_cache.cached_answer`` keeps them in the stack).
KEPT_PATHS = re.compile(r"/api/deals/[^/]+/invoices")
_SESSION = SESSION_COOKIE.encode("latin-1") + b"="
_BODY_HEADERS = (b"content-length", b"transfer-encoding")
PAGE_MAX_AGE_S = 5.0


class KeptAnswers:
    def __init__(self, app: ASGIApp, *, store: Any, keys: ApiKeys, cache: PageCache,
                 language: Callable[[], str], now: Callable[[], float]) -> None:
        self.app, self.store, self.keys, self.cache, self.language = app, store, keys, cache, language
        self.now = now  # the sessions' clock, in seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        if scope.get("query_string") or not KEPT_PATHS.fullmatch(scope["path"]):
            await self._page(scope, receive, send)
            return
        try:
            key = self._key(scope)
            generation = self.store.generation() if key is not None else None
            kept = self.cache.answers.get(key) if key is not None else None
        except Exception:  # the full stack answers (and reports) whatever went wrong here
            log.exception("kept API answers: lookup failed; answering through the full stack")
            key = kept = None
        if kept is not None and kept[0] == generation:
            self.cache.hits += 1
            await send({"type": "http.response.start", "status": kept[1], "headers": kept[2]})
            await send({"type": "http.response.body", "body": kept[3]})
            return
        if key is None:
            await self.app(scope, receive, send)
            return
        await self._record(scope, receive, send, key, generation)

    def _key(self, scope: Scope) -> tuple | None:
        """(path, language) when this request may be answered from what is kept: a live key, no body, no
        session cookie; None otherwise."""
        auth = api_key = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                auth = value if auth is None else auth
            elif name == b"x-api-key":
                api_key = value if api_key is None else api_key
            elif name == b"cookie" and _SESSION in value:
                return None
            elif name in _BODY_HEADERS:
                return None
        text = (auth or b"").decode("latin-1")
        presented = text[7:].strip() if text.lower().startswith("bearer ") else (api_key or b"").decode("latin-1").strip()
        if not self.keys.ok(presented):
            return None
        return scope["path"], request_language(scope, self.language)[0]

    async def _record(self, scope: Scope, receive: Receive, send: Send, key: tuple, generation: Any) -> None:
        start: dict[str, Any] = {}
        chunks: list[bytes] = []
        whole = False

        async def recording(message: Message) -> None:
            nonlocal whole
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                whole = not message.get("more_body", False)
            await send(message)

        await self.app(scope, receive, recording)
        headers = [(bytes(n), bytes(v)) for n, v in start.get("headers") or ()]
        if (whole and start.get("status") == 200 and not any(n.lower() == b"set-cookie" for n, _v in headers)
                and self.store.generation() == generation):
            self.cache.keep_answer(key, (generation, 200, headers, b"".join(chunks)))

    # ---- pages ---------------------------------------------------------------------------------------

    async def _page(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = _page_key(scope)
        if key is None:
            await self.app(scope, receive, send)
            return
        try:
            generation = self.store.generation()
            kept = self.cache.pages_in_front.get(key)
            hit = kept is not None and kept[0] == generation and self.now() < kept[1] and kept[2]()
        except Exception:  # the full stack answers (and reports) whatever went wrong here
            log.exception("pages kept in front: lookup failed; answering through the full stack")
            await self.app(scope, receive, send)
            return
        if hit and kept is not None:
            self.cache.front_hits += 1
            await send({"type": "http.response.start", "status": 200, "headers": kept[3]})
            await send({"type": "http.response.body", "body": kept[4]})
            return
        await self._record_page(scope, receive, send, key, generation)

    async def _record_page(self, scope: Scope, receive: Receive, send: Send, key: tuple, generation: Any) -> None:
        headers: list[tuple[bytes, bytes]] | None = None  # set when the answer may be kept
        chunks: list[bytes] = []
        whole = False

        async def recording(message: Message) -> None:
            nonlocal headers, whole
            if message["type"] == "http.response.start":
                if message["status"] == 200 and scope.get(IN_FRONT) is not None:
                    headers = [(bytes(n), bytes(v)) for n, v in message.get("headers") or ()]
            elif message["type"] == "http.response.body" and headers is not None:
                chunks.append(message.get("body", b""))
                whole = not message.get("more_body", False)
            await send(message)

        await self.app(scope, receive, recording)
        if headers is None or not whole or any(n.lower() == b"set-cookie" for n, _v in headers):
            return
        quiet_until = (scope.get("session_row") or {}).get("quiet_until")
        now = self.now()
        if quiet_until is None or now >= quiet_until or self.store.generation() != generation:
            return
        self.cache.keep_in_front(key, (generation, min(quiet_until, now + PAGE_MAX_AGE_S), scope[IN_FRONT],
                                       headers, b"".join(chunks)))


def _page_key(scope: Scope) -> tuple | None:
    """(path, query, Cookie headers, Accept-Language headers) of a GET that carries our session cookie and no
    body; None for any other."""
    cookies: list[bytes] = []
    accept: list[bytes] = []
    session = False
    for name, value in scope["headers"]:
        if name == b"cookie":
            cookies.append(value)
            session = session or _SESSION in value
        elif name == b"accept-language":
            accept.append(value)
        elif name in _BODY_HEADERS:
            return None
    if not session:
        return None
    return scope["path"], scope.get("query_string", b""), tuple(cookies), tuple(accept)
