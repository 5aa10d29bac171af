"""Rate limits: a pure retry policy and a per-connection gate every request waits on.

Pipedrive limits bursts per token in a rolling 2-second window and spends a daily token budget per company.
After a 429 a client must stop sending (Cloudflare blocks clients that keep firing), so the gate is shared by
all requests of a connection: one 429 closes it for everyone until the reset. When the daily budget is spent
the gate raises :class:`DailyLimitReached` without sending anything until the reset time.

Times are taken from ``runtime.now()`` and waits go through ``runtime.sleep``, so tests assert exact delays.
"""

from __future__ import annotations

import datetime as dt
from typing import Awaitable, Callable

import attrs

from invoicebridge.core.errors import BackendError, DailyLimitReached, RateLimited

IDEMPOTENT = frozenset({"GET", "HEAD", "PATCH", "PUT", "DELETE", "OPTIONS"})
MAX_ATTEMPTS = 4
BASE_BACKOFF = 1.0
MAX_BACKOFF = 30.0
DEFAULT_429_WAIT = 2.0  # one burst window when Pipedrive gives no header


@attrs.frozen
class RetryDecision:
    retry: bool
    delay: float = 0.0
    reason: str = ""


def retry_decision(error: BackendError, attempt: int, method: str, *, jitter: float = 0.0,
                   max_attempts: int = MAX_ATTEMPTS) -> RetryDecision:
    """Whether to try again after ``error`` on ``attempt`` (1-based) and how long to wait first.

    * 429: wait ``Retry-After`` / ``x-ratelimit-reset`` (else one 2 s window) plus ``jitter``; never for a spent
      daily budget.
    * 5xx and transport errors: exponential backoff (1, 2, 4 s... capped) plus ``jitter``, only for idempotent
      methods: a POST that creates an activity or a note is never blindly retried.
    * anything else: no retry.
    """
    if attempt >= max_attempts:
        return RetryDecision(False, reason="gave up after %d attempts" % attempt)
    if isinstance(error, DailyLimitReached):
        return RetryDecision(False, reason="daily budget spent")
    if isinstance(error, RateLimited) and error.problem == "blocked":
        return RetryDecision(False, reason="blocked by Pipedrive's firewall: never keep sending (fact sheet §7.1)")
    if isinstance(error, RateLimited):
        wait = error.retry_after if error.retry_after is not None else DEFAULT_429_WAIT
        return RetryDecision(True, wait + jitter, "rate limited")
    if error.retryable and method.upper() in IDEMPOTENT:
        return RetryDecision(True, min(MAX_BACKOFF, BASE_BACKOFF * 2 ** (attempt - 1)) + jitter, "server or network error")
    return RetryDecision(False, reason="not retryable")


def seconds_until_midnight_utc(now: dt.datetime) -> float:
    tomorrow = (now + dt.timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return (tomorrow - now).total_seconds()


@attrs.define
class Gate:
    """Shared by every request of one connection (kept in ``runtime.cache``).

    ``closed_until``: no request may start before this time (after a 429 or an exhausted burst window).
    ``daily_until``: the daily budget is spent until this time; requests fail fast with DailyLimitReached.
    ``burst``/``window``: at most ``burst`` requests start in any ``window`` seconds (spreads bursts).
    """

    burst: int = 20
    window: float = 2.0
    closed_until: dt.datetime | None = None
    daily_until: dt.datetime | None = None
    starts: list = attrs.field(factory=list)

    async def wait(self, now: Callable[[], dt.datetime], sleep: Callable[[float], Awaitable[None]]) -> None:
        """Wait until a request may start, or raise DailyLimitReached."""
        current = now()
        if self.daily_until is not None:
            if current < self.daily_until:
                raise DailyLimitReached(
                    "The Pipedrive company's daily API budget is spent; work resumes after the daily reset",
                    backend="pipedrive", retry_after=(self.daily_until - current).total_seconds(), problem="day")
            self.daily_until = None
        if self.closed_until is not None and current < self.closed_until:
            await sleep((self.closed_until - current).total_seconds())
            current = now()
        horizon = current - dt.timedelta(seconds=self.window)
        self.starts = [t for t in self.starts if t > horizon]
        if len(self.starts) >= self.burst:
            await sleep((self.starts[0] - horizon).total_seconds())
            current = now()
        self.starts.append(current)

    def close_for(self, seconds: float, now: dt.datetime) -> None:
        until = now + dt.timedelta(seconds=max(0.0, seconds))
        if self.closed_until is None or until > self.closed_until:
            self.closed_until = until

    def spend_day(self, retry_after: float | None, now: dt.datetime) -> None:
        seconds = retry_after if retry_after else seconds_until_midnight_utc(now)
        self.daily_until = now + dt.timedelta(seconds=seconds)

    def observe(self, remaining: float | None, reset: float | None, now: dt.datetime) -> None:
        """Use the rate-limit headers of a successful answer: an empty window closes the gate until reset."""
        if remaining is not None and remaining <= 0:
            self.close_for(reset if reset is not None else self.window, now)
