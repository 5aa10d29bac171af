"""Customers and invoices through the backend against the sandbox (requests and answers checked against the
XSDs): find or create (6240 handling), creates in batches of 30 with requestid replay, per-deal faults, void and
delete rules, SyncToken conflicts re-read, email, sync (by id and by change data capture), PDF, links, webhooks."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import httpx
import pytest
from qbo_support import VERIFIER

from invoicebridge.core.errors import IllegalTransition, RemoteValidationError
from invoicebridge.core.model import CreateRequest, Customer, InvoiceDraft, LineItem, WebhookRequest
from invoicebridge.core.status import Command, InvoiceStatus
from invoicebridge.plugins.quickbooks.webhooks import sign

pytestmark = pytest.mark.anyio
TODAY = dt.date(2026, 11, 20)


def draft(deal_id="1", name="Acme Ltd", **kw):
    lines = kw.pop("lines", (LineItem("Consulting", 3, "120", item_code="CONSULT-H", tax_percent=20),
                             LineItem("Training", 1, "650", item_code="TRAIN", tax_percent=5)))
    return InvoiceDraft(deal_id=deal_id, customer=Customer(name, email="ap@acme.example"), line_items=lines, date=TODAY,
                        due_date=TODAY + dt.timedelta(days=14), currency="GBP", reference=f"Deal {deal_id}",
                        url=f"https://crm.example/deal/{deal_id}", **kw)


async def create(backend, *drafts):
    ids = await backend.find_or_create_customers([d.customer for d in drafts])
    requests = [CreateRequest(operation_key=f"op-{d.deal_id}", draft=d, contact_id=i) for d, i in zip(drafts, ids, strict=True)]
    return await backend.create_invoices(requests)


async def test_customers_found_created_and_shared(backend, sandbox):
    sandbox.api.write("Customer", {"DisplayName": "Existing Ltd"})
    ids = await backend.find_or_create_customers([Customer("existing ltd"), Customer("New: One"), Customer("New: One")])
    assert ids[1] == ids[2] and ids[0] != ids[1]
    assert sandbox.state.get("Customer", ids[1])["DisplayName"] == "New - One"


async def test_name_of_a_vendor_is_a_clear_error(backend):
    with pytest.raises(RemoteValidationError, match="vendor or employee"):
        await backend.find_or_create_customers([Customer("Office Supplies Co")])


async def test_inactive_customer_is_made_active_again(backend, sandbox):
    row = sandbox.api.write("Customer", {"DisplayName": "Sleeping Ltd"})
    sandbox.api.write("Customer", {"Id": row["Id"], "SyncToken": "0", "sparse": True, "Active": False})
    [cid] = await backend.find_or_create_customers([Customer("Sleeping Ltd")])
    assert cid == row["Id"] and sandbox.state.get("Customer", cid)["Active"] is True


async def test_create_in_batches_of_30_with_totals(backend, sandbox, transport):
    results = await create(backend, *[draft(str(n), name=f"Customer {n % 3}") for n in range(35)])
    assert all(r.ok for r in results) and len({r.invoice.remote_id for r in results}) == 35
    first = results[0].invoice
    assert (first.total, first.tax, first.status) == (Decimal("1114.50"), Decimal("104.50"), InvoiceStatus.AWAITING_PAYMENT)
    batches = [req for req in transport.api_calls("POST", "/batch") if b'"operation":"create","Invoice"' in req.content]
    assert len(batches) == 2 and all(len(req.url.params["requestid"]) == 36 for req in batches)


async def test_per_deal_faults_and_conversion_errors(backend, sandbox):
    bad_tax = draft("2", lines=(LineItem("X", 1, "10", item_code="BOOK", tax_percent="7.5"),))
    ids = await backend.find_or_create_customers([draft().customer])
    requests = [CreateRequest("op-1", draft("1"), ids[0]), CreateRequest("op-2", bad_tax, ids[0]),
                CreateRequest("op-3", draft("3"), "999999")]
    results = await backend.create_invoices(requests)
    assert results[0].ok and "7.5%" in results[1].error and "Invalid Reference Id" in results[2].error
    again = await backend.create_invoices([CreateRequest("op-3", draft("3"), ids[0])])
    assert again[0].ok  # a refused create is a new request to QBO next time (QBO replays refusals)


async def test_a_lost_answer_is_replayed_not_duplicated(backend, sandbox, transport):
    ids = await backend.find_or_create_customers([draft().customer])
    request = CreateRequest("op-1", draft("1"), ids[0])
    [first] = await backend.create_invoices([request])
    [again] = await backend.create_invoices([request])  # e.g. the run restarted after a crash
    transport.fail_transport.append(httpx.ReadTimeout("lost"))
    [third] = await backend.create_invoices([request])
    assert first.invoice.remote_id == again.invoice.remote_id == third.invoice.remote_id
    assert len(sandbox.state.table("Invoice")) == 1


async def test_find_created_by_the_deal_marker(backend, sandbox, runtime):
    [made] = await create(backend, draft("7"))
    ids = await backend.find_or_create_customers([draft("7").customer])
    found = await backend.find_created([CreateRequest("op-7", draft("7"), ids[0]),
                                        CreateRequest("op-8", draft("8"), ids[0])])
    assert list(found) == ["op-7"] and found["op-7"].remote_id == made.invoice.remote_id


async def test_void_delete_and_the_payment_rules(backend, sandbox):
    a, b, c = await create(backend, draft("1"), draft("2"), draft("3"))
    voided = await backend.change_status(a.invoice.remote_id, Command.VOID, "void-1")
    assert voided.status is InvoiceStatus.VOIDED and voided.amount_due == 0
    sandbox.api.sales.pay_in_full(b.invoice.remote_id, Decimal(10))
    with pytest.raises(IllegalTransition, match="payments"):
        await backend.change_status(b.invoice.remote_id, Command.VOID, "void-2")
    with pytest.raises(IllegalTransition, match="unlink"):
        await backend.change_status(b.invoice.remote_id, Command.DELETE, "delete-2")
    deleted = await backend.change_status(c.invoice.remote_id, Command.DELETE, "delete-3")
    assert deleted.status is InvoiceStatus.DELETED and sandbox.state.get("Invoice", c.invoice.remote_id) is None
    with pytest.raises(IllegalTransition, match="no drafts"):
        await backend.change_status(b.invoice.remote_id, Command.APPROVE, "approve-2")


async def test_sync_token_conflict_is_re_read_and_retried(backend, sandbox, transport):
    [made] = await create(backend, draft("1"))
    rid = made.invoice.remote_id
    original = sandbox.api.write
    raced = []

    def racing_write(entity, body, **kw):
        if kw.get("operation") == "void" and not raced:  # someone edits the invoice between our read and write
            raced.append(True)
            row = sandbox.state.get("Invoice", rid)
            sandbox.api.write("Invoice", {"Id": rid, "SyncToken": row["SyncToken"], "sparse": True, "PONumber": "PO-1"})
        return original(entity, body, **kw)

    sandbox.api.write = racing_write
    voided = await backend.change_status(rid, Command.VOID, "void-1")
    voids = [resp.status_code for req, resp, _ in transport.log if req.url.params.get("operation") == "void"]
    assert raced and voided.status is InvoiceStatus.VOIDED and voids == [400, 200]  # 5010, then the retry
    assert sandbox.state.get("Invoice", rid)["SyncToken"] == "2"  # created 0, the PO edit 1, the void 2


async def test_email_share_pdf_and_deep_link(backend, sandbox):
    [made] = await create(backend, draft("1"))
    rid = made.invoice.remote_id
    assert await backend.email_recipient(rid) == "ap@acme.example"
    await backend.change_status(rid, Command.EMAIL, "email-1")
    assert sandbox.state.get("Invoice", rid)["EmailStatus"] == "EmailSent"
    assert "/pay/" in await backend.share_link(rid)
    assert (await backend.invoice_pdf(rid)).startswith(b"%PDF")
    assert await backend.deep_link(rid) == f"http://qbo.test/app/invoice?txnId={rid}"


async def test_get_invoices_and_modified_since(backend, sandbox, clock, runtime):
    one, two = await create(backend, draft("1"), draft("2"))
    since = clock.now()
    clock.advance(60)
    sandbox.api.sales.pay_in_full(one.invoice.remote_id)
    row = sandbox.state.get("Invoice", two.invoice.remote_id)
    sandbox.api.sales.delete_invoice({"Id": row["Id"], "SyncToken": row["SyncToken"]})
    [paid] = await backend.get_invoices([one.invoice.remote_id])
    changed = await backend.modified_since(since)
    assert paid.status is InvoiceStatus.PAID and paid.amount_paid == paid.total
    assert {i.remote_id: i.status for i in changed} == {one.invoice.remote_id: InvoiceStatus.PAID,
                                                       two.invoice.remote_id: InvoiceStatus.DELETED}
    [gone] = await backend.get_invoices([two.invoice.remote_id])
    assert gone.status is InvoiceStatus.DELETED and gone.total == two.invoice.total and gone.currency == "GBP"
    assert await backend.modified_since(since - dt.timedelta(days=40))  # beyond CDC's 30 days: a query


async def test_webhook_verification(backend, sandbox):
    body = (b'[{"specversion":"1.0","id":"e1","source":"intuit.x","type":"qbo.invoice.updated.v1",'
            b'"datacontenttype":"application/json","time":"2026-11-20T09:30:00Z","intuitentityid":"42",'
            b'"intuitaccountid":"' + sandbox.realm_id.encode() + b'","data":{}},'
            b'{"specversion":"1.0","id":"e2","type":"qbo.payment.created.v1","intuitentityid":"43",'
            b'"intuitaccountid":"' + sandbox.realm_id.encode() + b'","data":{}}]')
    events = await backend.verify_webhook(WebhookRequest(body, {"intuit-signature": sign(body, VERIFIER)}))
    assert [(e.kind, e.object_id, e.current) for e in events] == [("invoice_changed", "42", "updated")]
    from invoicebridge.core.errors import WebhookRejected

    with pytest.raises(WebhookRejected):
        await backend.verify_webhook(WebhookRequest(body, {"intuit-signature": sign(body + b" ", VERIFIER)}))
