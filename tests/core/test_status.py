import pytest

from invoicebridge.core.errors import IllegalTransition
from invoicebridge.core.status import (
    Command,
    InvoiceStatus as S,
    allowed_commands,
    apply_command,
    apply_observed_status,
    display_label,
)
from invoicebridge.core.testing import StatusMachineTest

TestStatusMachine = StatusMachineTest.TestCase


def test_labels_are_the_ones_users_know():
    assert [s.label for s in S] == ["Draft", "Awaiting approval", "Awaiting payment", "Paid", "Voided", "Deleted"]


def test_partly_paid_is_authorised_with_a_payment():
    assert display_label(S.AWAITING_PAYMENT, amount_paid="10.00") == "Partly paid"
    assert display_label(S.AWAITING_PAYMENT, amount_paid=0) == "Awaiting payment"
    assert display_label(S.PAID, amount_paid="10.00") == "Paid"


def test_illegal_command_names_invoice_status_and_command():
    with pytest.raises(IllegalTransition) as info:
        apply_command(S.AWAITING_PAYMENT, Command.DELETE, invoice="INV-0042")
    message = str(info.value)
    assert "INV-0042" in message and "Awaiting payment" in message and "delete" in message
    assert info.value.status is S.AWAITING_PAYMENT


def test_void_refused_when_payments_allocated():
    with pytest.raises(IllegalTransition, match="payments"):
        apply_command(S.AWAITING_PAYMENT, Command.VOID, amount_paid="5.00")
    assert apply_command(S.AWAITING_PAYMENT, Command.VOID) is S.VOIDED


def test_approve_needs_a_role_that_may_approve():
    assert Command.APPROVE not in allowed_commands(S.DRAFT, may_approve=False)
    assert Command.APPROVE in allowed_commands(S.DRAFT, may_approve=True)


def test_observation_may_skip_steps_but_never_leaves_terminal_states():
    assert apply_observed_status(S.DRAFT, S.PAID) is S.PAID
    assert apply_observed_status(S.PAID, S.AWAITING_PAYMENT) is S.AWAITING_PAYMENT
    for terminal in (S.VOIDED, S.DELETED):
        for other in S:
            if other is not terminal:
                with pytest.raises(IllegalTransition):
                    apply_observed_status(terminal, other)
    with pytest.raises(IllegalTransition):
        apply_observed_status(S.PAID, S.DRAFT)


def test_parse_rejects_unknown_status_with_the_choices():
    with pytest.raises(ValueError, match="DRAFT"):
        S.parse("ARCHIVED")
    assert S.parse(" awaiting_payment ") is S.AWAITING_PAYMENT
