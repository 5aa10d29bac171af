"""``AccountingBackendContract``: the pytest class an accounting plugin subclasses to check its backend.

Provide one fixture, ``accounting_subject``, returning an :class:`AccountingSubject`::

    class TestMyBooks(AccountingBackendContract):
        @pytest.fixture
        def accounting_subject(self, ...):
            return AccountingSubject(factory=MyBooks, backend=MyBooks.open(connection, context),
                                     request=make_request, bad_request=make_bad_request, touch=pay_remotely)

The tests run through the backend's real methods and its real status mapping; what a capability switches
off is not asked (no webhook test without ``webhooks``).
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable

import attrs
import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import run_state_machine_as_test

from .._compat import maybe_await
from ..errors import BackendError, WebhookRejected
from ..model import CreateRequest, WebhookRequest
from ..status import Command, InvoiceStatus
from .statuses import mapping_machine


@attrs.define
class AccountingSubject:
    factory: Any  # the registered BackendFactory
    backend: Any  # an AccountingBackend opened on a test connection
    request: Callable[[str], Awaitable[CreateRequest]]  # a valid create request under this operation key
    bad_request: Callable[[str], Awaitable[CreateRequest]]  # one the backend refuses (the rest of its batch goes on)
    touch: Callable[[str], Awaitable[InvoiceStatus]]  # change the invoice in the backend; the neutral status it now has
    webhook: Callable[[], tuple[WebhookRequest, WebhookRequest]] | None = None  # (signed, forged) deliveries
    missing_id: str = "00000000-0000-0000-0000-000000000000"  # an invoice id the backend does not have


async def check_webhooks(backend: Any, webhook: Callable[[], tuple[WebhookRequest, WebhookRequest]]) -> None:
    """The signed delivery verifies to a list of events; the forged one raises WebhookRejected."""
    signed, forged = webhook()
    assert isinstance(await maybe_await(backend.verify_webhook(signed)), list)
    with pytest.raises(WebhookRejected):
        await maybe_await(backend.verify_webhook(forged))


class AccountingBackendContract:
    """Subclass with an ``accounting_subject`` fixture. Every test is an ``anyio`` test."""

    pytestmark = pytest.mark.anyio

    async def test_creates_are_exactly_once_under_one_operation_key(self, accounting_subject: AccountingSubject) -> None:
        s = accounting_subject
        request = await s.request("contract-once")
        [first] = await s.backend.create_invoices([request])
        assert first.ok, first.error
        [again] = await s.backend.create_invoices([request])
        assert again.ok and again.invoice.remote_id == first.invoice.remote_id, "a replay made a second invoice"
        if s.factory.info.capabilities.find_created:
            found = await s.backend.find_created([request])
            assert found[request.operation_key].remote_id == first.invoice.remote_id

    async def test_a_refused_invoice_does_not_sink_its_batch(self, accounting_subject: AccountingSubject) -> None:
        s = accounting_subject
        bad = await s.bad_request("contract-b2")
        requests = [await s.request("contract-b1"), bad, await s.request("contract-b3")]
        if s.factory.info.capabilities.batch_size < 3:  # within one call of the backend's batch size
            requests = requests[1:]
        results = await s.backend.create_invoices(requests)
        assert [r.operation_key for r in results] == [r.operation_key for r in requests]  # one each, in order
        assert [r.ok for r in results] == [r is not bad for r in requests]
        refused = results[requests.index(bad)]
        assert refused.error and not refused.invoice
        made = [r.invoice.remote_id for r in results if r.ok]
        assert len(set(made)) == len(made) >= 1

    def test_status_mapping_round_trips_and_drives_the_machine(self, accounting_subject: AccountingSubject) -> None:
        factory = accounting_subject.factory
        for status in InvoiceStatus:
            try:
                remote = factory.status_to_remote(status)
            except (KeyError, ValueError):
                continue  # a status the backend never has (no drafts, no approval step)
            assert factory.status_from_remote(remote) is status
        caps = factory.info.capabilities
        if caps.drafts and caps.approval_step:  # the full machine only makes sense for a full vocabulary
            run_state_machine_as_test(mapping_machine(factory), settings=settings(
                max_examples=30, stateful_step_count=15, deadline=None, suppress_health_check=list(HealthCheck)))

    async def test_created_invoices_report_a_neutral_status_and_commands_work(self, accounting_subject: AccountingSubject) -> None:
        s = accounting_subject
        caps = s.factory.info.capabilities
        [created] = await s.backend.create_invoices([await s.request("contract-status")])
        assert isinstance(created.invoice.status, InvoiceStatus)
        assert created.invoice.status in ((InvoiceStatus.DRAFT,) if caps.drafts else
                                          (InvoiceStatus.AWAITING_PAYMENT, InvoiceStatus.AWAITING_APPROVAL))
        if created.invoice.status is InvoiceStatus.DRAFT:
            invoice = await s.backend.change_status(created.invoice.remote_id, Command.APPROVE, "contract-approve")
            assert invoice.status is InvoiceStatus.AWAITING_PAYMENT
        if caps.void:
            invoice = await s.backend.change_status(created.invoice.remote_id, Command.VOID, "contract-void")
            assert invoice.status is InvoiceStatus.VOIDED

    async def test_changes_in_the_backend_are_seen_by_sync(self, accounting_subject: AccountingSubject) -> None:
        s = accounting_subject
        [created] = await s.backend.create_invoices([await s.request("contract-sync")])
        status = await s.touch(created.invoice.remote_id)
        [read] = await s.backend.get_invoices([created.invoice.remote_id])
        assert read.status is status
        if s.factory.info.capabilities.change_feed:
            changed = {i.remote_id: i for i in await s.backend.modified_since(None)}
            assert changed[created.invoice.remote_id].status is status

    async def test_webhooks_are_verified(self, accounting_subject: AccountingSubject) -> None:
        s = accounting_subject
        if not s.factory.info.capabilities.webhooks or s.webhook is None:
            assert not s.factory.info.capabilities.webhooks, "the backend says it takes webhooks: give the subject one"
            return
        await check_webhooks(s.backend, s.webhook)

    async def test_errors_are_typed(self, accounting_subject: AccountingSubject) -> None:
        s = accounting_subject
        with pytest.raises(BackendError):
            await s.backend.change_status(s.missing_id, Command.VOID, "contract-missing")
