"""The Xero backend keeps the accounting contract (invoicebridge.core.testing), against its sandbox."""

from __future__ import annotations

import json
import uuid

import pytest

from invoicebridge.core.model import CreateRequest, LineItem, WebhookRequest
from invoicebridge.core.status import InvoiceStatus
from invoicebridge.core.testing import AccountingBackendContract, AccountingSubject
from invoicebridge.plugins.xero.backend import XeroBackend
from invoicebridge.plugins.xero.webhooks import sign

from test_xero_invoices import make_draft


class TestXeroKeepsTheAccountingContract(AccountingBackendContract):
    @pytest.fixture
    def accounting_subject(self, runtime, connection, sandbox):
        backend = XeroBackend.open(connection, runtime)

        async def request(key: str) -> CreateRequest:
            draft = make_draft(key[-2:].strip("-") or "1", reference=f"Contract {key}")
            [contact] = await backend.find_or_create_customers([draft.customer])
            return CreateRequest(operation_key=key, draft=draft, contact_id=contact)

        async def bad_request(key: str) -> CreateRequest:
            good = await request(key)
            bad = make_draft("9", line_items=[LineItem(description="Mystery", quantity=1, unit_amount=10,
                                                       account_code="999", tax_type="NOPE")])
            return CreateRequest(operation_key=key, draft=bad, contact_id=good.contact_id)

        async def touch(remote_id: str) -> InvoiceStatus:
            sandbox.state.set_status(remote_id, "AUTHORISED")  # approved and paid by someone in Xero
            sandbox.state.add_payment(remote_id)
            return InvoiceStatus.PAID

        def webhook():
            body = json.dumps({"events": [{
                "resourceUrl": f"https://api.xero.com/api.xro/2.0/Invoices/{uuid.uuid4()}", "resourceId": str(uuid.uuid4()),
                "eventDateUtc": "2026-11-20T09:30:00.000", "eventType": "UPDATE", "eventCategory": "INVOICE",
                "tenantId": sandbox.tenant_id, "tenantType": "ORGANISATION"}],
                "firstEventSequence": 1, "lastEventSequence": 1, "entropy": "CONTRACT"}).encode()
            return (WebhookRequest(body=body, headers={"X-Xero-Signature": sign(body, "test-webhook-key")}),
                    WebhookRequest(body=body, headers={"X-Xero-Signature": sign(body, "not-the-key")}))

        return AccountingSubject(factory=XeroBackend, backend=backend, request=request, bad_request=bad_request,
                                 touch=touch, webhook=webhook, missing_id=str(uuid.uuid4()))

