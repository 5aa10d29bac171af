"""The retry policy of the connector kit: a pure ``(error, attempt, method) -> RetryDecision``.

Rate limits wait ``Retry-After`` (or a default when the service gives none); a spent daily budget and problems the
plugin names final (a firewall block, say) are never retried. Server and transport errors back off exponentially,
with jitter, for the methods that are safe to send twice (every method when each write carries an idempotency key).
"""

from __future__ import annotations

import random
from typing import Callable

import attrs

from ..errors import BackendError, DailyLimitReached, RateLimited

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "PATCH", "DELETE"})


def proportional_jitter(delay: float) -> float:
    """Up to a tenth of the wait (at most one second) on top, so clients that failed together retry apart."""
    return random.uniform(0, min(1.0, delay * 0.1))


@attrs.frozen
class RetryDecision:
    retry: bool
    delay: float = 0.0
    reason: str = attrs.field(default="", eq=False)


@attrs.frozen
class RetryPolicy:
    """``jitter(delay)`` gives the extra seconds for a wait of ``delay``; inject ``lambda d: 0.0`` for exact tests.

    ``retry_methods``: the methods retried after a server or transport error (None: every method, for a service
    whose writes carry idempotency keys). ``final_problems``: ``RateLimited.problem`` values never retried.
    """

    max_attempts: int = 4
    base: float = 0.5
    cap: float = 30.0
    default_retry_after: float = 60.0
    retry_methods: frozenset[str] | None = IDEMPOTENT_METHODS
    final_problems: frozenset[str] = frozenset()
    jitter: Callable[[float], float] = proportional_jitter
    jitter_rate_limits: bool = False

    def decide(self, error: BaseException, attempt: int, method: str = "GET") -> RetryDecision:
        """Whether to try again after ``attempt`` (1-based) failed with ``error``, and how long to wait first."""
        if attempt >= self.max_attempts:
            return RetryDecision(False, reason=f"gave up after {attempt} attempts")
        if isinstance(error, DailyLimitReached):
            return RetryDecision(False, reason="daily budget spent: wait for the reset")
        if isinstance(error, RateLimited):
            if error.problem in self.final_problems:
                return RetryDecision(False, reason=f"{error.problem}: never keep sending")
            wait = float(error.retry_after if error.retry_after is not None else self.default_retry_after)
            return RetryDecision(True, wait + (self.jitter(wait) if self.jitter_rate_limits else 0.0), "rate limited")
        if isinstance(error, BackendError) and error.retryable:
            if self.retry_methods is not None and method.upper() not in self.retry_methods:
                return RetryDecision(False, reason=f"{method} is not safe to send twice")
            backoff = min(self.cap, self.base * 2 ** (attempt - 1))
            return RetryDecision(True, backoff + self.jitter(backoff), "server or network error")
        return RetryDecision(False, reason="not retryable")
