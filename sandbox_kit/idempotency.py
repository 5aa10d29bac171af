"""Idempotency-key replay: the first answer to a key is stored and replayed for the same request within a
window; the same key with a different request is refused (the backend words the refusal)."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
from typing import Awaitable, Callable

from attrs import define, field
from starlette.requests import Request
from starlette.responses import Response


class KeyReused(Exception):
    """The key was used with a different request inside the window."""


@define
class IdempotencyStore:
    clock: Callable[[], dt.datetime]
    window: dt.timedelta
    max_key_length: int = 128
    _seen: dict = field(factory=dict)
    _locks: dict = field(factory=dict)

    @staticmethod
    async def fingerprint(request: Request) -> str:
        body = await request.body()
        return hashlib.sha256(b"\n".join([request.method.encode(), request.url.path.encode(),
                                          request.url.query.encode(), body])).hexdigest()

    async def run(self, key: str, request: Request, handler: Callable[[], Awaitable[Response]]) -> Response:
        """The stored answer for ``key`` or the handler's (then stored). A concurrent repeat waits for the first."""
        fingerprint = await self.fingerprint(request)
        async with self._locks.setdefault(key, asyncio.Lock()):
            now = self.clock()
            seen = self._seen.get(key)
            if seen and seen["at"] + self.window > now:
                if seen["fingerprint"] != fingerprint:
                    raise KeyReused(key)
                return Response(seen["body"], status_code=seen["status"], headers=seen["headers"])
            response = await handler()
            self._seen[key] = {"fingerprint": fingerprint, "at": now, "status": response.status_code,
                               "body": response.body, "headers": {k: v for k, v in response.headers.items()
                                                                  if k.lower() != "content-length"}}
            return response
