"""Per-tenant client-side limits (fact sheet §10): at most 5 requests in flight and 60 starts a minute.

One :class:`TenantLimiter` per tenant lives in ``runtime.cache``; it waits with ``runtime.sleep`` against
``runtime.now`` so tests move a fake clock instead of waiting.
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
from typing import Any, Awaitable, Callable

CONCURRENT = 5
PER_MINUTE = 60
WINDOW = 60.0


class TenantLimiter:
    def __init__(
        self,
        *,
        now: Callable[[], dt.datetime],
        sleep: Callable[[float], Awaitable[None]],
        concurrent: int = CONCURRENT,
        per_minute: int = PER_MINUTE,
    ) -> None:
        self._now = now
        self._sleep = sleep
        self._per_minute = per_minute
        self._semaphore = asyncio.Semaphore(concurrent)
        self._starts: collections.deque[float] = collections.deque()
        self.in_flight = 0
        self.max_in_flight = 0

    def _t(self) -> float:
        return self._now().timestamp()

    async def __aenter__(self) -> "TenantLimiter":
        await self._semaphore.acquire()
        try:
            while True:
                t = self._t()
                while self._starts and self._starts[0] <= t - WINDOW:
                    self._starts.popleft()
                if len(self._starts) < self._per_minute:
                    self._starts.append(t)
                    break
                await self._sleep(self._starts[0] + WINDOW - t)
        except BaseException:
            self._semaphore.release()
            raise
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.in_flight -= 1
        self._semaphore.release()


def limiter_for(runtime: Any, tenant_id: str) -> TenantLimiter:
    key = ("xero", "limiter", tenant_id)
    limiter = runtime.cache.get(key)
    if limiter is None:
        limiter = runtime.cache[key] = TenantLimiter(now=runtime.now, sleep=runtime.sleep)
    return limiter
