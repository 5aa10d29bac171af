"""The web app's one middleware: security headers, the request's language, request body limits and server-side
sessions in one ASGI layer.

They were four layers, each wrapping ``send`` and copying the answer's headers; under load that cost a page
view about as much as the bare endpoint's whole answer. The order is the one the four layers had, outermost
first: security headers (:class:`.middleware.SecurityHeaders`), language (:func:`.i18n.request_language`; the
``Vary`` header and, after ``?lang=``, the ``lang`` cookie), body limit (:mod:`.middleware`: a declared or
streamed body over its route's limit gets 413, which carries the security and language headers but no session
cookie), then the session (:class:`.sessions.ServerSessions`: opened before the endpoint, saved when the answer
starts). So an answer's headers are the endpoint's, then the session's cookie, then ``Vary`` and the language
cookie, then each security header the answer does not set itself.
"""

from __future__ import annotations

from typing import Callable, Sequence

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from invoicebridge.core import i18n

from .i18n import COOKIE as LANGUAGE_COOKIE, request_language
from .middleware import BODY_LIMITS, DEFAULT_BODY_LIMIT, SecurityHeaders, body_limit_for, run_limited
from .sessions import ServerSessions

_VARY = (b"vary", b"Accept-Language, Cookie")  # a cache must not serve one language to all


class WebMiddleware:
    def __init__(self, app: ASGIApp, *, security: SecurityHeaders, sessions: ServerSessions,
                 language: Callable[[], str] = lambda: i18n.DEFAULT,
                 limits: Sequence[tuple[str, int]] = BODY_LIMITS, default_limit: int = DEFAULT_BODY_LIMIT) -> None:
        self.app, self.security, self.sessions, self.language = app, security, sessions, language
        self.limits, self.default_limit = tuple(limits), default_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http":
            if kind == "websocket":
                await self.sessions.open(scope)
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        code, chosen = request_language(scope, self.language)
        scope.setdefault("state", {})["language"] = code
        extra = [_VARY]
        if chosen:
            extra.append((b"set-cookie", f"{LANGUAGE_COOKIE}={code}; Path=/; Max-Age=31536000; SameSite=Lax".encode()))
        security, sessions = self.security, self.sessions

        async def outer_send(message: Message) -> None:  # the body limit's own 413: no session cookie
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])
                headers.extend(extra)
                security.add_to(headers, path)
                message = {**message, "headers": headers}
            await send(message)

        async def with_session(scope: Scope, receive: Receive, send: Send) -> None:
            before, now = await sessions.open(scope)

            async def answer_send(message: Message) -> None:
                if message["type"] == "http.response.start":
                    headers = list(message.get("headers") or [])
                    cookie = await sessions.commit(scope, before, now)
                    if cookie:
                        headers.append((b"set-cookie", cookie.encode("latin-1")))
                    headers.extend(extra)
                    security.add_to(headers, path)
                    message = {**message, "headers": headers}
                await send(message)

            await self.app(scope, receive, answer_send)

        with i18n.use_locale(code):
            limit = body_limit_for(path, self.limits, self.default_limit)
            await run_limited(with_session, scope, receive, send, limit, refuse=outer_send)
