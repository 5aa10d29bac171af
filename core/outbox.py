"""The outbox: every CRM write-back is a row of the store's ``operations`` (the outbox table, see
:mod:`.outbox_store`) written in the same transaction as the change that calls for it, then sent by
:meth:`OutboxMixin.drain_outbox` under a lease with its holder recorded, so a crash anywhere leaves the row to
the next pass (at once when its holder process is gone). The texts are composed by core (:mod:`.crm_texts`)
and sent through the CRM plugin's primitives with dedupe keys.

The reminder's lifecycle: one per invoice, made when the invoice can be sent (awaiting payment, not sent yet),
marked done when it is emailed (by us or in the accounting system), paid, voided or deleted. A reminder not
started yet is cancelled instead of being made and closed.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any, Iterable, Mapping

from .host import UseCaseBase
from . import crm_texts, workers
from .errors import BackendError
from .i18n import lazy_
from .model import Deal, InvoiceRecord, Role
from .outbox_store import retry_wait
from .results import BulkItem, _invoice_from_record
from .serde import load_draft
from .status import InvoiceStatus

log = logging.getLogger("invoicebridge.pipeline")
SETTLED_REASONS = {InvoiceStatus.PAID: "paid", InvoiceStatus.VOIDED: "voided", InvoiceStatus.DELETED: "deleted"}
SENDABLE = (InvoiceStatus.AWAITING_PAYMENT,)  # awaiting payment: the invoice can be sent to the customer
ACTIVITY, COMPLETE, NOTE, DEAL_FIELDS = "crm_activity", "crm_complete_activity", "crm_note", "crm_deal_field"
WRITEBACK_KINDS = (ACTIVITY, COMPLETE, NOTE, DEAL_FIELDS)
WRITEBACK_LEASE = 120  # seconds: one CRM call with its retries
# Kept for older callers: the holder now lives on the operation's row, and these kv namespaces are read once
# (recover) to finish what an older version left there.
OWNER_NAMESPACE = "operation-holder"
SETTLE_PENDING = "settle-pending"
LEGACY_WRITEBACKS = "writeback-pending"


def _op_key(dedupe_key: str) -> str:
    return f"crm:{dedupe_key}"


class OutboxMixin(UseCaseBase):
    # ---- composing: rows written with the change that calls for them (call inside its transaction) --------

    def _enqueue_created(self, record: InvoiceRecord, deal: Deal | None) -> None:
        settings = self.store.get_settings()
        if settings.get("note_on_create", True):
            key = f"{crm_texts.invoice_key(record)}:created"
            self._enqueue(NOTE, key, record, {"content": crm_texts.created_note(record, deal, settings)})
        self._enqueue_reminder(record, deal, settings)
        self._enqueue_deal_fields(record, settings)

    def _enqueue_reminder(self, record: InvoiceRecord, deal: Deal | None, settings: Mapping[str, Any]) -> None:
        if not settings.get("reminder_enabled", True) or record.status not in SENDABLE or record.sent:
            return
        made = crm_texts.reminder(record, deal, dict(settings), self.runtime.today())
        self._enqueue(ACTIVITY, crm_texts.reminder_key(record), record,
                      {"subject": made.subject, "note": made.note, "due_date": made.due_date.isoformat()})

    def _enqueue_status(self, record: InvoiceRecord, previous: InvoiceStatus, current: InvoiceStatus) -> None:
        settings = self.store.get_settings()
        if settings.get("note_on_status_change", True):
            key = f"status:{record.backend}:{record.remote_id or record.id}:{previous.value}->{current.value}:{record.updated_at}"
            self._enqueue(NOTE, key, record, {"content": crm_texts.status_note(record, previous, current, settings)})
        if current in SENDABLE and previous not in SENDABLE:
            self._enqueue_reminder(record, None, settings)
        self._enqueue_deal_fields(record, settings)

    def _enqueue_deal_fields(self, record: InvoiceRecord, settings: Mapping[str, Any]) -> None:
        """The deal fields chosen in the settings get the invoice's number and status: one row per invoice holding
        the latest values, so a later status replaces one not sent yet and a value sent late is sent again."""
        values = crm_texts.deal_field_values(record, dict(settings))
        if values:
            key = f"{crm_texts.invoice_key(record)}:deal-fields"
            self.store.enqueue_latest(_op_key(key), kind=DEAL_FIELDS, deal_id=record.deal_id, record_id=record.id,
                                      payload={"values": values, "dedupe_key": key}, stamp=self.runtime.now().isoformat())

    def _settle(self, record: InvoiceRecord, reason: str) -> None:
        """The invoice needs no more sending: drop its reminder if nobody started it, else close it once made."""
        key = _op_key(crm_texts.reminder_key(record))
        if self.store.cancel_operation(key, reason):
            return
        if self.store.operation_state(key) in ("done", "in_flight"):
            self._enqueue(COMPLETE, f"{crm_texts.reminder_key(record)}:done", record,
                          {"reason": reason, "after": key, "reminder": crm_texts.reminder_key(record)})

    def _enqueue(self, kind: str, dedupe_key: str, record: InvoiceRecord, payload: dict[str, Any]) -> None:
        self.store.enqueue(_op_key(dedupe_key), kind=kind, deal_id=record.deal_id, record_id=record.id,
                           payload={**payload, "dedupe_key": dedupe_key}, stamp=self.runtime.now().isoformat())

    # ---- sending ------------------------------------------------------------------------------------------

    async def drain_outbox(self, record_ids: Iterable[int] | None = None) -> int:
        """Send the write-backs that are due (of ``record_ids`` only, when given); returns how many were sent."""
        conn = self.runtime.maybe_connection(Role.CRM)
        if conn is None:
            return 0  # they wait for a CRM to be connected
        ops: list[dict[str, Any]] = []
        for record_id in (list(record_ids) if record_ids is not None else [None]):
            ops += self.store.due_operations(WRITEBACK_KINDS, now=self.runtime.now(), record_id=record_id)
        sent = 0
        for op in ops:
            sent += await self._send_one(conn, op)
        return sent

    async def _send_one(self, conn, op: Mapping[str, Any]) -> int:
        key, payload = op["key"], op["payload"]
        if op["state"] == "in_flight" and not (self._lease_expired(op) or await self._holder_died(op)):
            return 0  # another worker is sending it
        if op["kind"] == COMPLETE and self.store.operation_state(payload["after"]) in ("pending", "in_flight", "failed"):
            return 0  # the reminder is not made yet: closed on a later pass
        now = self.runtime.now()
        if not await self.store.writes.claim_operation(key, lease_seconds=WRITEBACK_LEASE, now=now, holder=workers.this_process()):
            return 0
        # An earlier attempt was sent (a crash, a timeout or a dropped answer since): the CRM may have made the
        # object, so the plugin looks for it before making one. Recorded before this one leaves.
        in_doubt = bool(op.get("sent_at"))
        await self.store.writes.mark_sent([key], now=now)
        try:
            made = await self._send(conn, op["kind"], op["deal_id"], payload, in_doubt=in_doubt)
        except Exception as exc:  # the invoice exists; a failed write-back is shown, and retried by the next pass
            wait = retry_wait(op["attempts"] + 1)
            await self.store.writes.retry_later(key, str(exc)[:500], next_try_at=(now + dt.timedelta(seconds=wait)).isoformat())
            message = lazy_("Could not mark the reminder done in the CRM: %(error)s", error=exc) if op["kind"] == COMPLETE \
                else lazy_("Could not update the deal in the CRM: %(error)s", error=exc)
            await self.store.writes.audit("writeback_failed", message, invoice_id=op["record_id"], deal_id=op["deal_id"],
                             data={"operation": key})
            log.warning("write-back %s failed: %s", op["kind"], type(exc).__name__)
            return 0
        if op["kind"] == DEAL_FIELDS:  # newer values may have come while these were sent: then it stays pending
            return int(await self.store.writes.finish_if_current(key, payload))

        def finish() -> None:
            with self.store.transaction():
                if made:
                    self.store.set_result(key, made)  # the object's id (the reminder's, for closing it later)
                self.store.finish_operation(key, record_id=op["record_id"])
        await self.store.writes.run(finish)
        return 1

    async def _send(self, conn, kind: str, deal_id: str, payload: Mapping[str, Any], *, in_doubt: bool) -> str:
        """Send one write-back; the id of the object the CRM made ("" when it answers none)."""
        if kind == ACTIVITY:
            return str(await self.plugins.add_activity(
                self.runtime, connection=conn, deal_id=deal_id, subject=payload["subject"],
                due_date=dt.date.fromisoformat(payload["due_date"]), note=payload["note"], dedupe_key=payload["dedupe_key"],
                in_doubt=in_doubt) or "")
        if kind == NOTE:
            return str(await self.plugins.add_note(self.runtime, connection=conn, deal_id=deal_id, content=payload["content"],
                                                   dedupe_key=payload["dedupe_key"], in_doubt=in_doubt) or "")
        if kind == COMPLETE:  # the reminder's id as the CRM answered it, when this version made it
            activity_id = self.store.operation_result(payload["after"]) if payload.get("after") else ""
            return str(await self.plugins.complete_activity(self.runtime, connection=conn, deal_id=deal_id,
                                                            dedupe_key=payload["reminder"], activity_id=activity_id) or "")
        if kind == DEAL_FIELDS:
            await self.plugins.set_deal_fields(self.runtime, connection=conn, deal_id=deal_id, values=payload["values"])
            return ""
        raise BackendError(f"unknown write-back kind {kind!r}")

    async def _notify(self, event: str, **kwargs: Any) -> None:
        """An event (``invoice_created``, ``invoice_status_changed``, ``invoice_settled``) for plugins that want it:
        best effort, not retried; what invoicebridge itself writes into the CRM goes through the outbox."""
        try:
            await getattr(self.plugins, event)(self.runtime, **kwargs)
        except Exception as exc:
            log.warning("an %s hook failed: %s", event, type(exc).__name__)

    # ---- recovery -----------------------------------------------------------------------------------------

    async def recover(self) -> int:
        """Finish operations a crash or failure left behind (pending, retryable failed, in flight whose lease ran
        out or whose holder process is gone), then the write-backs due."""
        keys = [op["key"] for op in self.store.operations(states=("pending", "in_flight", "failed"), limit=1000, kinds=("create",))
                if op["state"] != "in_flight" or self._lease_expired(op) or await self._holder_died(op)]
        items = await self._run_creates(keys) if keys else []
        found = await self._adopt_dead()
        await self.store.writes.run(self._adopt_legacy_writebacks)  # on the writer thread, one transaction each
        await self._retry_commands()
        await self.drain_outbox()
        await self._retry_automation()
        return sum(1 for i in items if i.record is not None) + found

    def _adopt_legacy_writebacks(self) -> None:
        """Write-backs an older version left in kv (an upgrade after a crash) become outbox rows, once."""
        for record_id in self.store.kv_items(LEGACY_WRITEBACKS):
            record = self.store.get_invoice(int(record_id))
            with self.store.transaction():
                self._enqueue_created(record, None)
                self.store.kv_set(LEGACY_WRITEBACKS, record_id, None)
        for record_id, reason in self.store.kv_items(SETTLE_PENDING).items():
            record = self.store.get_invoice(int(record_id))
            with self.store.transaction():
                self._enqueue(COMPLETE, f"{crm_texts.reminder_key(record)}:done", record,
                              {"reason": str(reason), "after": "", "reminder": crm_texts.reminder_key(record)})
                self.store.kv_set(SETTLE_PENDING, record_id, None)

    async def _holder_died(self, op: Mapping[str, Any]) -> bool:
        """An in-flight operation whose holder process is certainly gone (killed mid-run, then restarted): end its
        lease now instead of waiting minutes. Only the one caller whose compare-and-set on the lease wins takes it;
        being a later attempt, a create looks for the invoice at the backend before creating it."""
        owner = op.get("holder") or ""
        if not owner or not workers.is_dead(owner):
            return False
        ended = await self.store.writes.renew_lease(op["key"], held_until=op["lease_until"], lease_seconds=-1, now=self.runtime.now())
        if ended:
            log.info("operation %s was held by a process that is gone; taking it over", op["key"])
        return bool(ended)

    async def _adopt_dead(self) -> int:
        """Look once (never create) for the invoice of each operation that failed for good: a final error on
        a later attempt does not prove an earlier attempt's request was not committed remotely (a dropped
        connection, then an expired token). Found ones are recorded; the rest stay dead for a person's Retry
        (marked looked-at by their next try time)."""
        ops = [op for op in self.store.operations(states=("dead",), limit=1000, kinds=("create",)) if not op.get("next_try_at")]
        if not ops or not self.capabilities(self.accounting).find_created:
            return 0
        results: dict[str, BulkItem] = {}
        try:
            await self._find_created([(op["key"], load_draft(op["payload"]["draft"])) for op in ops], results, None)
        except BackendError:
            return 0  # try again on the next pass
        for op in ops:
            await self.store.writes.run(lambda key=op["key"]: self.store.conn.execute(  # the writer thread's connection
                "UPDATE operations SET next_try_at = ? WHERE key = ? AND state = 'dead'", ("checked", key)))
        return len(results)

    def _pending_writebacks(self) -> list[dict[str, Any]]:
        return self.store.due_operations(WRITEBACK_KINDS, now=self.runtime.now())


__all__ = ["OWNER_NAMESPACE", "SETTLED_REASONS", "SETTLE_PENDING", "OutboxMixin", "_invoice_from_record"]
