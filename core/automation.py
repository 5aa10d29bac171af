"""Webhooks received from the backends and the automation on won deals.

A won deal with the automation on is an outbox row of kind :data:`AUTOMATION` (key ``automation:<deal>``),
written when the webhook is accepted, before it is answered. Running it claims the row under a lease (with its
holder process), creates the draft under the stable create key ``automation~<deal>`` (exactly once, see
:mod:`.create`), then marks the row done. A kill between any two steps leaves the row in flight; the next
:meth:`recover` takes it over (at once when its holder is gone, else when the lease ends), finds the draft the
dead run made by its create key, and never makes a second one. A failure that may pass waits as ``failed`` for
its next try; one a person must fix ends ``dead``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Mapping

from . import workers
from .host import UseCaseBase
from .create import LEASE_SECONDS
from .errors import BackendError, InvoiceBridgeError, NotConnected
from .i18n import lazy_
from .model import InvoiceRecord, WebhookRequest
from .outbox_store import retry_wait
from .results import OperationInProgress, _checked_events

AUTOMATION = "automation"
AUTOMATION_LEASE = LEASE_SECONDS + 60  # the draft's create (with its own lease) runs inside this one
LEGACY_PENDING = "automation-pending"  # the kv namespace an older version kept won deals in; adopted by recover


def automation_key(deal_id: str) -> str:
    return f"automation:{deal_id}"


class AutomationMixin(UseCaseBase):
    # ---- webhooks -----------------------------------------------------------------------------------

    async def accounting_webhook(self, request: WebhookRequest) -> list[str]:
        """Verify (raises WebhookRejected) and return the new remote invoice ids to sync."""
        conn = self.accounting
        events = _checked_events(await self.plugins.accounting_verify_webhook(self.runtime, connection=conn, request=request))
        ids = []
        for event in events:
            if event.kind != "invoice_changed":
                continue
            if event.event_id and not await self.store.writes.first_receipt(conn.backend, event.event_id):
                continue
            ids.append(event.object_id)
        return ids

    async def crm_webhook(self, request: WebhookRequest) -> list[str]:
        """Verify (raises WebhookRejected) and return the ids of deals newly won."""
        conn = self.crm
        events = _checked_events(await self.plugins.crm_verify_webhook(self.runtime, connection=conn, request=request))
        won = []
        for event in events:
            self.forget_deal(event.object_id)  # even for a replay: the snapshot may predate it
            if await self.store.writes.run(self._receive_crm_event, conn.backend, event):
                won.append(event.object_id)
        return won

    def _receive_crm_event(self, backend: str, event: Any) -> bool:
        """On the writer thread: the receipt and the automation's row commit together; True for a deal won
        (not a replay)."""
        with self.store.transaction():
            if event.event_id and not self.store.first_receipt(backend, event.event_id):
                return False
            if event.kind != "deal_won":
                return False
            if self.store.get_settings().get("automation_draft_when_won"):
                # Written before the webhook is answered: if making the draft fails or the process dies,
                # recover() runs it (the CRM will not resend an event it saw answered).
                self._enqueue_automation(str(event.object_id))
            return True

    def _enqueue_automation(self, deal_id: str) -> None:
        """The deal's automation row, pending; one that ended (done, dead, cancelled) is armed again, as the deal
        was won again (a draft is still made once: a deal with an invoice gets none)."""
        key = automation_key(deal_id)
        if not self.store.enqueue(key, kind=AUTOMATION, deal_id=deal_id, record_id=None, payload={},
                                  stamp=self.runtime.now().isoformat()):
            self.store.rearm_operation(key)

    async def deal_won(self, deal_id: str, *, fire: bool = True) -> InvoiceRecord | None:
        """Fire *deal won*; create a draft when the automation is on (once per deal). A failure that may pass
        (the accounting or CRM API down, rate limits) leaves the deal's row to :meth:`recover`."""
        deal_id = str(deal_id)
        if fire:
            await self.plugins.deal_won(self.runtime, deal_id=deal_id)
        key = automation_key(deal_id)
        if not self.store.get_settings().get("automation_draft_when_won"):
            await self.store.writes.cancel_operation(key, "the automation is off")
            return None
        if not self.store.operation_state(key):
            await self.store.writes.run(self._enqueue_automation, deal_id)
        return await self._run_automation(self.store.get_operation(key))

    async def _run_automation(self, op: Mapping[str, Any]) -> InvoiceRecord | None:
        key, deal_id = op["key"], op["deal_id"]
        if op["state"] not in ("pending", "failed", "in_flight"):
            return None  # ran already (or ended): no second draft
        if op["state"] == "in_flight" and not (self._lease_expired(op) or await self._holder_died(op)):
            return None  # another worker is making the draft
        now = self.runtime.now()
        if not await self.store.writes.claim_operation(key, lease_seconds=AUTOMATION_LEASE, now=now, holder=workers.this_process()):
            return None
        create_key = self._automation_create_key(deal_id)
        made = self.store.invoice_by_operation(create_key)
        if made is not None:  # an earlier run made the draft, then died before marking its row done
            await self.store.writes.finish_operation(key, record_id=made.id)
            return made
        if self.store.invoices_for_deal(deal_id):
            def settled() -> None:  # on the writer thread, one transaction
                with self.store.transaction():
                    self.store.audit("automation", lazy_("Deal won; it already has an invoice, so no draft was made"), deal_id=deal_id)
                    self.store.finish_operation(key)
            await self.store.writes.run(settled)
            return None
        try:
            record = await self.create_invoice(deal_id, key=deal_id, source="automation", overrides={"status": "DRAFT"})
        except (BackendError, NotConnected, OperationInProgress) as exc:
            made_op = self.store.operation_state(create_key)  # the draft's create, when it got that far, decides
            if made_op in ("pending", "failed", "in_flight") or not made_op and getattr(exc, "retryable", True):
                wait = retry_wait(op["attempts"] + 1)
                await self.store.writes.retry_later(key, str(exc)[:500], next_try_at=(now + dt.timedelta(seconds=wait)).isoformat())
                message = lazy_("Deal won, but no draft was made yet: %(error)s; it will be retried", error=exc)
            else:
                await self.store.writes.fail_operation(key, str(exc)[:500], final=True)
                message = lazy_("Deal won, but no draft was made yet: %(error)s", error=exc)
            await self.store.writes.audit("automation_failed", message, deal_id=deal_id, data={"operation": key})
            return None
        except InvoiceBridgeError as exc:  # the deal cannot be invoiced as it is: a person must act
            await self.store.writes.fail_operation(key, str(exc)[:500], final=True)
            await self.store.writes.audit("automation_failed", lazy_("Deal won, but no draft was made: %(error)s", error=exc), deal_id=deal_id,
                             data={"operation": key})
            return None
        await self.store.writes.finish_operation(key, record_id=record.id)
        return record

    def _adopt_legacy_automation(self, deal_id: str) -> None:
        with self.store.transaction():
            self._enqueue_automation(deal_id)
            self.store.kv_set(LEGACY_PENDING, deal_id, None)

    def _automation_create_key(self, deal_id: str) -> str:
        return self.stored_key("automation", deal_id, deal_id=deal_id)

    async def _retry_automation(self) -> None:
        for deal_id in self.store.kv_items(LEGACY_PENDING):  # left by an older version: adopted once
            await self.store.writes.run(self._adopt_legacy_automation, deal_id)
        automate = self.store.get_settings().get("automation_draft_when_won")
        for op in self.store.due_operations((AUTOMATION,), now=self.runtime.now()):
            if automate:
                await self._run_automation(op)
            else:  # turned off meanwhile: the deal's draft is not made later
                await self.store.writes.cancel_operation(op["key"], "the automation is off")
