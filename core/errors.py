"""Errors of invoicebridge. Every error says what went wrong and what to do about it.

Hierarchy::

    InvoiceBridgeError
    ├── ConfigurationError            settings, data directory, secrets key
    ├── MappingError                  a deal cannot become an invoice (names the deal and field)
    ├── ValidationProblem             a preview found problems (unknown item, tax type, currency…)
    ├── IllegalTransition             a status command or observation the status machine refuses
    ├── NotFound                      an id we do not know (deal, invoice, connection, operation)
    ├── NotConnected                  no CRM or accounting connection is set up
    ├── DuplicateOperation            the same idempotency key was used for a different request
    ├── WebhookRejected               a webhook failed verification (bad signature or credentials)
    └── BackendError                  a remote API said no; carries method, url, status, message
        ├── AuthError                 401/403: token expired or revoked, wrong organisation, missing scope
        │   ├── PermissionDenied      the remote user's role may not do this
        │   └── ReconnectNeeded       the refresh token was refused (``invalid_grant``): connect again
        ├── RemoteNotFound            404
        ├── RemoteValidationError     400 with per-element messages
        ├── RateLimited               429; ``retry_after`` seconds, ``problem`` (minute/day/concurrent)
        │   └── DailyLimitReached     the day's budget is spent: stop until ``retry_after``
        ├── ServerError               5xx
        └── TransportError            connection failed, timed out, or dropped

Two more live beside the code that raises them, in :mod:`invoicebridge.core.pipeline`: ``OperationInProgress``
(409, another worker holds the create's lease) and ``CreateRefused`` (422, the backend refused the invoice for
good). Plugins and adapters add their own under the same root (e.g. ``BadRequest``, ``MalformedWebhook``).
"""

from __future__ import annotations

from typing import Any, Sequence

from .i18n import _, pgettext


class InvoiceBridgeError(Exception):
    """Root of every invoicebridge error. ``message`` is meant for the person using the product."""

    status_code = 500  # HTTP status when this reaches the JSON API

    def __init__(self, message: str, **context: Any) -> None:
        super().__init__(message)
        self.message = message
        self.context = context

    def __str__(self) -> str:
        return self.message

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"error": type(self).__name__, "message": self.message}
        for k, v in self.context.items():
            if v is not None and isinstance(v, (str, int, float, bool, list, dict)):
                out[k] = v
        return out


class ConfigurationError(InvoiceBridgeError):
    status_code = 500


class MappingError(InvoiceBridgeError):
    """A deal cannot be mapped to an invoice. ``deal_id``, ``field`` and ``hint`` say where and how to fix."""

    status_code = 422

    def __init__(self, deal_id: Any, field: str, problem: str, hint: str = "") -> None:
        problem, hint = str(problem), str(hint)
        message = _("Deal %(deal)s: %(problem)s") % {"deal": deal_id, "problem": problem}
        if hint:
            message = _("%(problem)s; %(hint)s") % {"problem": message, "hint": hint}
        super().__init__(message, deal_id=deal_id, field=field, problem=problem, hint=hint)
        self.deal_id = deal_id
        self.field = field
        self.problem = problem
        self.hint = hint


class ValidationProblem(InvoiceBridgeError):
    status_code = 422

    def __init__(self, problems: Sequence[str], **context: Any) -> None:
        problems = [str(p) for p in problems]
        super().__init__("; ".join(problems) or _("the invoice is not valid"), problems=problems, **context)
        self.problems = problems


class IllegalTransition(InvoiceBridgeError):
    status_code = 409

    def __init__(self, *, invoice: str, status: Any, command: str, reason: str) -> None:
        label = getattr(status, "label", str(status))
        value = getattr(status, "value", str(status))
        super().__init__(
            _("Cannot %(command)s %(invoice)s: it is %(status)s; %(reason)s")
            % {"command": _command_words(command), "invoice": invoice, "status": label, "reason": reason},
            invoice=invoice,
            status=value,
            command=command,
            reason=reason,
        )
        self.invoice = invoice
        self.status = status
        self.command = command
        self.reason = reason


def _command_words(command: str) -> str:
    """A command as the verb of "Cannot … INV-1" in the current language (the machine value stays in context)."""
    words = {
        "submit": pgettext("cannot …", "submit"),
        "approve": pgettext("cannot …", "approve"),
        "delete": pgettext("cannot …", "delete"),
        "void": pgettext("cannot …", "void"),
        "email": pgettext("cannot …", "email"),
        "share": pgettext("cannot …", "share"),
    }
    if command in words:
        return words[command]
    if command.startswith("observe "):
        return pgettext("cannot …", "apply %(status)s to") % {"status": command.split(" ", 1)[1]}
    return command


class NotFound(InvoiceBridgeError):
    status_code = 404


class NotConnected(InvoiceBridgeError):
    status_code = 409


class DuplicateOperation(InvoiceBridgeError):
    status_code = 409


class WebhookRejected(InvoiceBridgeError):
    status_code = 401


class BackendError(InvoiceBridgeError):
    """A remote API refused or failed. ``retryable`` says whether trying again may help."""

    status_code = 502
    retryable = False

    def __init__(
        self,
        message: str,
        *,
        backend: str = "",
        method: str = "",
        url: str = "",
        status: int | None = None,
        detail: str = "",
        **context: Any,
    ) -> None:
        super().__init__(message, backend=backend, method=method, url=url, remote_status=status, detail=detail, **context)
        self.backend = backend
        self.method = method
        self.url = url
        self.status = status
        self.detail = detail

    def __str__(self) -> str:
        where = f" ({self.method} {self.url} → {self.status})" if self.method and self.status else ""
        return f"{self.message}{where}"


class AuthError(BackendError):
    status_code = 502


class PermissionDenied(AuthError):
    status_code = 403


class ReconnectNeeded(AuthError):
    """The service refused the connection's refresh token (or the app's credentials): only connecting again helps."""


class RemoteNotFound(BackendError):
    status_code = 404


class RemoteValidationError(BackendError):
    status_code = 422

    def __init__(self, message: str, *, messages: Sequence[str] = (), **kw: Any) -> None:
        super().__init__(message, messages=list(messages), **kw)
        self.messages = list(messages)


class RateLimited(BackendError):
    status_code = 503
    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, problem: str = "", **kw: Any) -> None:
        super().__init__(message, retry_after=retry_after, problem=problem, **kw)
        self.retry_after = retry_after
        self.problem = problem


class DailyLimitReached(RateLimited):
    retryable = False


class ServerError(BackendError):
    status_code = 502
    retryable = True


class TransportError(BackendError):
    status_code = 502
    retryable = True
