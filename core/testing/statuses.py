"""Test helpers shipped with the package, so a backend plugin can check its own status mapping.

:class:`StatusMachineTest` is a hypothesis ``RuleBasedStateMachine`` that drives the real status machine and a
deliberately simple model of the rules (written from the fact sheet, not from the table) side by side, and
compares them after every step. A plugin that maps its backend's statuses onto ours subclasses it and
overrides :meth:`StatusMachineTest.to_backend` / :meth:`StatusMachineTest.from_backend`; the round trip is then
checked at every step too::

    class MyBackendStatuses(StatusMachineTest):
        def to_backend(self, status): ...
        def from_backend(self, value): ...

    TestMyBackendStatuses = MyBackendStatuses.TestCase

or ``TestStatus = StatusMachineTest.TestCase`` in a test module for our own mapping.
"""

from __future__ import annotations

from decimal import Decimal

from hypothesis import note
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from ..errors import IllegalTransition
from ..status import Command, InvoiceStatus, allowed_commands, apply_command, apply_observed_status

S = InvoiceStatus


class SimpleModel:
    """The rules in plain words: drafts and submitted invoices can be deleted or approved, drafts submitted,
    approved ones voided while unpaid and emailed; payments move AWAITING_PAYMENT to PAID and back; voided and
    deleted are final; nothing returns to DRAFT or AWAITING_APPROVAL once approved."""

    def __init__(self) -> None:
        self.status = S.DRAFT
        self.paid = Decimal(0)

    def command_ok(self, command: Command, may_approve: bool) -> bool:
        s = self.status
        if command is Command.SUBMIT:
            return s is S.DRAFT
        if command is Command.APPROVE:
            return may_approve and s in (S.DRAFT, S.AWAITING_APPROVAL)
        if command is Command.DELETE:  # the default Capabilities.delete_statuses
            return s in (S.DRAFT, S.AWAITING_APPROVAL)
        if command is Command.VOID:
            return s is S.AWAITING_PAYMENT and self.paid == 0
        if command is Command.EMAIL:
            return s in (S.AWAITING_PAYMENT, S.PAID)
        return False

    def after(self, command: Command) -> InvoiceStatus:
        return {
            Command.SUBMIT: S.AWAITING_APPROVAL,
            Command.APPROVE: S.AWAITING_PAYMENT,
            Command.DELETE: S.DELETED,
            Command.VOID: S.VOIDED,
            Command.EMAIL: self.status,
        }[command]

    def observe_ok(self, new: InvoiceStatus) -> bool:
        old = self.status
        if old == new:
            return True
        if old in (S.VOIDED, S.DELETED):
            return False
        if old is S.DRAFT:
            return True
        if old is S.AWAITING_APPROVAL:
            return True  # may be sent back to draft in the backend, or move on
        if old is S.AWAITING_PAYMENT:
            return new in (S.PAID, S.VOIDED, S.DELETED)  # deleted: in a backend that deletes posted invoices
        if old is S.PAID:
            return new is S.AWAITING_PAYMENT
        return False


class StatusMachineTest(RuleBasedStateMachine):
    """Compare the real machine with :class:`SimpleModel` at every step."""

    def __init__(self) -> None:
        super().__init__()
        self.model = SimpleModel()
        self.real = S.DRAFT
        self.real_paid = Decimal(0)

    # Plugins override these two to check their own status mapping's round trip.
    def to_backend(self, status: InvoiceStatus) -> object:
        return status.value

    def from_backend(self, value: object) -> InvoiceStatus:
        return InvoiceStatus.parse(value)  # type: ignore[arg-type]

    @rule(command=st.sampled_from(list(Command)), may_approve=st.booleans())
    def issue_command(self, command: Command, may_approve: bool) -> None:
        expected_ok = self.model.command_ok(command, may_approve)
        offered = command in allowed_commands(self.real, amount_paid=self.real_paid, may_approve=may_approve)
        note(f"{self.real.value} --{command.value}--> expected ok={expected_ok} offered={offered}")
        assert offered == expected_ok
        try:
            new = apply_command(self.real, command, invoice="INV-TEST", amount_paid=self.real_paid, may_approve=may_approve)
        except IllegalTransition as exc:
            assert not expected_ok, f"real machine refused a legal command: {exc}"
            assert "INV-TEST" in str(exc) and self.real.label in str(exc) and command.value in str(exc)
            return
        assert expected_ok, f"real machine allowed {command.value} from {self.real.value}"
        self.real = new
        self.model.status = self.model.after(command)

    @rule(observed=st.sampled_from(list(InvoiceStatus)))
    def observe(self, observed: InvoiceStatus) -> None:
        observed = self.from_backend(self.to_backend(observed))
        expected_ok = self.model.observe_ok(observed)
        note(f"{self.real.value} ~~observe~~> {observed.value} expected ok={expected_ok}")
        try:
            new = apply_observed_status(self.real, observed, invoice="INV-TEST")
        except IllegalTransition:
            assert not expected_ok, f"real machine refused a legal observation {self.real.value}->{observed.value}"
            return
        assert expected_ok, f"real machine accepted {self.real.value}->{observed.value}"
        self.real = new
        self.model.status = observed
        if observed is S.PAID:
            self.real_paid = self.model.paid = Decimal(1)
        elif observed is S.AWAITING_PAYMENT and self.model.paid:
            self.real_paid = self.model.paid = Decimal(0)  # the payment was removed

    @precondition(lambda self: self.real is S.AWAITING_PAYMENT)
    @rule(amount=st.decimals(min_value=Decimal("0.01"), max_value=Decimal("1000"), places=2))
    def part_payment(self, amount: Decimal) -> None:
        self.real_paid = self.model.paid = amount

    @invariant()
    def same_status(self) -> None:
        assert self.real is self.model.status

    @invariant()
    def round_trip(self) -> None:
        assert self.from_backend(self.to_backend(self.real)) is self.real


def mapping_machine(factory: object) -> type[StatusMachineTest]:
    """A :class:`StatusMachineTest` driven through ``factory``'s real status mapping
    (``status_to_remote``/``status_from_remote``)."""

    class Through(StatusMachineTest):
        def to_backend(self, status: InvoiceStatus) -> object:
            return factory.status_to_remote(status)  # type: ignore[attr-defined]

        def from_backend(self, value: object) -> InvoiceStatus:
            return factory.status_from_remote(value)  # type: ignore[attr-defined]

    Through.__name__ = f"StatusMachineThrough{getattr(getattr(factory, 'info', None), 'name', 'backend').title()}"
    return Through
