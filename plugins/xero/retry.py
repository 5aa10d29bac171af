"""Retry policy as a pure function: ``(error, attempt) -> RetryDecision``. Sleep and jitter are injected.

Retried: 429 minute/concurrent limits after ``Retry-After`` (the day limit is not retried: it waits until
tomorrow), 5xx and connection errors with exponential backoff plus jitter. Everything else is final.
Creates and updates are safe to retry because every one carries an ``Idempotency-Key``.
"""

from __future__ import annotations

import random
from typing import Callable

from attrs import frozen

from invoicebridge.core.errors import DailyLimitReached, RateLimited, ServerError, TransportError

MAX_ATTEMPTS = 4
BASE_DELAY = 0.5
MAX_DELAY = 30.0
DEFAULT_RETRY_AFTER = 60.0


@frozen
class RetryDecision:
    retry: bool
    delay: float = 0.0


STOP = RetryDecision(False)


def retry_decision(
    error: Exception,
    attempt: int,
    *,
    max_attempts: int = MAX_ATTEMPTS,
    base: float = BASE_DELAY,
    cap: float = MAX_DELAY,
    jitter: Callable[[], float] = random.random,
) -> RetryDecision:
    """Whether to try again after ``attempt`` (1-based) failed with ``error``, and how long to wait first."""
    if attempt >= max_attempts:
        return STOP
    if isinstance(error, DailyLimitReached):
        return STOP
    if isinstance(error, RateLimited):
        wait = error.retry_after if error.retry_after is not None else DEFAULT_RETRY_AFTER
        return RetryDecision(True, float(wait))
    if isinstance(error, (ServerError, TransportError)):
        backoff = min(cap, base * 2 ** (attempt - 1))
        return RetryDecision(True, backoff + jitter() * base)
    return STOP
