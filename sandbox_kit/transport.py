"""A transport to a sandbox that can lose answers after the sandbox has done the work.

``transport = LossyTransport(sandbox_app)`` routes a client to the sandbox in-process (an ``httpx.ASGITransport``);
``transport.drop_next_answer("POST", "/invoices")`` lets the next matching request be handled in full (the sandbox
commits it) and then makes the client see the connection drop (``httpx.RemoteProtocolError``), the case an
idempotency key exists for: the client cannot know whether its write happened.
"""

from __future__ import annotations

from typing import Any

import httpx
from attrs import define


@define
class Drop:
    method: str  # "" for any
    path: str  # a substring of the request's path ("" for any)

    def matches(self, request: httpx.Request) -> bool:
        return (not self.method or request.method == self.method.upper()) and self.path in request.url.path


class LossyTransport(httpx.ASGITransport):
    def __init__(self, app: Any, **kwargs: Any) -> None:
        super().__init__(app=app, **kwargs)
        self.armed: list[Drop] = []
        self.dropped: list[tuple[str, str]] = []  # (method, path) of the answers lost, for assertions

    def drop_next_answer(self, method: str = "", path: str = "", *, times: int = 1) -> None:
        """Lose the answer of the next ``times`` requests matching ``method`` and ``path`` (a substring)."""
        self.armed.extend(Drop(method, path) for _ in range(times))

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await super().handle_async_request(request)
        drop = next((d for d in self.armed if d.matches(request)), None)
        if drop is None:
            return response
        self.armed.remove(drop)
        await response.aclose()
        self.dropped.append((request.method, request.url.path))
        raise httpx.RemoteProtocolError("sandbox: the connection dropped after the request was handled", request=request)
