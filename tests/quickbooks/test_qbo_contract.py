"""The AccountingBackendContract suite for QuickBooks, unchanged: exactly-once creates, a refused invoice in a
batch, the status mapping, neutral statuses and commands, sync, webhooks, typed errors; against the sandbox with
every exchange checked against Intuit's XSDs."""

from __future__ import annotations

import pytest
from qbo_support import VERIFIER
from test_qbo_backend_invoices import draft

from invoicebridge.core.model import CreateRequest, WebhookRequest
from invoicebridge.core.status import InvoiceStatus
from invoicebridge.core.testing import AccountingBackendContract, AccountingSubject
from invoicebridge.plugins.quickbooks.backend import QuickBooksBackend
from invoicebridge.plugins.quickbooks.webhooks import sign


class TestQuickBooksContract(AccountingBackendContract):
    @pytest.fixture
    def accounting_subject(self, backend, sandbox):
        customer = sandbox.api.write("Customer", {"DisplayName": "Contract Ltd",
                                                  "PrimaryEmailAddr": {"Address": "ap@contract.example"}})["Id"]

        async def request(key: str) -> CreateRequest:
            return CreateRequest(key, draft(key, name="Contract Ltd"), customer)

        async def bad_request(key: str) -> CreateRequest:
            return CreateRequest(key, draft(key, name="Contract Ltd"), "999999")  # an unknown customer: 2500

        async def touch(remote_id: str) -> InvoiceStatus:
            sandbox.api.sales.pay_in_full(remote_id)  # received in QBO
            return InvoiceStatus.PAID

        def webhook() -> tuple[WebhookRequest, WebhookRequest]:
            body = (b'[{"specversion":"1.0","id":"c1","type":"qbo.invoice.updated.v1","intuitentityid":"1",'
                    b'"intuitaccountid":"' + sandbox.realm_id.encode() + b'","data":{}}]')
            return (WebhookRequest(body, {"intuit-signature": sign(body, VERIFIER)}),
                    WebhookRequest(body, {"intuit-signature": sign(body, "not-the-token")}))

        return AccountingSubject(factory=QuickBooksBackend, backend=backend, request=request, bad_request=bad_request,
                                 touch=touch, webhook=webhook, missing_id="999999")
