"""ASGI pieces of the web app's middleware: request body limits enforced while streaming, and security headers.

:func:`run_limited` refuses a body over its route's limit with 413 before the app reads it: at once when the
``Content-Length`` says so, otherwise as soon as the chunks received pass the limit (the app is never handed
more than the limit, and the rest of the body is not read). :class:`SecurityHeaders` are the
Content-Security-Policy, ``X-Content-Type-Options``, ``Referrer-Policy`` and, behind HTTPS, HSTS of every answer.
The web app runs both inside its one middleware (:mod:`.web_stack`).
"""

from __future__ import annotations

import json
from typing import Callable, Iterable, Sequence

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from invoicebridge.core.i18n import _


KB = 1024
MB = 1024 * KB
# (path prefix, most bytes a request body may have); the first prefix that matches wins.
BODY_LIMITS: tuple[tuple[str, int], ...] = (
    ("/webhooks/", 256 * KB),  # a webhook delivery is a few events
    ("/api/", 1 * MB),  # JSON: an invoice with its lines, a bulk run's deal ids
    ("/sandbox/", 4 * MB),  # the emulated APIs mounted by the demo take batches of invoices
)
DEFAULT_BODY_LIMIT = 256 * KB  # forms: sign-in, settings, an invoice with its lines


def body_limit_for(path: str, limits: Sequence[tuple[str, int]] = BODY_LIMITS, default: int = DEFAULT_BODY_LIMIT) -> int:
    for prefix, limit in limits:
        if path.startswith(prefix):
            return limit
    return default


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` when the body passes the limit while the app reads it: the app's HTTP error
    handler answers 413 (JSON or a page, as for any other HTTP error)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, _too_large_message(limit))


async def run_limited(app: ASGIApp, scope: Scope, receive: Receive, send: Send, limit: int,
                      refuse: Send | None = None) -> None:
    """Run ``app`` with its request body limited to ``limit`` bytes: 413 at once for a larger declared length,
    else as soon as the chunks received pass it (unless the answer has started). ``refuse`` sends that 413
    (default ``send``)."""
    refuse = refuse or send
    declared = _content_length(scope)
    if declared is not None and declared > limit:
        await _too_large(scope, refuse, limit)
        return
    received = 0
    started = False

    async def limited_receive() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise BodyTooLarge(limit)
        return message

    async def tracking_send(message: Message) -> None:
        nonlocal started
        if message["type"] == "http.response.start":
            started = True
        await send(message)

    try:
        await app(scope, limited_receive, tracking_send)
    except BodyTooLarge:
        if not started:
            await _too_large(scope, refuse, limit)
    except Exception as exc:  # an exception handler may have wrapped it; find it in the chain
        if _caused_by_body_too_large(exc):
            if not started:
                await _too_large(scope, refuse, limit)
            return
        raise


def _caused_by_body_too_large(exc: BaseException | None) -> bool:
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, BodyTooLarge):
            return True
        if isinstance(exc, BaseExceptionGroup):
            return any(_caused_by_body_too_large(e) for e in exc.exceptions)
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers") or ():
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _human(limit: int) -> str:
    return f"{limit // MB} MB" if limit % MB == 0 else f"{limit // KB} KB"


def _too_large_message(limit: int) -> str:
    return _("The request body is over %(limit)s; send less at a time") % {"limit": _human(limit)}


async def _too_large(scope: Scope, send: Send, limit: int) -> None:
    body = json.dumps({"error": "TooLarge", "message": _too_large_message(limit)}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


# ---- security headers ------------------------------------------------------------------------------------

CSP_BASE = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
            "object-src 'none'; base-uri 'self'; form-action 'self'")


class SecurityHeaders:
    """What every answer gets (added by :class:`.web_stack.WebMiddleware`). ``frame_ancestors`` is a list of (path
    prefix, allowed sources) that may be embedded by another site (the plugins declare them: an in-CRM panel);
    every other page may not be framed at all."""

    def __init__(self, *, https: bool = False,
                 frame_ancestors: Callable[[], Iterable[tuple[str, Sequence[str]]]] | Iterable[tuple[str, Sequence[str]]] = ()) -> None:
        self.https = https
        self._frame_ancestors = frame_ancestors
        self._static = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"same-origin")]
        if https:
            self._static.append((b"strict-transport-security", b"max-age=31536000; includeSubDomains"))
        self._csp: dict[str, bytes] = {}  # path -> its Content-Security-Policy, when the rules are a fixed list

    def ancestors_for(self, path: str) -> str:
        rules = self._frame_ancestors() if callable(self._frame_ancestors) else self._frame_ancestors
        for prefix, sources in rules:
            if path == prefix or path.startswith(prefix.rstrip("/") + "/"):
                cleaned = [s for s in sources if s and all(c not in s for c in ";,\r\n")]
                if cleaned:
                    return " ".join(cleaned)
        return "'none'"

    def csp_for(self, path: str) -> bytes:
        if callable(self._frame_ancestors):  # rules that may change: asked every time
            return f"{CSP_BASE}; frame-ancestors {self.ancestors_for(path)}".encode()
        csp = self._csp.get(path)
        if csp is None:
            if len(self._csp) >= 4096:
                self._csp.clear()
            csp = self._csp[path] = f"{CSP_BASE}; frame-ancestors {self.ancestors_for(path)}".encode()
        return csp

    def add_to(self, headers: list[tuple[bytes, bytes]], path: str) -> None:
        """Add each security header the answer does not set itself."""
        present = {name.lower() for name, _ in headers}
        add = [(b"content-security-policy", self.csp_for(path)), *self._static]
        headers.extend((name, value) for name, value in add if name not in present)
