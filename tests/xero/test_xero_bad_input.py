"""Bad input the client and sandbox must handle: unknown ContactID, duplicate invoice numbers, a batch with
one bad invoice, summarised batches, idempotency replay and key reuse."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from invoicebridge.core.errors import DuplicateOperation, RemoteValidationError
from invoicebridge.core.model import CreateRequest, Customer, LineItem
from invoicebridge.plugins.xero.backend import XeroBackend
from invoicebridge.plugins.xero.client import XeroClient

from test_xero_invoices import create, make_draft

pytestmark = pytest.mark.anyio
UNKNOWN = "3f0c1d2e-1111-4222-8333-444455556666"


@pytest.mark.parametrize("persist_before_404", [False, True])
async def test_invalid_contact_id_fails_only_that_invoice(runtime, connection, sandbox, transport, persist_before_404):
    sandbox.persist_before_404 = persist_before_404  # Xero's behaviour here is not documented: both must work
    good = make_draft("1")
    [cid] = await XeroBackend.open(connection, runtime).find_or_create_customers(customers=[good.customer])
    requests = [CreateRequest("op-good", good, cid), CreateRequest("op-bad", make_draft("2"), UNKNOWN)]
    ok, bad = await XeroBackend.open(connection, runtime).create_invoices(requests=requests)
    assert ok.ok and not bad.ok
    assert bad.operation_key == "op-bad" and "could not find" in bad.error
    assert len(sandbox.state.invoices) == 1
    # the batch failed as a whole (404), then each was sent alone with its own key
    keys = [r.headers["Idempotency-Key"] for r in transport.api_calls("PUT", "/Invoices")]
    assert keys[0].startswith("ib-")
    assert keys[1:] == (["op-bad"] if persist_before_404 else ["op-good", "op-bad"])


async def test_duplicate_invoice_number_is_reported_per_invoice(runtime, connection, sandbox):
    [first] = await create(runtime, connection, make_draft("1", number="INV-9000"))
    assert first.ok and first.invoice.number == "INV-9000"
    [dup] = await create(runtime, connection, make_draft("2", number="INV-9000"), keys=["op-dup"])
    assert not dup.ok and dup.errors == ("Invoice # must be unique.",)
    assert len(sandbox.state.invoices) == 1


async def test_batch_with_one_bad_invoice_creates_the_others(runtime, connection, sandbox):
    bad_line = LineItem(description="Mystery", quantity=1, unit_amount=10, account_code="999", tax_type="NOPE")
    results = await create(runtime, connection, make_draft("1"), make_draft("2", line_items=[bad_line]),
                           make_draft("3"))
    assert [r.ok for r in results] == [True, False, True]
    assert results[1].errors == ("Account code '999' is not a valid code for this document.",
                                 "The TaxType code 'NOPE' does not exist or cannot be used with this type of transaction.")
    assert "Account code '999'" in results[1].error
    assert {i.reference for i in sandbox.state.invoices.values()} == {"Deal 1", "Deal 3"}


async def test_more_than_50_are_sent_in_batches_of_50(runtime, connection, transport):
    results = await create(runtime, connection, *[make_draft(str(n)) for n in range(51)])
    assert all(r.ok for r in results) and len({r.invoice.number for r in results}) == 51
    assert [len(__import__("json").loads(r.content)["Invoices"]) for r in transport.api_calls("PUT", "/Invoices")] == [50, 1]


async def test_summarised_batch_fails_whole_but_keeps_valid_ones(runtime, connection, sandbox):
    """Xero's default (summarizeErrors absent): 400 for the request, the valid elements still persisted."""
    [cid] = await XeroBackend.open(connection, runtime).find_or_create_customers(customers=[make_draft().customer])
    body = {"Invoices": [
        {"Type": "ACCREC", "Contact": {"ContactID": cid}, "LineItems": [{"Description": "ok", "Quantity": 1,
                                                                          "UnitAmount": 5, "AccountCode": "200"}]},
        {"Type": "ACCREC", "Contact": {"ContactID": cid}, "LineItems": [{"Description": "bad", "Quantity": 1,
                                                                          "UnitAmount": 5, "AccountCode": "999"}]},
    ]}
    async with XeroClient(runtime, connection) as xero:
        with pytest.raises(RemoteValidationError) as caught:
            await xero.request("PUT", "Invoices", body=body)
    assert caught.value.messages == ["element 2: Account code '999' is not a valid code for this document."]
    assert len(sandbox.state.invoices) == 1


