"""Route lookup by the path's first segment: Starlette tries every route in turn (about 50 regular expressions
before the API's), which cost a web request more than the whole bare endpoint does.

:class:`IndexedRouter` keeps, for each literal first segment (``api``, ``deals``, ``sandbox``), the routes that
can match a path starting with it, in their original order, plus every route whose first segment is a
parameter. The first full match among those is the one Starlette's scan would find, since no other route can
match the path at all; anything else (a partial match for a 405, the trailing-slash redirect, 404) falls back to
Starlette's own scan, unchanged.
"""

from __future__ import annotations

from starlette.routing import Match, Route, Router
from starlette.types import Receive, Scope, Send

_ANY = "\x00any"


def first_segment(path: str) -> str:
    """The literal first segment of a route's path, or :data:`_ANY` when it is a parameter."""
    head = path.lstrip("/").split("/", 1)[0]
    return _ANY if "{" in head else head


class IndexedRouter(Router):
    _index: dict[str, list] | None = None
    _indexed_count = -1

    def _candidates(self, segment: str) -> list:
        if self._index is None or self._indexed_count != len(self.routes):  # routes may be added after start
            index: dict[str, list] = {}
            anywhere = []
            for route in self.routes:
                path = getattr(route, "path", None)
                key = _ANY if path is None or (path == "" and not isinstance(route, Route)) else first_segment(path or "/")
                if key == _ANY:
                    anywhere.append(route)
                    for routes in index.values():
                        routes.append(route)
                else:
                    index.setdefault(key, list(anywhere)).append(route)
            index[_ANY] = anywhere
            self._index, self._indexed_count = index, len(self.routes)
        return self._index.get(segment, self._index[_ANY])

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope.get("root_path"):
            scope.setdefault("router", self)
            for route in self._candidates(first_segment(scope["path"]) if "{" not in scope["path"] else _ANY):
                match, child_scope = route.matches(scope)
                if match is Match.FULL:
                    scope["route"] = route
                    scope.update(child_scope)
                    await route.handle(scope, receive, send)
                    return
        await super().app(scope, receive, send)
