"""The limiter of the connector kit: how many calls of one connection may be in flight, how many may start in
rolling windows and in a UTC day, and pacing by what the service's answers say is left of its budgets.

Pacing: after every answer the connector hands the limiter the :class:`Budget` readings the plugin found in the
headers ("58 calls left this minute", "0 tokens left today"). Each call started afterwards spends one from that
reading; when a reading is spent, calls wait until it refills, so calls other clients made against the same budget cost us
waits, not refusals. When it refills: after ``reset`` if the service says; else, for a service with fixed windows
that start at a second it does not name, at the latest moment the window can end given when we last saw the
budget refill (between two readings: the band the window's start lies in), so we never send early; or one
``window`` after the reading when we never saw a refill. A spent *daily* budget does not wait: the
limiter refuses with the plugin's :class:`~invoicebridge.core.errors.DailyLimitReached` until the reset.

Waits use the injected ``sleep`` against the injected ``now``, so tests move a fake clock instead of waiting.
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
from typing import Any, Awaitable, Callable, Iterable

import attrs

from ..errors import DailyLimitReached
from ..i18n import _


@attrs.frozen
class Budget:
    """What one answer said about one of the service's budgets."""

    scope: str  # the plugin's name for it: "minute", "day", "burst", ...
    remaining: float
    reset: float | None = None  # seconds until it refills, when the service says
    window: float = 60.0  # else: the longest it can take to refill
    daily: bool = False  # spent: refuse until the reset (or the next UTC midnight) instead of waiting


def seconds_to_utc_midnight(moment: dt.datetime) -> float:
    utc = moment.astimezone(dt.timezone.utc)
    midnight = utc.replace(hour=0, minute=0, second=0, microsecond=0) + dt.timedelta(days=1)
    return (midnight - utc).total_seconds()


def _default_exhausted(retry_after: float | None) -> DailyLimitReached:
    return DailyLimitReached(_("The service's daily API budget is used up; work resumes after the daily reset"),
                             retry_after=retry_after, problem="day")


