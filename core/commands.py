"""Status commands (submit, approve, delete, void, email) as outbox rows of kind :data:`COMMAND`.

A command is written to the store (its key names the command, the invoice and the status and version it was
asked on, so a double click is the same row) before the accounting system is called, then claimed under a lease
with its holder, sent with that key as the idempotency key, and marked done after our record follows the answer.
A failure that may pass (a 429 after the plugin's own retries, a 5xx, a dropped connection) leaves the row
``failed`` until its next try; :meth:`recover` sends it then. A crash mid-command leaves it ``in_flight``; the
next pass takes it over (at once when its holder is gone). Never twice: an attempt after the first reads the
invoice before sending, and a status that moved on from the one the command was asked on (or, for email, an
invoice already sent) means the earlier attempt got through, so it is recorded, not sent again.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any, Mapping

from . import workers
from .host import UseCaseBase
from .errors import BackendError, InvoiceBridgeError
from .i18n import _, lazy_
from .model import Invoice, InvoiceRecord
from .opkeys import operation_key
from .outbox_store import retry_wait
from .results import OperationInProgress
from .status import COMMAND_LABELS, Command, InvoiceStatus, apply_command

log = logging.getLogger("invoicebridge.pipeline")
COMMAND = "command"
COMMAND_LEASE = 300  # seconds: one command call with the plugin's retries behind a rate limit


class CommandMixin(UseCaseBase):
    async def command(self, invoice_id: int, command: Command | str) -> InvoiceRecord:
        """Send ``command`` for the invoice, once; raises :class:`IllegalTransition` before anything is sent,
        the backend's error when it fails (a retryable one stays queued and is sent by :meth:`recover`)."""
        record = self.store.get_invoice(int(invoice_id))
        command = Command.parse(command)
        return await self.send_command(await self.queue_command(record, command))

    async def send_command(self, key: str) -> InvoiceRecord:
        """Send the command row ``key`` (from :meth:`queue_command`) unless it is done already."""
        return await self._run_command(self.store.get_operation(key))

    async def queue_command(self, record: InvoiceRecord, command: Command) -> str:
        """Check ``command`` is allowed now and write its row (once per command, invoice, status and version);
        returns its key."""
        conn = self.accounting
        may_approve = await self.may_approve() if command is Command.APPROVE else True
        # raises IllegalTransition before anything is sent; the new status comes from the backend's answer
        apply_command(record.status, command, invoice=self._name(record), amount_paid=record.amount_paid,
                      may_approve=may_approve, capabilities=self.capabilities(conn))
        key = operation_key("command", command.value, record.id, record.status.value, record.updated_at)
        if not await self.store.writes.enqueue(key, kind=COMMAND, deal_id=record.deal_id, record_id=record.id,
                                  payload={"command": command.value, "status": record.status.value},
                                  stamp=self.runtime.now().isoformat()):
            await self.store.writes.rearm_operation(key, states=("dead",))  # asked again after it failed for good: a new try
        return key

    async def may_approve(self) -> bool:
        """Whether the connected accounting user may approve invoices. Asked of the backend only where its roles
        mean something (capability ``approval_roles``); elsewhere everyone who may use invoicebridge may."""
        conn = self.accounting
        if not self.capabilities(conn).approval_roles:
            return True
        user = await self.plugins.current_user(self.runtime, connection=conn)
        return bool(user.may_approve)

    def _name(self, record: InvoiceRecord) -> str:
        return record.number or _("invoice %(id)s") % {"id": record.id}

    async def _run_command(self, op: Mapping[str, Any]) -> InvoiceRecord:
        key = op["key"]
        record = self.store.get_invoice(int(op["record_id"]))
        conn = self.accounting  # raises NotConnected before the row is claimed
        if op["state"] == "done":
            return record  # the same command asked again: done once
        if op["state"] in ("dead", "cancelled"):
            raise BackendError(_("The command failed: %(error)s") % {"error": op["last_error"]}, operation=key)
        if op["state"] == "in_flight" and not (self._lease_expired(op) or await self._holder_died(op)) or \
                not await self.store.writes.claim_operation(key, lease_seconds=COMMAND_LEASE, now=self.runtime.now(),
                                               holder=workers.this_process()):
            raise OperationInProgress(_("This command is already being sent (operation %(key)s); refresh in a moment")
                                      % {"key": key}, operation=key)
        command, asked_on = Command.parse(op["payload"]["command"]), InvoiceStatus.parse(op["payload"]["status"])
        try:
            invoice = await self._send_command(op, record, command, asked_on, key)
        except InvoiceBridgeError as exc:
            await self.store.writes.run(self._command_failed, op, record, exc)  # on the writer thread
            raise
        if invoice is None:  # queued on a status it no longer has: never sent
            await self.store.writes.cancel_operation(key, "the invoice changed before the command was sent", states=("in_flight",))
            return record
        first = False

        def emailed() -> None:  # on the writer thread
            with self.store.transaction():  # sent: its reminder is closed (an outbox row), now or by the next pass
                self.store.audit("emailed", lazy_("%(invoice)s emailed to the customer from %(backend)s",
                                                  invoice=self._name(record), backend=self._label(conn)),
                                 invoice_id=record.id, deal_id=record.deal_id, data={"operation": key})
                if first:
                    self._settle(self.store.update_invoice(record.id, sent=True), "emailed")
        if command is Command.EMAIL:
            first = not record.sent
            await self.store.writes.run(emailed)
        updated = await self.apply_remote(record, invoice, source=f"command:{command.value}")
        await self.store.writes.finish_operation(key, record_id=record.id)
        await self.drain_outbox([record.id])
        if first:
            await self._notify("invoice_settled", record=updated, reason="emailed")
        return updated

    async def _send_command(self, op: Mapping[str, Any], record: InvoiceRecord, command: Command,
                            asked_on: InvoiceStatus, key: str) -> Invoice | None:
        """The backend's invoice after the command: sent now, or found done by an earlier attempt. None when
        the command was never sent and the invoice has moved on meanwhile."""
        conn = self.accounting
        if op["attempts"] >= 1:  # an earlier attempt may have got through before a crash or a dropped answer
            found = await self.plugins.get_invoices(self.runtime, connection=conn, remote_ids=[record.remote_id])
            invoice = next((i for i in found or [] if i.remote_id == record.remote_id), None)
            if invoice is not None and (invoice.sent if command is Command.EMAIL else invoice.status is not asked_on):
                return invoice
        elif record.status is not asked_on:
            return None
        return await self.plugins.change_status(self.runtime, connection=conn, remote_id=record.remote_id,
                                                command=command, operation_key=key)

    def _command_failed(self, op: Mapping[str, Any], record: InvoiceRecord, exc: InvoiceBridgeError) -> None:
        key, command = op["key"], Command.parse(op["payload"]["command"])
        retryable = bool(getattr(exc, "retryable", False))
        if retryable:
            wait = max(retry_wait(op["attempts"] + 1), int(getattr(exc, "retry_after", None) or 0))
            self.store.retry_later(key, str(exc)[:500], next_try_at=(self.runtime.now() + dt.timedelta(seconds=wait)).isoformat())
            message = lazy_("%(command)s of %(invoice)s failed: %(error)s; it will be retried",
                            command=COMMAND_LABELS[command], invoice=self._name(record), error=exc)
        else:
            self.store.fail_operation(key, str(exc)[:500], final=True)
            message = lazy_("%(command)s of %(invoice)s failed: %(error)s", command=COMMAND_LABELS[command],
                            invoice=self._name(record), error=exc)
        self.store.audit("command_failed", message, invoice_id=record.id, deal_id=record.deal_id,
                         data={"operation": key, "retryable": retryable})
        log.warning("command %s failed: %s", command.value, type(exc).__name__)

    async def _retry_commands(self) -> None:
        """Send the commands a crash or a failure that may pass left behind (run by :meth:`recover`)."""
        for op in self.store.due_operations((COMMAND,), now=self.runtime.now()):
            try:
                await self._run_command(op)
            except InvoiceBridgeError as exc:  # recorded on the row and in the audit log; tried again later
                log.info("command %s not sent yet: %s", op["key"], type(exc).__name__)