async def test_missing_contact_and_approval_fields_are_element_errors(runtime, connection):
    async with XeroClient(runtime, connection) as xero:
        created = await xero.create_invoices([], "k-empty")
        assert created == []
        body = {"Invoices": [{"Type": "ACCREC", "Contact": {}, "Status": "AUTHORISED",
                              "LineItems": [{"Description": "x", "Quantity": 1, "UnitAmount": 1}]}]}
        response = await xero.request("PUT", "Invoices", params={"summarizeErrors": "false"}, body=body)
    [element] = response.json()["Invoices"]
    messages = [e["Message"] for e in element["ValidationErrors"]]
    assert element["StatusAttributeString"] == "ERROR" and element["InvoiceID"] == "00000000-0000-0000-0000-000000000000"
    assert messages[0].startswith("The Contact must contain at least 1 of the following elements")
    assert "Due Date is mandatory to approve an invoice." in messages


async def test_idempotent_replay_returns_the_first_response(runtime, connection, sandbox, clock):
    draft = make_draft("1")
    [cid] = await XeroBackend.open(connection, runtime).find_or_create_customers(customers=[draft.customer])
    request = CreateRequest("op-once", draft, cid)
    [first] = await XeroBackend.open(connection, runtime).create_invoices(requests=[request])
    clock.advance(5 * 60)  # within 6 minutes: a retry after a lost answer
    [again] = await XeroBackend.open(connection, runtime).create_invoices(requests=[request])
    assert again.invoice == first.invoice and len(sandbox.state.invoices) == 1
    clock.advance(2 * 60)  # the key is forgotten after 6 minutes: Xero would create a second one
    [third] = await XeroBackend.open(connection, runtime).create_invoices(requests=[request])
    assert third.invoice.remote_id != first.invoice.remote_id and len(sandbox.state.invoices) == 2


async def test_idempotency_key_reused_with_a_different_body_is_refused(runtime, connection, sandbox):
    draft = make_draft("1")
    [cid] = await XeroBackend.open(connection, runtime).find_or_create_customers(customers=[draft.customer])
    await XeroBackend.open(connection, runtime).create_invoices(requests=[CreateRequest("op-k", draft, cid)])
    changed = make_draft("1", reference="Deal 1 (changed)")
    with pytest.raises(DuplicateOperation, match="used with a different request"):
        await XeroBackend.open(connection, runtime).create_invoices(requests=[CreateRequest("op-k", changed, cid)])
    assert len(sandbox.state.invoices) == 1


async def test_long_operation_keys_become_a_128_char_digest(runtime, connection, transport):
    draft = make_draft("1")
    [cid] = await XeroBackend.open(connection, runtime).find_or_create_customers(customers=[draft.customer])
    [result] = await XeroBackend.open(connection, runtime).create_invoices(requests=[CreateRequest("x" * 300, draft, cid)])
    key = transport.api_calls("PUT", "/Invoices")[0].headers["Idempotency-Key"]
    assert result.ok and len(key) <= 128 and key.startswith("ib-")


async def test_unknown_invoice_is_remote_not_found(runtime, connection):
    from invoicebridge.core.errors import RemoteNotFound

    with pytest.raises(RemoteNotFound):
        await XeroBackend.open(connection, runtime).invoice_pdf(remote_id=UNKNOWN)
    assert await XeroBackend.open(connection, runtime).get_invoices(remote_ids=[UNKNOWN]) == []