def _window_end(t: float, lo: float, hi: float, window: float) -> float:
    """The latest moment the fixed window holding ``t`` can end, knowing that windows start somewhere in
    ``(lo, hi] + k * window``: the next start after ``t`` for a start at ``hi``, unless ``t`` lies inside such a band
    (then the current window may have just begun: a whole window after ``t``)."""
    m = int((t - hi) // window) + 1
    return hi + m * window if lo + m * window >= t else t + window


@attrs.define
class _Reading:
    remaining: float
    until: float  # epoch seconds at which the reading no longer holds
    daily: bool


class Limiter:
    """Limits of one connection. ``concurrent``: calls in flight (None: no limit); ``windows``: ``(calls,
    seconds)`` pairs, at most that many starts in any rolling window; ``per_day``: starts a UTC day;
    ``exhausted(retry_after)`` builds the error raised when a daily budget is spent."""

    def __init__(
        self,
        *,
        now: Callable[[], dt.datetime],
        sleep: Callable[[float], Awaitable[None]],
        concurrent: int | None = None,
        windows: Iterable[tuple[int, float]] = (),
        per_day: int | None = None,
        exhausted: Callable[[float | None], Exception] = _default_exhausted,
    ) -> None:
        self._now = now
        self._sleep = sleep
        self.concurrent = concurrent
        self._semaphore = asyncio.Semaphore(concurrent) if concurrent else None
        self.windows = [(int(n), float(s)) for n, s in windows]
        self._starts: dict[float, collections.deque[float]] = collections.defaultdict(collections.deque)
        self.per_day = per_day
        self._day: tuple[int, int] = (0, 0)  # (UTC day ordinal, calls started that day)
        self.exhausted = exhausted
        self.paced = True  # False: ignore what answers say about the budgets
        self._readings: dict[str, _Reading] = {}
        self._reported: dict[str, float] = {}  # scope -> the remaining the service last reported
        self._seen: dict[str, float] = {}  # scope -> when the service last reported it
        self._refilled: dict[str, tuple[float, float]] = {}  # scope -> (last reading before, first after) a refill
        self._paused_until = 0.0
        self._stopped_until: dt.datetime | None = None
        self.started = 0
        self.in_flight = 0
        self.max_in_flight = 0

    # -- taking a slot
    async def __aenter__(self) -> "Limiter":
        if self._semaphore is not None:
            await self._semaphore.acquire()
        try:
            while True:
                wait = self._wait_or_start()
                if wait <= 0:
                    break
                await self._sleep(wait)
        except BaseException:
            if self._semaphore is not None:
                self._semaphore.release()
            raise
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.in_flight -= 1
        if self._semaphore is not None:
            self._semaphore.release()

    def _wait_or_start(self) -> float:
        """Seconds to wait before a call may start, or 0 after recording the start. Raises when the day is spent."""
        moment = self._now()
        t = moment.timestamp()
        day = moment.astimezone(dt.timezone.utc).date().toordinal()
        if self._stopped_until is not None:
            if moment < self._stopped_until:
                raise self.exhausted((self._stopped_until - moment).total_seconds())
            self._stopped_until = None
        if self.per_day is not None and self._day[0] == day and self._day[1] >= self.per_day:
            raise self.exhausted(seconds_to_utc_midnight(moment))
        wait = self._paused_until - t
        for scope, reading in list(self._readings.items()):
            if reading.until <= t:
                del self._readings[scope]
            elif reading.remaining <= 0:
                if reading.daily:
                    self._stopped_until = dt.datetime.fromtimestamp(reading.until, dt.timezone.utc)
                    del self._readings[scope]
                    raise self.exhausted(reading.until - t)
                wait = max(wait, reading.until - t)
        for limit, seconds in self.windows:
            starts = self._starts[seconds]
            while starts and starts[0] <= t - seconds:
                starts.popleft()
            if len(starts) >= limit:
                wait = max(wait, starts[0] + seconds - t)
        if wait > 0:
            return wait
        for _limit, seconds in self.windows:
            self._starts[seconds].append(t)
        self._day = (day, (self._day[1] if self._day[0] == day else 0) + 1)
        for reading in self._readings.values():
            reading.remaining -= 1
        self.started += 1
        return 0.0

    # -- what the service said
    def observe(self, budgets: Iterable[Budget]) -> None:
        """Readings from one answer, taken while its call still holds its slot. Calls in flight besides it may
        not be counted yet by the service, so they are taken off what it says is left."""
        if not self.paced:
            return
        moment = self._now()
        t = moment.timestamp()
        others = max(0, self.in_flight - 1)
        for budget in budgets:
            before = self._reported.get(budget.scope)
            if before is not None and budget.remaining > before + self.in_flight:  # more than answers out of order
                band = (self._seen[budget.scope], t)  # a window started in here; keep the narrowest we saw
                known = self._refilled.get(budget.scope)
                if band[1] - band[0] < budget.window and (known is None or band[1] - band[0] < known[1] - known[0]):
                    self._refilled[budget.scope] = band
            self._reported[budget.scope], self._seen[budget.scope] = budget.remaining, t
            if budget.reset is not None:
                until = t + max(0.0, budget.reset)
            elif budget.daily:
                until = t + seconds_to_utc_midnight(moment)
            elif budget.scope in self._refilled:
                until = _window_end(t, *self._refilled[budget.scope], budget.window)
            else:
                until = t + budget.window
            self._readings[budget.scope] = _Reading(budget.remaining - others, until, budget.daily)

    def pause(self, seconds: float) -> None:
        """No call of this connection starts for ``seconds`` (the service said to wait, e.g. a 429)."""
        self._paused_until = max(self._paused_until, self._now().timestamp() + max(0.0, seconds))

    def stop_for_day(self, retry_after: float | None) -> None:
        """The service said the day's budget is spent: refuse calls without sending them for ``retry_after``
        seconds, or until the next UTC midnight when it gave no time."""
        now = self._now()
        seconds = retry_after if retry_after is not None else seconds_to_utc_midnight(now)
        until = now + dt.timedelta(seconds=seconds)
        if self._stopped_until is None or until > self._stopped_until:
            self._stopped_until = until
