"""CRM write-backs after an invoice exists or is settled, and the recovery pass that finishes what a crash or
failure left behind."""

from __future__ import annotations

import logging
from typing import Any, Mapping

from . import i18n
from .errors import BackendError
from .model import Deal, Invoice, InvoiceRecord
from . import workers
from .serde import load_draft
from .i18n import lazy_
from .status import InvoiceStatus
from .results import BulkItem, _invoice_from_record

log = logging.getLogger("invoicebridge.pipeline")
SETTLE_PENDING = "settle-pending"  # kv: invoice id -> why it needs no more sending, until the CRM was told
SETTLED_REASONS = {InvoiceStatus.PAID: "paid", InvoiceStatus.VOIDED: "voided", InvoiceStatus.DELETED: "deleted"}
OWNER_NAMESPACE = "operation-holder"  # kv: operation key -> the process that claimed it last (core.workers)


class OutboxMixin:
    async def _fire_created(self, record: InvoiceRecord, deal: Deal | None, invoice: Invoice) -> None:
        # One write-back per record at a time: a sync pass finishing pending write-backs must not run one that
        # a create (or a bulk run) is writing right now, or the deal gets the reminder and note twice.
        running: set = self.runtime.cache.setdefault("writebacks-running", set())
        if record.id in running:
            return
        running.add(record.id)
        try:
            if deal is None:
                deal = await self.get_deal(record.deal_id)
            with self._crm_language():  # the reminder and note are read by the whole team
                await self.plugins.invoice_created(self.runtime, record=record, deal=deal, invoice=invoice)
        except Exception as exc:  # the invoice exists; a failed write-back is shown, and retried by sync
            self.store.kv_set("writeback-pending", str(record.id), {"kind": "created"})
            self.store.audit("writeback_failed", lazy_("Could not update the deal in the CRM: %(error)s", error=exc), invoice_id=record.id, deal_id=record.deal_id)
            log.warning("write-back for invoice %s failed: %s", record.id, type(exc).__name__)
        else:
            self.store.kv_set("writeback-pending", str(record.id), None)
        finally:
            running.discard(record.id)

    async def recover(self) -> int:
        """Finish operations a crash or failure left behind (pending, retryable failed, in flight whose lease ran
        out or whose holder process is gone)."""
        keys = [op["key"] for op in self.store.operations(states=("pending", "in_flight", "failed"), limit=1000)
                if op["kind"] == "create" and (op["state"] != "in_flight" or self._lease_expired(op) or self._holder_died(op))]
        items = await self._run_creates(keys) if keys else []
        found = await self._adopt_dead()
        # write-backs left pending by a failure or a crash, whether or not any operation was left over
        for record_id, pending in list(self._pending_writebacks()):
            record = self.store.get_invoice(int(record_id))
            await self._fire_created(record, None, _invoice_from_record(record))
        # then invoices emailed, paid, voided or deleted whose reminder was not closed yet (after the above: a
        # reminder made late is closed in the same pass)
        for record_id, reason in list(self.store.kv_items(SETTLE_PENDING).items()):
            await self._fire_settled(self.store.get_invoice(int(record_id)), str(reason))
        await self._retry_automation()
        return sum(1 for i in items if i.record is not None) + found

    def _holder_died(self, op: Mapping[str, Any]) -> bool:
        """An in-flight operation whose holder process is certainly gone (killed mid-run, then restarted): end its
        lease now instead of waiting minutes. Only the one caller whose compare-and-set on the lease wins takes it;
        being a later attempt, it looks for the invoice at the backend before creating it."""
        owner = self.store.kv_get(OWNER_NAMESPACE, op["key"])
        if not owner or not workers.is_dead(owner):
            return False
        ended = self.store.renew_lease(op["key"], held_until=op["lease_until"], lease_seconds=-1, now=self.runtime.now())
        if ended:
            log.info("operation %s was held by a process that is gone; taking it over", op["key"])
        return bool(ended)

    async def _adopt_dead(self) -> int:
        """Look once (never create) for the invoice of each operation that failed for good: a final error on
        a later attempt does not prove an earlier attempt's request was not committed remotely (a dropped
        connection, then an expired token). Found ones are recorded; the rest stay dead for a person's Retry."""
        ops = [op for op in self.store.operations(states=("dead",), limit=1000)
               if op["kind"] == "create" and not self.store.kv_get("dead-checked", op["key"])]
        if not ops:
            return 0
        results: dict[str, BulkItem] = {}
        try:
            await self._find_created([(op["key"], load_draft(op["payload"]["draft"])) for op in ops], results, None)
        except BackendError:
            return 0  # try again on the next pass
        for op in ops:
            self.store.kv_set("dead-checked", op["key"], True)
        return len(results)

    async def _fire_settled(self, record: InvoiceRecord, reason: str) -> None:
        """Tell the CRM the invoice needs no more sending (its reminder is marked done). The reason was stored
        pending together with the change that caused it, and is cleared only once the plugins are done, so a
        crash or failure in between is finished by the next :meth:`recover`; the plugin never completes twice."""
        if self.store.kv_get("writeback-pending", str(record.id)):
            return  # its reminder is not made yet: recover() makes it, then closes it
        running: set = self.runtime.cache.setdefault("settles-running", set())
        if record.id in running:
            return
        running.add(record.id)
        try:
            await self.plugins.invoice_settled(self.runtime, record=record, reason=reason)
        except Exception as exc:
            self.store.audit("writeback_failed", i18n._("Could not mark the reminder done in the CRM: %(error)s") % {"error": exc},
                             invoice_id=record.id, deal_id=record.deal_id)
            log.warning("closing the reminder of invoice %s failed: %s", record.id, type(exc).__name__)
        else:
            self.store.kv_set(SETTLE_PENDING, str(record.id), None)
        finally:
            running.discard(record.id)

    def _pending_writebacks(self):
        return list(self.store.kv_items("writeback-pending").items())

