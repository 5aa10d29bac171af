"""The ONE place where Xero's HTTP answers and httpx's exceptions become invoicebridge errors.

:func:`error_for_response` maps a status and body (fact sheet §9, §10) to a class from
:mod:`invoicebridge.core.errors`; :class:`XeroDialect` hands it, the transport errors and the rate-limit
headers to the connector kit.
"""

from __future__ import annotations

import re
from typing import Any

import httpx

from invoicebridge.core.i18n import format_number
from invoicebridge.core.errors import (
    AuthError,
    BackendError,
    DailyLimitReached,
    DuplicateOperation,
    InvoiceBridgeError,
    PermissionDenied,
    RateLimited,
    RemoteNotFound,
    RemoteValidationError,
    ServerError,
    TransportError,
)

from invoicebridge.core.connector import Budget, Dialect

from .i18n import _
from .converter import loads

BACKEND = "xero"
WINDOW = 60.0  # Xero's minute windows are fixed but start at a different second per organisation
_IDEMPOTENCY_REUSE = re.compile(r"Idempotency Key: .* is used with a different request", re.I)


def _json(response: httpx.Response) -> Any:
    try:
        return loads(response.content) if response.content else None
    except ValueError:
        return None


def validation_messages(body: Any) -> list[str]:
    """Every element's messages from a ValidationException, prefixed with the element's position."""
    messages: list[str] = []
    if not isinstance(body, dict):
        return messages
    elements = body.get("Elements") or []
    for index, element in enumerate(elements, start=1):
        if not isinstance(element, dict):
            continue
        label = element.get("InvoiceNumber") or element.get("Name") or f"element {index}"
        for err in element.get("ValidationErrors") or []:
            if isinstance(err, dict) and err.get("Message"):
                prefix = f"{label}: " if len(elements) > 1 else ""
                messages.append(f"{prefix}{err['Message']}")
    return messages


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def error_for_response(response: httpx.Response) -> InvoiceBridgeError | None:
    """None for a success, else the error to raise."""
    status = response.status_code
    if status < 400:
        return None
    method, url = response.request.method, str(response.request.url)
    ctx: dict[str, Any] = {"backend": BACKEND, "method": method, "url": url, "status": status}
    body = _json(response)
    detail = ""
    if isinstance(body, dict):
        detail = str(body.get("Detail") or body.get("Message") or body.get("error_description") or body.get("error") or "")
    elif response.content and "html" not in response.headers.get("content-type", ""):
        detail = response.text[:300]
    ctx["detail"] = detail

    if status == 400:
        if isinstance(body, dict) and body.get("error") in ("invalid_grant", "invalid_client", "unauthorized_client"):
            return AuthError(
                f"Xero refused the connection's credentials ({body['error']}); reconnect Xero on the Connections page",
                **ctx,
            )
        if _IDEMPOTENCY_REUSE.search(detail):
            return DuplicateOperation(
                f"Xero says the idempotency key was already used for a different request: {detail}",
                **{k: v for k, v in ctx.items() if k != "status"},
                remote_status=status,
            )
        messages = validation_messages(body)
        if not messages and detail:
            messages = [detail]
        text = "; ".join(messages) or _("Xero rejected the request as invalid")
        return RemoteValidationError(_("Xero rejected the request: %(messages)s") % {"messages": text}, messages=messages, **ctx)
    if status == 401:
        if detail.startswith("TokenExpired"):
            return AuthError(_("The Xero access token has expired (%(detail)s); reconnect Xero if this persists") % {"detail": detail}, **ctx)
        return AuthError(
            _("Xero did not accept the access token (%(detail)s); the app may lack a scope or the "
              "connection was revoked: reconnect Xero on the Connections page") % {"detail": detail or "unauthorised"},
            **ctx,
        )
    if status == 403:
        if "AuthenticationUnsuccessful" in detail:
            return AuthError(
                _("Xero refused access to this organisation (unknown tenant or connection removed); "
                  "reconnect Xero and pick the organisation again"),
                **ctx,
            )
        return PermissionDenied(
            _("The connected Xero user may not do this (%(detail)s); ask a Xero admin for the "
              "Standard or Adviser role") % {"detail": detail or "forbidden"},
            **ctx,
        )
    if status == 404:
        return RemoteNotFound(_("Xero could not find this resource (it may have been deleted or belong to another organisation)"), **ctx)
    if status == 429:
        problem = response.headers.get("x-rate-limit-problem", "").strip().lower()
        retry_after = _retry_after(response)
        if problem in ("day", "daily"):
            return DailyLimitReached(
                _("Xero's daily API limit for this organisation is used up; sync resumes in %(n)s s") % {"n": format_number(int(retry_after))}
                if retry_after else _("Xero's daily API limit for this organisation is used up; sync resumes tomorrow"),
                retry_after=retry_after, problem="day", **ctx,
            )
        return RateLimited(
            _("Xero's %(problem)s limit was reached; retrying after the wait Xero asked for") % {"problem": problem or "rate"},
            retry_after=retry_after, problem=problem, **ctx,
        )
    if status >= 500:
        return ServerError(_("Xero had an internal error (%(status)s); try again in a minute") % {"status": status}, **ctx)
    return BackendError(_("Xero answered %(status)s: %(detail)s") % {"status": status, "detail": detail or response.reason_phrase}, **ctx)


class XeroDialect(Dialect):
    """What the connector kit needs to know about Xero: its errors, and its budgets (fact sheet §10) read from
    ``X-MinLimit-Remaining``, ``X-DayLimit-Remaining`` and ``X-AppMinLimit-Remaining``, which count every app's
    calls to the organisation, so calls another app made cost us waits instead of 429s."""

    backend = BACKEND

    def error_for(self, response: httpx.Response) -> InvoiceBridgeError | None:
        return error_for_response(response)

    def transport_error(self, exc: httpx.RequestError, method: str, url: str) -> BackendError:
        if isinstance(exc, httpx.TimeoutException):
            return TransportError(_("Xero did not answer in time (%(error)s); try again") % {"error": type(exc).__name__},
                                  backend=BACKEND, method=method, url=url)
        return TransportError(_("Could not reach Xero (%(error)s); check the network and try again")
                              % {"error": f"{type(exc).__name__}: {exc}"}, backend=BACKEND, method=method, url=url)

    def budgets(self, response: httpx.Response, now: Any) -> list[Budget]:
        headers = response.headers
        # a 429 says when Xero's window resets; otherwise a whole minute surely refills a minute budget, and a
        # spent day budget holds until the next UTC midnight
        reset = _retry_after(response) if response.status_code == 429 else None
        out = []
        for header, scope, daily in (("x-minlimit-remaining", "minute", False),
                                     ("x-appminlimit-remaining", "app-minute", False),
                                     ("x-daylimit-remaining", "day", True)):
            try:
                remaining = float(headers[header])
            except (KeyError, ValueError):
                continue
            out.append(Budget(scope, remaining, reset=reset, window=WINDOW, daily=daily))
        return out

    def token_rejected(self, response: httpx.Response) -> bool:
        return response.status_code == 401 and b"TokenExpired" in response.content


def daily_limit_reached(retry_after: float | None) -> DailyLimitReached:
    """The limiter's refusal while the organisation's day budget is spent (nothing is sent to Xero)."""
    wait = retry_after or 0.0
    return DailyLimitReached(_("Xero's daily API limit for this organisation is used up; calls resume in %(n)s s")
                             % {"n": format_number(int(wait) + 1)}, backend=BACKEND, problem="day", retry_after=retry_after)
