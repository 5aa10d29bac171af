"""Status commands and keeping our records in line with the accounting system (webhooks, reconciliation)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Iterable, Mapping
import attrs
from .host import UseCaseBase
from .errors import BackendError, IllegalTransition
from .model import Invoice, InvoiceRecord
from .i18n import _, lazy_, lazy_money
from .status import LABELS, Command, allowed_commands, apply_command, apply_observed_status
from .results import SyncReport, as_reported, source_text, status_text
from .outbox import SETTLED_REASONS

# Without a change feed a paid invoice is read again for this long after its record last changed here (a payment
# removed in the accounting system makes it awaiting payment again, usually soon); later it is not read at every
# pass. Voided and deleted ones are final and never read again.
PAID_RECHECK = dt.timedelta(days=30)


class SyncMixin(UseCaseBase):
    # ---- status commands (sending them: :mod:`.commands`) ------------------------------------------

    async def email_recipient(self, invoice_id: int) -> tuple[InvoiceRecord, str]:
        """The invoice and the address emailing it would reach (asked before a person confirms); raises
        :class:`IllegalTransition` when it cannot be emailed in its status."""
        record = self.store.get_invoice(int(invoice_id))
        apply_command(record.status, Command.EMAIL, invoice=record.number or f"invoice {record.id}", amount_paid=record.amount_paid,
                      capabilities=self.capabilities())
        address = await self.plugins.email_recipient(self.runtime, connection=self.accounting, remote_id=record.remote_id)
        return record, str(address or "")

    def commands_for(self, record: InvoiceRecord, *, may_approve: bool = True) -> list[Command]:
        return allowed_commands(record.status, amount_paid=record.amount_paid, may_approve=may_approve,
                                capabilities=self.capabilities())

    # ---- sync ---------------------------------------------------------------------------------------

    async def apply_remote(self, record: InvoiceRecord, invoice: Invoice, *, source: str = "sync") -> InvoiceRecord:
        """Bring our record in line with what the backend says, through the status machine. An observation
        older than one already applied (a reconciliation's read finishing after a webhook's) is ignored:
        PAID -> AWAITING_PAYMENT is legal (a payment removed), so a stale read would otherwise undo a payment."""
        given, record = record, self.store.get_invoice(record.id)  # another task may have moved it since it was read
        invoice = as_reported(invoice, self.capabilities())
        seen = self.store.kv_get("remote-updated", str(record.id))
        if invoice.updated_at is not None and seen and invoice.updated_at < dt.datetime.fromisoformat(seen):
            if invoice.status is not record.status or invoice.amount_paid != record.amount_paid:
                await self.store.writes.audit("status_stale", lazy_("Ignored %(status)s from %(source)s: it is older than the %(current)s already applied",
                                                       status=LABELS[invoice.status], source=source_text(source), current=record.status_label),
                                 invoice_id=record.id, deal_id=record.deal_id,
                                 data={"observed": invoice.status.value, "observed_at": invoice.updated_at.isoformat(), "seen": seen})
            return given if given == record else record
        if invoice.updated_at is not None:
            await self.store.writes.kv_set("remote-updated", str(record.id), invoice.updated_at.isoformat())
        previous = record.status
        try:
            status = apply_observed_status(previous, invoice.status, invoice=record.number or _("invoice %(id)s") % {"id": record.id})
        except IllegalTransition as exc:
            await self.store.writes.audit("status_rejected", lazy_("Ignored %(status)s from %(source)s: %(reason)s", status=LABELS[invoice.status],
                                                      source=source_text(source), reason=exc.reason), invoice_id=record.id,
                             deal_id=record.deal_id, data={"observed": invoice.status.value})
            return given if given == record else record
        changes: dict[str, Any] = {}
        if status is not previous:
            changes["status"] = status.value
        for name in ("total", "amount_paid", "amount_due"):
            if getattr(invoice, name) != getattr(record, name):
                changes[name] = getattr(invoice, name)
        if invoice.number and invoice.number != record.number:
            changes["number"] = invoice.number
        if invoice.due_date and invoice.due_date != record.due_date:
            changes["due_date"] = invoice.due_date
        if invoice.sent and not record.sent:
            changes["sent"] = True  # sent to the customer from the accounting system
        if not changes:
            return given if given == record else record
        settled = SETTLED_REASONS.get(status) if status is not previous else None

        def change() -> InvoiceRecord:  # on the writer thread
            with self.store.transaction():  # the change and its write-backs (outbox rows) commit together
                updated = self.store.update_invoice(record.id, **changes)
                if status is not previous:
                    self._enqueue_status(updated, previous, status)
                elif "number" in changes or "amount_paid" in changes:  # e.g. "Partly paid": the deal fields follow
                    self._enqueue_deal_fields(updated, self.store.get_settings())
                if settled or "sent" in changes:
                    self._settle(updated, settled or "emailed")
            return updated
        updated = await self.store.writes.run(change)
        if "sent" in changes and not source.startswith("command:"):
            await self.store.writes.audit("emailed", lazy_("%(invoice)s was sent to the customer from %(backend)s",
                                              invoice=record.number or record.remote_id, backend=self._label(self.accounting)),
                             invoice_id=record.id, deal_id=record.deal_id)
        if status is not previous:
            await self.store.writes.audit("status_changed", lazy_("%(previous)s → %(current)s (%(source)s)", previous=LABELS[previous],
                                                     current=status_text(updated), source=source_text(source)), invoice_id=record.id,
                             deal_id=record.deal_id, data={"from": previous.value, "to": status.value})
            await self._notify("invoice_status_changed", record=updated, previous=previous, current=status)
        elif "amount_paid" in changes:
            await self.store.writes.audit("payment", lazy_("Paid %(paid)s of %(total)s", paid=lazy_money(updated.amount_paid, updated.currency),
                                              total=lazy_money(updated.total, updated.currency)), invoice_id=record.id,
                             deal_id=record.deal_id)
        if status is not previous or "sent" in changes:
            await self.drain_outbox([record.id])
        if settled or "sent" in changes:
            await self._notify("invoice_settled", record=updated, reason=settled or "emailed")
        return updated

    async def sync_invoices(self, remote_ids: Iterable[str], *, source: str = "webhook") -> SyncReport:
        conn = self.accounting
        ours = {}
        for rid in dict.fromkeys(remote_ids):
            record = self.store.invoice_by_remote(conn.backend, rid)
            if record is not None:
                ours[rid] = record
        if not ours:
            return SyncReport()
        invoices = await self.plugins.get_invoices(self.runtime, connection=conn, remote_ids=list(ours))
        return await self._apply_all(ours, invoices, source)

    async def _apply_all(self, ours: Mapping[str, InvoiceRecord], invoices: Iterable[Invoice], source: str) -> SyncReport:
        checked = changed = rejected = 0
        for invoice in invoices:
            record = ours.get(invoice.remote_id)
            if record is None:
                continue  # only invoices created through invoicebridge are followed
            checked += 1
            updated = await self.apply_remote(record, invoice, source=source)
            if updated is not record:
                changed += 1
            elif invoice.status is not record.status:
                rejected += 1
        return SyncReport(checked=checked, changed=changed, rejected=rejected)

    async def reconcile(self) -> SyncReport:
        """Finish left-over operations, then fetch everything modified since the last pass."""
        recovered = await self.recover()
        conn = self.accounting
        state_key = f"last-sync-{conn.id}"
        last = self.store.kv_get("sync", state_key)
        since = dt.datetime.fromisoformat(last) if last else None
        started = self.runtime.now()
        caps = self.capabilities(conn)
        try:
            if caps.change_feed:
                invoices = list(await self.plugins.modified_since(self.runtime, connection=conn, since=since))
            else:  # no change feed: read our open invoices by id, a batch at a time (see PAID_RECHECK)
                invoices = []
                paid_since = (started - PAID_RECHECK).isoformat(timespec="microseconds")
                open_ids = [r.remote_id for r in self.store.open_invoices(conn.backend, paid_since=paid_since)]
                for start in range(0, len(open_ids), caps.batch_size):
                    invoices += await self.plugins.get_invoices(self.runtime, connection=conn,
                                                                remote_ids=open_ids[start:start + caps.batch_size])
        except BackendError as exc:
            await self.store.writes.update_connection(conn.id, last_error=str(exc))
            raise
        ours = {}
        for inv in invoices:
            record = self.store.invoice_by_remote(conn.backend, inv.remote_id)
            if record is not None:
                ours[inv.remote_id] = record
        report = await self._apply_all(ours, invoices, "reconciliation")
        # Overlap by a minute so a change written while we read is seen next time.
        await self.store.writes.kv_set("sync", state_key, (started - dt.timedelta(minutes=1)).isoformat())
        await self.store.writes.update_connection(conn.id, last_sync_at=started.isoformat(), last_error="")
        return attrs.evolve(report, recovered=recovered)

