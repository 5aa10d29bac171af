"""The Pipedrive source keeps the CRM contract (invoicebridge.core.testing), against its sandbox."""

from __future__ import annotations

import base64
import json

import pytest

from invoicebridge.core.model import WebhookRequest
from invoicebridge.core.testing import CrmSourceContract, CrmSubject
from invoicebridge.plugins.pipedrive.backend import PipedriveSource


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class TestPipedriveKeepsTheCrmContract(CrmSourceContract):
    @pytest.fixture
    def crm_subject(self, runtime, connection, seed):
        def webhook():
            body = json.dumps({"meta": {"id": "contract-1", "entity": "deal", "entity_id": "2"},
                               "data": {"status": "won"}, "previous": {"status": "open"}}).encode()
            return (WebhookRequest(body=body, headers={"Authorization": _basic("hook-user", "hook-pass-1234")}),
                    WebhookRequest(body=body, headers={"Authorization": _basic("hook-user", "wrong")}))

        return CrmSubject(factory=PipedriveSource, source=PipedriveSource.open(connection, runtime),
                          deal_id=str(seed["deals"][1]), missing_deal_id="999999", webhook=webhook)
