"""Webhooks received from the backends and the automation on won deals."""

from __future__ import annotations

from .host import UseCaseBase
from .errors import BackendError, InvoiceBridgeError, NotConnected
from .model import InvoiceRecord, WebhookRequest
from .i18n import lazy_
from .results import OperationInProgress, _checked_events


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
            if event.event_id and not self.store.first_receipt(conn.backend, event.event_id):
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
            if event.event_id and not self.store.first_receipt(conn.backend, event.event_id):
                continue
            if event.kind == "deal_won":
                won.append(event.object_id)
                if self.store.get_settings().get("automation_draft_when_won"):
                    # Remembered before the webhook is answered: if making the draft fails or the process dies,
                    # recover() tries again (the CRM will not resend an event it saw answered).
                    self.store.kv_set("automation-pending", str(event.object_id), True)
        return won

    async def deal_won(self, deal_id: str, *, fire: bool = True) -> InvoiceRecord | None:
        """Fire *deal won*; create a draft when the automation is on (once per deal). A failure that may pass
        (the accounting or CRM API down, rate limits) leaves the deal marked for :meth:`recover`."""
        deal_id = str(deal_id)
        if fire:
            await self.plugins.deal_won(self.runtime, deal_id=deal_id)
        if not self.store.get_settings().get("automation_draft_when_won"):
            self.store.kv_set("automation-pending", deal_id, None)
            return None
        if self.store.invoices_for_deal(deal_id):
            self.store.kv_set("automation-pending", deal_id, None)
            self.store.audit("automation", lazy_("Deal won; it already has an invoice, so no draft was made"), deal_id=deal_id)
            return None
        try:
            record = await self.create_invoice(deal_id, key=deal_id, source="automation", overrides={"status": "DRAFT"})
        except (BackendError, NotConnected, OperationInProgress) as exc:
            retry = getattr(exc, "retryable", True)
            self.store.kv_set("automation-pending", deal_id, True if retry else None)
            self.store.audit("automation_failed", lazy_("Deal won, but no draft was made yet: %(error)s; it will be retried", error=exc)
                             if retry else lazy_("Deal won, but no draft was made yet: %(error)s", error=exc), deal_id=deal_id)
            return None
        except InvoiceBridgeError as exc:  # the deal cannot be invoiced as it is: a person must act
            self.store.kv_set("automation-pending", deal_id, None)
            self.store.audit("automation_failed", lazy_("Deal won, but no draft was made: %(error)s", error=exc), deal_id=deal_id)
            return None
        self.store.kv_set("automation-pending", deal_id, None)
        return record

    async def _retry_automation(self) -> None:
        for deal_id, pending in self.store.kv_items("automation-pending").items():
            if pending is not True:
                continue
            await self.deal_won(deal_id, fire=False)