async def test_payment_rules_in_the_sandbox(sandbox, clock):
    from invoicebridge.plugins.xero.msdate import parse_date
    from invoicebridge.plugins.xero.sandbox_state import InvoiceProblem

    contact = sandbox.state.create_contact({"Name": "Payer Ltd"})
    invoice = sandbox.state.create_invoice({
        "Type": "ACCREC", "Contact": {"ContactID": contact.contact_id}, "Status": "AUTHORISED",
        "DueDate": "2026-12-01", "LineItems": [{"ItemCode": "LIC-STD", "Quantity": 2}]}, app="x", parse_date=parse_date)
    assert invoice.total == Decimal("1197.60") and invoice.date == dt.date(2026, 11, 20)
    with pytest.raises(InvoiceProblem, match="exceeds the amount outstanding"):
        sandbox.state.add_payment(invoice.invoice_id, "5000")
    part = sandbox.state.add_payment(invoice.invoice_id, "100")
    assert invoice.status == "AUTHORISED"
    with pytest.raises(InvoiceProblem, match="payments or credit notes allocated"):
        sandbox.state.set_status(invoice.invoice_id, "VOIDED")
    rest = sandbox.state.add_payment(invoice.invoice_id)
    assert invoice.status == "PAID" and invoice.fully_paid_on == dt.date(2026, 11, 20)
    sandbox.state.remove_payment(rest.payment_id)
    assert invoice.status == "AUTHORISED" and invoice.amount_paid == part.amount and invoice.fully_paid_on is None


async def test_retry_after_a_refusal_is_not_answered_from_xero_s_idempotency_cache(runtime, connection, sandbox, clock,
                                                                                    transport):
    """Fact sheet §2 / §13.25: Xero replays the first answer to a key for 6 minutes, refusals included. A refused
    invoice (an ERROR element: nothing was created) that is fixed in Xero and retried a minute later must reach
    Xero again, not get the cached refusal; and a retry with a corrected draft must not be refused as a reused key."""
    bad_line = LineItem(description="Consulting", quantity=1, unit_amount=10, account_code="210")
    [refused] = await create(runtime, connection, make_draft("7", line_items=[bad_line]), keys=["op-7"])
    assert not refused.ok and "Account code '210'" in refused.error
    sandbox.state.accounts.append({"AccountID": "a-210", "Code": "210", "Name": "Services", "Type": "REVENUE",
                                   "Class": "REVENUE", "Status": "ACTIVE", "TaxType": "OUTPUT2"})
    clock.advance(60)
    [again] = await create(runtime, connection, make_draft("7", line_items=[bad_line]), keys=["op-7"])
    assert again.ok and len(sandbox.state.invoices) == 1
    # a corrected draft after a refusal is a new request too, not a reuse of the refused key
    [refused] = await create(runtime, connection, make_draft("8", line_items=[
        LineItem(description="x", quantity=1, unit_amount=10, account_code="999")]), keys=["op-8"])
    [fixed] = await create(runtime, connection, make_draft("8"), keys=["op-8"])
    assert not refused.ok and fixed.ok
    keys = [r.headers["Idempotency-Key"] for r in transport.api_calls("PUT", "/Invoices")]
    assert len(set(keys)) == len(keys) == 4


async def test_an_answer_with_fewer_contacts_than_sent_is_refused(runtime, connection, monkeypatch):
    """Xero answering fewer contacts than were sent must not leave a customer without one: the ids were
    str(None) ("None"), sent as a ContactID with the invoice."""
    create_contacts = XeroClient.create_contacts

    async def one_short(self, contacts, key):
        return (await create_contacts(self, contacts, key))[:-1]

    monkeypatch.setattr(XeroClient, "create_contacts", one_short)
    customers = [Customer(name="Acme Ltd", external_key="pd-org-1"), Customer(name="Bolt plc", external_key="pd-org-2")]
    with pytest.raises(RemoteValidationError, match="2 sent"):
        await XeroBackend.open(connection, runtime).find_or_create_customers(customers=customers)
