"""The ONE place where QBO's answers become invoicebridge errors (fact sheet §6): the Fault envelope (also inside a
200), the lower-case 401 shape, the XML throttle fault (3001, whatever Accept said), OAuth errors.

Codes the backend acts on: 5010 (stale SyncToken: re-read and retry where safe), 6240 (DisplayName taken),
6140/6210 (duplicate DocNumber; matched on the message), 610 (object not found or inactive).
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

import httpx

from invoicebridge.core.errors import (
    AuthError,
    BackendError,
    PermissionDenied,
    RateLimited,
    RemoteNotFound,
    RemoteValidationError,
    ServerError,
)
from .i18n import _

BACKEND = "quickbooks"
THROTTLE_WAIT = 60.0  # "wait 60 seconds before retrying" when no Retry-After (fact sheet §7)
_XML_CODE = re.compile(r'<Error[^>]*code="(\d+)"')


class QboFaultError(RemoteValidationError):
    """A Fault QBO answered; ``codes`` are its error codes (strings), ``elements`` the fields they name."""

    def __init__(self, message: str, *, codes: tuple[str, ...] = (), elements: tuple[str, ...] = (), **kw: Any) -> None:
        super().__init__(message, **kw)
        self.codes, self.elements = codes, elements


class StaleObject(QboFaultError):
    """5010: someone changed the entity since we read it (SyncToken)."""


def loads(content: bytes | str) -> Any:
    return json.loads(content, parse_float=Decimal)


def fault_errors(body: Any) -> list[dict[str, Any]]:
    """The ``Error`` list of a Fault in either shape (``Fault.Error`` or lower-case ``fault.error``)."""
    if not isinstance(body, dict):
        return []
    fault = body.get("Fault") or body.get("fault") or {}
    if not isinstance(fault, dict):
        return []
    errors = fault.get("Error") or fault.get("error") or []
    return [{k[:1].upper() + k[1:] if k in ("message", "detail") else k: v for k, v in e.items()}
            for e in errors if isinstance(e, dict)]


def fault_error(errors: list[dict[str, Any]], **ctx: Any) -> QboFaultError:
    messages = tuple(str(e.get("Detail") or e.get("Message") or "") for e in errors) or (_("QuickBooks refused the request"),)
    codes = tuple(str(e.get("code", "")) for e in errors)
    elements = tuple(str(e.get("element") or "") for e in errors)
    cls = StaleObject if "5010" in codes else QboFaultError
    return cls("; ".join(messages), messages=messages, codes=codes, elements=elements, backend=BACKEND, **ctx)


def _retry_after(response: httpx.Response) -> float:
    try:
        return float(response.headers.get("retry-after", ""))
    except ValueError:
        return THROTTLE_WAIT


def error_for_response(response: httpx.Response) -> BackendError | None:
    status = response.status_code
    ctx: dict[str, Any] = {"method": response.request.method, "url": str(response.request.url), "status": status}
    ctype = response.headers.get("content-type", "")
    body: Any = None
    if "json" in ctype:
        try:
            body = loads(response.content)
        except ValueError:
            body = None
    if status < 400:
        errors = fault_errors(body) if isinstance(body, dict) and "Fault" in body else []
        return fault_error(errors, **ctx) if errors else None
    codes = [str(e.get("code", "")) for e in fault_errors(body)]
    if "xml" in ctype:
        codes += _XML_CODE.findall(response.text)
    if status == 429 or "3001" in codes:
        return RateLimited(_("QuickBooks is throttling this company; waiting before trying again"),
                           retry_after=_retry_after(response), problem="minute", backend=BACKEND, **ctx)
    if status == 401:
        return AuthError(_("QuickBooks refused the access token; reconnect QuickBooks"), backend=BACKEND, **ctx)
    if status == 403:
        return PermissionDenied(_("QuickBooks refused access to this company; reconnect QuickBooks with a user "
                                  "who may create invoices"), backend=BACKEND, **ctx)
    if status >= 500:
        return ServerError(_("QuickBooks had a server error (%(status)s); try again later") % {"status": status},
                           backend=BACKEND, **ctx)
    if status == 404:
        return RemoteNotFound(_("QuickBooks does not know this object"), backend=BACKEND, **ctx)
    errors = fault_errors(body)
    if errors:
        error = fault_error(errors, **ctx)
        if response.request.method == "GET" and "610" in error.codes:
            return RemoteNotFound(error.message, backend=BACKEND, **ctx)
        return error
    detail = body.get("error", "") if isinstance(body, dict) else response.text[:200]
    return BackendError(_("QuickBooks answered %(status)s: %(detail)s") % {"status": status, "detail": detail},
                        backend=BACKEND, **ctx)
