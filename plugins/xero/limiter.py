"""Per-tenant client-side limits (fact sheet §10): at most 5 requests in flight, 60 starts in any rolling minute
(so never more than 60 in Xero's fixed minute windows either) and 5,000 a UTC day, after which it raises
:class:`DailyLimitReached` without sending (the day's budget is counted from this process's own calls).

One :class:`TenantLimiter` per tenant lives in ``runtime.cache``; it waits with ``runtime.sleep`` against
``runtime.now`` so tests move a fake clock instead of waiting.
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
from typing import Any, Awaitable, Callable

from invoicebridge.core.i18n import _, format_number

CONCURRENT = 5
PER_MINUTE = 60
PER_DAY = 5000
WINDOW = 60.0


class TenantLimiter:
    def __init__(
        self,
        *,
        now: Callable[[], dt.datetime],
        sleep: Callable[[float], Awaitable[None]],
        concurrent: int = CONCURRENT,
        per_minute: int = PER_MINUTE,
        per_day: int = PER_DAY,
    ) -> None:
        self._now = now
        self._sleep = sleep
        self._per_minute = per_minute
        self._semaphore = asyncio.Semaphore(concurrent)
        self._starts: collections.deque[float] = collections.deque()
        self._per_day = per_day
        self._day: tuple[int, int] = (0, 0)  # (UTC day ordinal, calls started that day)
        self._stopped_until: dt.datetime | None = None  # Xero said the day's calls are used up until then
        self.started = 0
        self.in_flight = 0
        self.max_in_flight = 0

    def _t(self) -> float:
        return self._now().timestamp()

    async def __aenter__(self) -> "TenantLimiter":
        await self._semaphore.acquire()
        try:
            while True:
                moment = self._now()
                t = moment.timestamp()
                day = moment.astimezone(dt.timezone.utc).date().toordinal()
                if self._stopped_until is not None and moment < self._stopped_until:
                    from invoicebridge.core.errors import DailyLimitReached

                    wait = (self._stopped_until - moment).total_seconds()
                    raise DailyLimitReached(_("Xero's daily API limit for this organisation is used up; calls resume in %(n)s s")
                                            % {"n": format_number(int(wait) + 1)}, backend="xero", problem="day", retry_after=wait)
                if self._day[0] == day and self._day[1] >= self._per_day:
                    from invoicebridge.core.errors import DailyLimitReached

                    raise DailyLimitReached(_("This Xero organisation's %(n)s API calls for today are used up; the rest will go "
                                              "after midnight UTC") % {"n": format_number(self._per_day)}, backend="xero", problem="day")
                while self._starts and self._starts[0] <= t - WINDOW:
                    self._starts.popleft()
                if len(self._starts) < self._per_minute:
                    self._starts.append(t)
                    self._day = (day, (self._day[1] if self._day[0] == day else 0) + 1)
                    self.started += 1
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

    def stop_for_day(self, retry_after: float | None) -> None:
        """Xero answered 429 ``day`` (fact sheet §10: stop until reset): refuse this tenant's calls without sending
        them for ``retry_after`` seconds (Xero's windows reset at a different time per tenant), or until the next
        UTC midnight when Xero gave no Retry-After."""
        now = self._now()
        if retry_after is not None:
            until = now + dt.timedelta(seconds=retry_after)
        else:
            midnight = now.astimezone(dt.timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
            until = midnight + dt.timedelta(days=1)
        if self._stopped_until is None or until > self._stopped_until:
            self._stopped_until = until


def limiter_for(runtime: Any, tenant_id: str) -> TenantLimiter:
    key = ("xero", "limiter", tenant_id)
    limiter = runtime.cache.get(key)
    if limiter is None:
        limiter = runtime.cache[key] = TenantLimiter(now=runtime.now, sleep=runtime.sleep)
    return limiter
