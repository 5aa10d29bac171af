"""The invoice status machine.

Six neutral statuses, the labels a user sees, the commands a user may issue, and the changes a sync may
observe, all driven by one table, :data:`TRANSITIONS`. Each backend maps its own vocabulary onto these (its
``status_from_remote``/``status_to_remote``). Drafts and invoices awaiting approval can be deleted; approved
ones (AWAITING_PAYMENT) can be voided only while nothing is paid; PAID is reached by payments and returns to
AWAITING_PAYMENT when a payment is removed; VOIDED and DELETED are terminal. "Partly paid" is not a status:
it is derived from the amounts.

Commands are strict (they are what *we* ask the backend to do). Observations are lenient about skipped
steps (a draft approved and paid in the backend between two syncs is seen next as PAID) but never leave a
terminal state and never go back to DRAFT or AWAITING_APPROVAL from AWAITING_PAYMENT or PAID. Which commands
a backend offers at all comes from its :class:`Capabilities` (``allowed_commands(..., capabilities=...)``).
"""

from __future__ import annotations

import enum
from typing import Any

from .errors import IllegalTransition
from .i18n import _, lazy_


class InvoiceStatus(enum.Enum):
    DRAFT = "DRAFT"
    AWAITING_APPROVAL = "AWAITING_APPROVAL"
    AWAITING_PAYMENT = "AWAITING_PAYMENT"
    PAID = "PAID"
    VOIDED = "VOIDED"
    DELETED = "DELETED"

    @property
    def label(self) -> str:
        """The label in the current language (the help article's: Draft … Deleted; German: Entwurf … Gelöscht)."""
        return str(LABELS[self])

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL

    @classmethod
    def parse(cls, value: "str | InvoiceStatus") -> "InvoiceStatus":
        if isinstance(value, cls):
            return value
        try:
            return cls(str(value).strip().upper())
        except ValueError:
            known = ", ".join(s.value for s in cls)
            raise ValueError(_("unknown invoice status %(value)r; expected one of %(known)s") % {"value": value, "known": known}) from None


def parse_status(value: str | InvoiceStatus) -> InvoiceStatus:
    """:meth:`InvoiceStatus.parse` as a plain function: the attrs converter of status fields (the type
    checker's attrs support reads named functions, not classmethods)."""
    return InvoiceStatus.parse(value)


class Command(enum.Enum):
    SUBMIT = "submit"
    APPROVE = "approve"
    DELETE = "delete"
    VOID = "void"
    EMAIL = "email"

    @property
    def label(self) -> str:
        return str(COMMAND_LABELS[self])

    @classmethod
    def parse(cls, value: "str | Command") -> "Command":
        if isinstance(value, cls):
            return value
        try:
            return cls(str(value).strip().lower())
        except ValueError:
            known = ", ".join(c.value for c in cls)
            raise ValueError(_("unknown command %(value)r; expected one of %(known)s") % {"value": value, "known": known}) from None


S = InvoiceStatus
LABELS = {
    S.DRAFT: lazy_("Draft"),
    S.AWAITING_APPROVAL: lazy_("Awaiting approval"),
    S.AWAITING_PAYMENT: lazy_("Awaiting payment"),
    S.PAID: lazy_("Paid"),
    S.VOIDED: lazy_("Voided"),
    S.DELETED: lazy_("Deleted"),
}
PARTLY_PAID_LABEL = lazy_("Partly paid")
COMMAND_LABELS = {
    Command.SUBMIT: lazy_("Submit for approval"),
    Command.APPROVE: lazy_("Approve"),
    Command.DELETE: lazy_("Delete"),
    Command.VOID: lazy_("Void"),
    Command.EMAIL: lazy_("Email to the customer"),
}
COLOURS = {  # for panels and badges
    S.DRAFT: "gray",
    S.AWAITING_APPROVAL: "yellow",
    S.AWAITING_PAYMENT: "blue",
    S.PAID: "green",
    S.VOIDED: "red",
    S.DELETED: "red",
}
TERMINAL = frozenset({S.VOIDED, S.DELETED})
# What a backend can delete unless its Capabilities.delete_statuses says otherwise (a backend whose invoices are
# posted when created may delete those too, while unpaid)
DEFAULT_DELETE_STATUSES = frozenset({S.DRAFT, S.AWAITING_APPROVAL})

# The one table. For each (from, to): which user command produces it (None: only observed), and whether a
# sync may observe it. A pair that is absent is impossible in every way. Self-loops are implicit no-ops for
# observations; EMAIL leaves the status unchanged and is listed separately below.
#                 from          to             command            observable
TRANSITIONS: tuple[tuple[InvoiceStatus, InvoiceStatus, Command | None, bool], ...] = (
    (S.DRAFT, S.AWAITING_APPROVAL, Command.SUBMIT, True),
    (S.DRAFT, S.AWAITING_PAYMENT, Command.APPROVE, True),
    (S.DRAFT, S.DELETED, Command.DELETE, True),
    (S.DRAFT, S.PAID, None, True),  # approved and paid in the backend between two syncs
    (S.DRAFT, S.VOIDED, None, True),  # approved then voided between two syncs
    (S.AWAITING_APPROVAL, S.AWAITING_PAYMENT, Command.APPROVE, True),
    (S.AWAITING_APPROVAL, S.DELETED, Command.DELETE, True),
    (S.AWAITING_APPROVAL, S.DRAFT, None, True),  # sent back to draft in the backend (observed only)
    (S.AWAITING_APPROVAL, S.PAID, None, True),
    (S.AWAITING_APPROVAL, S.VOIDED, None, True),
    (S.AWAITING_PAYMENT, S.VOIDED, Command.VOID, True),  # only with nothing paid: see `may_issue`
    (S.AWAITING_PAYMENT, S.DELETED, Command.DELETE, True),  # only where Capabilities.delete_statuses has it, unpaid
    (S.AWAITING_PAYMENT, S.PAID, None, True),  # payments bring AmountDue to 0
    (S.PAID, S.AWAITING_PAYMENT, None, True),  # a payment removed
)
# Commands that keep the status and are allowed from these states.
STATUS_PRESERVING: dict[Command, frozenset[InvoiceStatus]] = {
    Command.EMAIL: frozenset({S.AWAITING_PAYMENT, S.PAID}),  # backends email approved invoices (Capabilities.email_statuses narrows it)
}

