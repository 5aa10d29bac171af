"""Rendered pages kept until anything they show can have changed: a busy page is rendered once, not per view.

A page is kept under a key naming everything it is drawn from: the store's generation (it moves on every write,
in this process or another, so any new invoice, status, audit entry or setting makes a new key), the request's
language and query, the session's user, role and CSRF token, and the identity of in-memory snapshots the page
shows (a CRM deal kept by the pipeline: a fresh snapshot is a new object). Pages with a one-time message
(``flash``) are never kept. The newest :data:`SIZE` pages are kept; the oldest go first.

A page drawn with ``still`` (a callable that says whether the in-memory snapshots it shows are still the ones a
view would use now) may also be served in front of the middleware stack by :mod:`.kept_answers`, for the same
session and request headers, until the store's generation moves, ``still()`` says no, or a few seconds pass.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable

from starlette.requests import Request
from starlette.responses import Response

from invoicebridge.core.i18n import current_locale

from .security import csrf_token

SIZE = 256
# the request scope's entry through which a page says it may be served in front of the stack (its ``still``)
IN_FRONT = "invoicebridge.page_in_front"


class PageCache:
    def __init__(self, size: int = SIZE) -> None:
        self.size = size
        self._pages: "OrderedDict[tuple, tuple[tuple, bytes, int, str | None, tuple]]" = OrderedDict()
        self.hits = self.misses = 0
        # (path, language) -> (store generation, status, headers, body): whole API answers as they went out,
        # served by .kept_answers before the middleware stack
        self.answers: dict[tuple, tuple] = {}
        # (path, query, Cookie and Accept-Language headers) -> (store generation, good until, still, headers, body):
        # whole pages as they went out, served by .kept_answers before the middleware stack
        self.pages_in_front: dict[tuple, tuple] = {}
        self.front_hits = 0

    def keep_answer(self, key: tuple, answer: tuple) -> None:
        _keep(self.answers, key, answer, self.size)

    def keep_in_front(self, key: tuple, page: tuple) -> None:
        _keep(self.pages_in_front, key, page, self.size)

    def key(self, request: Request, name: str, *parts: Any) -> tuple:
        session = request.session
        store = request.app.state.runtime.store
        scope = request.scope
        return (name, store.generation(), current_locale(), scope["path"], scope.get("query_string", b""),
                session.get("user"), session.get("csrf"), tuple(session.get("deals") or ()), *parts)

    def get(self, key: tuple, pinned: tuple = ()) -> Response | None:
        found = self._pages.get(key)
        if found is None or len(found[0]) != len(pinned) or any(a is not b for a, b in zip(found[0], pinned, strict=True)):
            self.misses += 1
            return None
        self._pages.move_to_end(key)
        self.hits += 1
        return _KeptResponse(*found[1:])

    def put(self, key: tuple, response: Response, pinned: tuple = ()) -> Response:
        """Keep ``response`` (its body; a template response has rendered it already); ``pinned`` are the
        snapshot objects the page was drawn from, held so that their identity cannot be reused while kept."""
        body = bytes(response.body)
        # the headers a fresh Response(body, status, media type) would have, built once
        raw = Response(body, status_code=response.status_code, media_type=response.media_type).raw_headers
        self._pages[key] = (pinned, body, response.status_code, response.media_type, tuple(raw))
        self._pages.move_to_end(key)
        while len(self._pages) > self.size:
            self._pages.popitem(last=False)
        return response


class _KeptResponse(Response):
    """A kept page: its body and headers as they were built when it was kept (no rendering, no header building)."""

    def __init__(self, body: bytes, status_code: int, media_type: str | None, raw_headers: tuple) -> None:
        self.body, self.status_code, self.media_type, self.background = body, status_code, media_type, None
        self.raw_headers = list(raw_headers)  # a copy: a caller may still add headers (a cookie)


def _keep(kept: dict, key: tuple, value: tuple, size: int) -> None:
    if len(kept) >= size and key not in kept:
        kept.pop(next(iter(kept)))  # the oldest kept goes first
    kept[key] = value


def cached_page(request: Request, name: str, *parts: Any, pinned: tuple = (), still: Callable[[], bool] | None = None,
                render: Callable[[], Response]) -> Response:
    """The page ``render()`` draws, from the cache when nothing it shows changed. ``parts`` are further values
    the page depends on (hashable); ``pinned`` are snapshot objects compared by identity. ``still``: whether
    ``parts`` and ``pinned`` are still what this request would find, asked without reading anything remote; with
    it the page may be served in front of the stack (see the module's text)."""
    cache = _cache_of(request)
    if request.session.get("flash"):
        return render()
    csrf_token(request)  # the session's token exists before it goes into the key (a page never carries another's)
    if still is not None:
        request.scope[IN_FRONT] = still
    key = cache.key(request, name, *parts, *(id(p) for p in pinned))
    return cache.get(key, pinned) or cache.put(key, render(), pinned)


def cached_answer(request: Request, *parts: Any, render: Callable[[], Response]) -> Response:
    """An answer that depends on the store and ``parts`` only (no session: the JSON API), kept like a page."""
    cache = _cache_of(request)
    key = ("answer", request.app.state.runtime.store.generation(), current_locale(), *parts)
    return cache.get(key) or cache.put(key, render())


def _cache_of(request: Request) -> PageCache:
    state = request.app.state
    cache = getattr(state, "page_cache", None)
    if cache is None:
        cache = state.page_cache = PageCache()
    return cache
