"""Errors of the Pipedrive plugin, and the one function that turns a Pipedrive HTTP response into one.

Every status Pipedrive answers with maps to a :mod:`invoicebridge.core.errors` class here and nowhere else
(stripe's ``specific_v1_api_error``). Pipedrive bodies look like
``{"success": false, "error": "...", "error_info": "..."}``; webhook endpoints use ``{"errors": {...}}``; an
abuse block is a Cloudflare HTML page, so a body that is not JSON is handled too.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx

from invoicebridge.core.connector import Budget, Dialect
from invoicebridge.core.errors import (
    AuthError,
    BackendError,
    DailyLimitReached,
    InvoiceBridgeError,
    PermissionDenied,
    RateLimited,
    RemoteNotFound,
    RemoteValidationError,
    ServerError,
    TransportError,
)
from invoicebridge.core.payloads import MalformedPayload

from .i18n import _

BACKEND = "pipedrive"
BURST_WINDOW = 2.0  # Pipedrive's burst limits count requests in a rolling 2-second window (fact sheet §7.1)


class MalformedWebhook(MalformedPayload):
    """A webhook body that is not the JSON Pipedrive sends. Answered with 400 so Pipedrive shows the failure."""

    status_code = 400


class FieldNotFound(InvoiceBridgeError):
    """A custom field a mapping refers to no longer exists in Pipedrive."""

    status_code = 422


def _body(response: httpx.Response) -> tuple[dict[str, Any] | None, str]:
    """The JSON body (or None) and the best human message Pipedrive gave."""
    try:
        data = response.json()
    except ValueError:
        return None, ""
    if not isinstance(data, dict):
        return None, ""
    message = data.get("error") or data.get("message") or ""
    if not message and isinstance(data.get("errors"), dict):
        message = "; ".join(f"{k}: {', '.join(map(str, v)) if isinstance(v, list) else v}" for k, v in data["errors"].items())
    return data, str(message)


def header_float(headers: httpx.Headers, name: str) -> float | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


EPOCH_RESET = 1e9  # an x-ratelimit-reset this large is a Unix time, not a number of seconds


def reset_seconds(headers: httpx.Headers, now: dt.datetime | None) -> float | None:
    """Seconds until ``x-ratelimit-reset``. The docs call it "the remaining window" (probably seconds, fact sheet
    §7.1 [unverified]); a value that can only be a Unix time is read as one, so it never means a wait of years."""
    value = header_float(headers, "x-ratelimit-reset")
    if value is None or value < EPOCH_RESET:
        return value
    return max(0.0, value - now.timestamp()) if now is not None else None


def daily_budget_spent(headers: httpx.Headers) -> bool:
    return headers.get("x-daily-ratelimit-token-remaining", "").strip() == "0"


def error_for_response(response: httpx.Response, *, what: str = "", now: dt.datetime | None = None) -> BackendError:
    """The error for a non-2xx Pipedrive response. ``what`` names the object asked for ("Deal 42"); ``now`` reads
    a reset given as a Unix time."""
    status = response.status_code
    data, message = _body(response)
    ctx: dict[str, Any] = dict(backend=BACKEND, method=response.request.method, url=str(response.request.url), status=status,
               detail=message)
    if status == 401:
        return AuthError(
            "Pipedrive rejected the credentials (API token or access token); reconnect Pipedrive on the "
            "Connections page", **ctx)
    if status == 402:
        return AuthError(_("The Pipedrive company account is not open (trial expired or unpaid); "
                           "ask the Pipedrive admin to reactivate it"), **ctx)
    if status == 403:
        if data is None:
            return RateLimited("Pipedrive blocked the requests (an HTML 403 after too many requests); "
                               "invoicebridge pauses this connection for 5 minutes; try again after that",
                               retry_after=300.0, problem="blocked", **ctx)
        return PermissionDenied(f"Pipedrive refused the request: {message or 'forbidden'}; check the connected "
                                "user's permissions and the app's scopes", **ctx)
    if status == 404:
        name = what or "The object"
        return RemoteNotFound(_("%(what)s was not found in Pipedrive; it may have been deleted or merged, or the "
                                "connected user may not see it") % {"what": name}, **ctx)
    if status in (400, 422):
        messages = []
        if data and isinstance(data.get("errors"), dict):
            messages = [f"{k}: {v}" for k, v in data["errors"].items()]
        return RemoteValidationError(_("Pipedrive refused the request: %(message)s") % {"message": message or _("invalid request")},
                                     messages=messages or ([message] if message else []), **ctx)
    if status == 429:
        retry_after = header_float(response.headers, "retry-after")
        if retry_after is None:
            retry_after = reset_seconds(response.headers, now)
        if daily_budget_spent(response.headers):
            return DailyLimitReached(
                "The Pipedrive company's daily API budget is spent; work resumes after the daily reset",
                retry_after=retry_after, problem="day", **ctx)
        return RateLimited("Pipedrive's rate limit was reached; slowing down", retry_after=retry_after,
                           problem="burst", **ctx)
    if status >= 500:
        return ServerError(_("Pipedrive had a server error (%(status)s); try again in a moment") % {"status": status}, **ctx)
    return BackendError(_("Pipedrive answered %(status)s: %(message)s") % {"status": status, "message": message or response.reason_phrase}, **ctx)


class PipedriveDialect(Dialect):
    """What the connector kit needs to know about Pipedrive: its errors, and its budgets read from
    ``x-ratelimit-remaining``/``x-ratelimit-reset`` (the 2-second burst window) and
    ``x-daily-ratelimit-token-remaining`` (the company's daily token budget, shared with every other app)."""

    backend = BACKEND

    def __init__(self, now: Any) -> None:
        self.now = now

    def error_for(self, response: httpx.Response) -> BackendError | None:
        return error_for_response(response, now=self.now()) if response.status_code >= 400 else None

    def transport_error(self, exc: httpx.RequestError, method: str, url: str) -> BackendError:
        return TransportError(f"Could not reach Pipedrive ({type(exc).__name__}); check the network and try again",
                              backend=BACKEND, method=method, url=url)

    def budgets(self, response: httpx.Response, now: Any) -> list[Budget]:
        out = []
        burst = header_float(response.headers, "x-ratelimit-remaining")
        if burst is not None:
            out.append(Budget("burst", burst, reset=reset_seconds(response.headers, now), window=BURST_WINDOW))
        day = header_float(response.headers, "x-daily-ratelimit-token-remaining")
        if day is not None:  # reset: "midnight in the server's time zone", which no header names
            reset = reset_seconds(response.headers, now) if response.status_code == 429 else None
            out.append(Budget("day", day, reset=reset, daily=True))
        return out


def daily_budget_spent_error(retry_after: float | None) -> DailyLimitReached:
    """The limiter's refusal while the company's daily budget is spent (nothing is sent to Pipedrive)."""
    return DailyLimitReached("The Pipedrive company's daily API budget is spent; work resumes after the daily reset",
                             backend=BACKEND, retry_after=retry_after, problem="day")