_BY_COMMAND: dict[tuple[InvoiceStatus, Command], InvoiceStatus] = {
    (frm, cmd): to for frm, to, cmd, _ in TRANSITIONS if cmd is not None
}
_OBSERVABLE: frozenset[tuple[InvoiceStatus, InvoiceStatus]] = frozenset(
    (frm, to) for frm, to, _, observable in TRANSITIONS if observable
)


def target_of(current: InvoiceStatus, command: Command) -> InvoiceStatus | None:
    """The status a command leads to from ``current``, or None when it is not allowed there."""
    if current in STATUS_PRESERVING.get(command, ()):
        return current
    return _BY_COMMAND.get((current, command))


def allowed_commands(current: InvoiceStatus, *, amount_paid: object = 0, may_approve: bool = True,
                     capabilities: object = None) -> list[Command]:
    """Commands to offer for an invoice in ``current`` (in table order), honouring the payment rule and, when
    given, what the backend can do (its :class:`invoicebridge.core.model.Capabilities`)."""
    return [
        c for c in Command
        if _allowed(current, c, amount_paid=amount_paid, may_approve=may_approve, capabilities=capabilities) is None
    ]


def unsupported(current: InvoiceStatus, command: Command, capabilities: object) -> bool:
    """Whether the backend's capabilities rule ``command`` out for an invoice in ``current``."""
    if command is Command.DELETE:  # without capabilities: what every backend can delete (drafts, submitted)
        if current not in getattr(capabilities, "delete_statuses", DEFAULT_DELETE_STATUSES):
            return True
    if capabilities is None:
        return False
    if command is Command.SUBMIT:
        return not getattr(capabilities, "approval_step", True)
    if command is Command.VOID:
        return not getattr(capabilities, "void", True)
    if command is Command.EMAIL:
        return not getattr(capabilities, "email", True) or current not in getattr(capabilities, "email_statuses", (current,))
    if command is Command.DELETE and current is S.DRAFT:
        return not getattr(capabilities, "drafts", True)
    return False


def _allowed(current: InvoiceStatus, command: Command, *, amount_paid: object, may_approve: bool,
             capabilities: object = None) -> str | None:
    """None when allowed, else the reason it is not."""
    if unsupported(current, command, capabilities):
        return _("the connected accounting system does not offer '%(command)s' for an invoice that is %(status)s") % {
            "command": command.label, "status": current.label}
    if target_of(current, command) is None:
        return _("'%(command)s' is not possible for an invoice that is %(status)s") % {
            "command": command.label, "status": current.label}
    if command in (Command.VOID, Command.DELETE) and current is S.AWAITING_PAYMENT and _positive(amount_paid):
        return _("it has payments allocated; remove them in the accounting system first")
    if command is Command.APPROVE and not may_approve:
        return _("the accounting user this connection uses may not approve invoices: approve it in the accounting "
                 "system, or connect as a user who may")
    return None


def _positive(amount: object) -> bool:
    try:
        from decimal import Decimal

        return Decimal(str(amount or 0)) > 0
    except Exception:
        return False


def apply_command(
    current: InvoiceStatus,
    command: Command,
    *,
    invoice: str = "invoice",
    amount_paid: object = 0,
    may_approve: bool = True,
    capabilities: object = None,
) -> InvoiceStatus:
    """The status after ``command``; raises :class:`IllegalTransition` naming invoice, status and command."""
    reason = _allowed(current, command, amount_paid=amount_paid, may_approve=may_approve, capabilities=capabilities)
    if reason is not None:
        raise IllegalTransition(invoice=invoice, status=current, command=command.value, reason=reason)
    target = target_of(current, command)
    assert target is not None
    return target


def can_observe(current: InvoiceStatus, observed: InvoiceStatus) -> bool:
    return current == observed or (current, observed) in _OBSERVABLE


def apply_observed_status(current: InvoiceStatus, observed: InvoiceStatus, *, invoice: str = "invoice") -> InvoiceStatus:
    """Accept a status seen by sync, or raise :class:`IllegalTransition` (the audit log records why)."""
    if can_observe(current, observed):
        return observed
    if current.is_terminal:
        reason = _("%(status)s is final") % {"status": current.label}
    else:
        reason = _("an invoice cannot go from %(current)s back to %(observed)s") % {
            "current": current.label, "observed": observed.label}
    raise IllegalTransition(invoice=invoice, status=current, command=f"observe {observed.value}", reason=reason)


def display_text(status: InvoiceStatus, *, amount_paid: object = 0) -> Any:
    """The label to show, as a lazy text (kept in audit entries, shown in the reader's language): "Partly paid" is
    AWAITING_PAYMENT with a payment."""
    if status is S.AWAITING_PAYMENT and _positive(amount_paid):
        return PARTLY_PAID_LABEL
    return LABELS[status]


def display_label(status: InvoiceStatus, *, amount_paid: object = 0) -> str:
    """:func:`display_text` in the current language."""
    return str(display_text(status, amount_paid=amount_paid))
