"""Sending one HTTP request to Xero: limiter, error mapping and the retry loop in one function."""

from __future__ import annotations

import random
from typing import Any, Callable

import httpx

from invoicebridge.core.errors import BackendError, DailyLimitReached

from .errors import map_transport_errors, raise_for_response
from .limiter import TenantLimiter
from .retry import retry_decision


async def call(
    runtime: Any,
    http: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    limiter: TenantLimiter | None = None,
    jitter: Callable[[], float] = random.random,
    **kwargs: Any,
) -> httpx.Response:
    """Send, map errors at the boundary, and retry what :func:`retry_decision` allows (sleeping with
    ``runtime.sleep``). Raises the last mapped error."""
    attempt = 1
    while True:
        try:
            with map_transport_errors(method, f"{http.base_url}{url.lstrip('/')}" if str(http.base_url) else url):
                if limiter is not None:
                    async with limiter:
                        response = await http.request(method, url, **kwargs)
                else:
                    response = await http.request(method, url, **kwargs)
            return raise_for_response(response)
        except BackendError as error:
            if isinstance(error, DailyLimitReached) and limiter is not None and error.status == 429:
                limiter.stop_for_day(error.retry_after)
            decision = retry_decision(error, attempt, jitter=jitter)
            if not decision.retry:
                raise
            await runtime.sleep(decision.delay)
            attempt += 1
