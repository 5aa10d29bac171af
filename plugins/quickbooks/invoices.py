"""Creating, finding, changing and reading QBO invoices (fact sheet §2.3-§2.7, §4).

Creates go in batch calls of at most 30 with a ``requestid`` made from the operation keys, so a retried call is
replayed by QBO and never creates twice; each item's Fault becomes that deal's error. QBO replays refusals too:
after an item was refused (nothing created) its next attempt gets a new key (the count of refusals is kept).
Void and delete send the current SyncToken; a 5010 (someone changed it meanwhile) re-reads and tries again, at
most three times, since both operations are checked against the fresh invoice first.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Sequence

from invoicebridge.core.errors import IllegalTransition
from .i18n import _
from invoicebridge.core.model import CreateRequest, CreateResult, Invoice
from invoicebridge.core.status import Command, InvoiceStatus

from . import converter as c
from .client import QboClient
from .customers import chunks, quote, request_id
from .errors import StaleObject

REFUSED_KV = "quickbooks.refused"  # operation key -> how many of its creates QBO refused outright
MADE_KV = "quickbooks.invoices"  # remote id -> what a deleted invoice still needs (QBO keeps nothing of it)
CDC_DAYS = 30
STALE_TRIES = 3


def attempt_key(qbo: QboClient, operation_key: str) -> str:
    refused = int(qbo.runtime.kv_get(REFUSED_KV, operation_key) or 0)
    return f"{operation_key}~{refused}" if refused else operation_key


async def note_refused(qbo: QboClient, operation_key: str) -> None:
    await qbo.runtime.kv_set(REFUSED_KV, operation_key, int(qbo.runtime.kv_get(REFUSED_KV, operation_key) or 0) + 1)


def today(qbo: QboClient) -> dt.date:
    from .qbotime import pacific_date

    return pacific_date(qbo.runtime.now())


def view(qbo: QboClient, row: dict[str, Any]) -> Invoice:
    return c.to_invoice(row, today=today(qbo))


async def remember(qbo: QboClient, invoice: Invoice) -> Invoice:
    """Keep the few facts of an invoice we made that a deletion would lose (number, currency, total)."""
    await qbo.runtime.kv_set(MADE_KV, invoice.remote_id, {"number": invoice.number, "currency": invoice.currency,
                                                     "total": str(invoice.total), "reference": invoice.reference,
                                                     "contact_name": invoice.contact_name})
    return invoice


def recorded_operation(qbo: QboClient, remote_id: str) -> str | None:
    """The operation core recorded for a remote invoice (the backend context's answer; today's runtime has none,
    so its store is asked)."""
    ask = getattr(qbo.runtime, "recorded_operation", None)
    if ask is not None:
        return ask("quickbooks", remote_id)
    store = getattr(qbo.runtime, "store", None)
    return getattr(store.invoice_by_remote("quickbooks", remote_id), "operation_key", None) if store else None


async def create(qbo: QboClient, requests: Sequence[CreateRequest], body_for: Any) -> list[CreateResult]:
    """``body_for(draft, contact_id)``: the QBO Invoice JSON (it raises :class:`ConversionError` for a draft QBO
    cannot express, which fails only that deal)."""
    results: dict[str, CreateResult] = {}
    sendable: list[tuple[CreateRequest, dict[str, Any]]] = []
    for request in requests:
        try:
            sendable.append((request, body_for(request.draft, request.contact_id)))
        except c.ConversionError as exc:
            results[request.operation_key] = CreateResult(operation_key=request.operation_key, error=str(exc),
                                                          errors=(str(exc),))
    for group in chunks(sendable):
        keys = [attempt_key(qbo, request.operation_key) for request, _body in group]
        items = [{"bId": str(n), "operation": "create", "Invoice": body} for n, (_request, body) in enumerate(group)]
        answers = {a.get("bId"): a for a in await qbo.batch(items, request_id=request_id("invoices", *keys))}
        for n, (request, _body) in enumerate(group):
            answer = answers.get(str(n), {})
            if answer.get("Invoice"):
                results[request.operation_key] = CreateResult(operation_key=request.operation_key,
                                                              invoice=await remember(qbo, view(qbo, answer["Invoice"])))
                continue
            errors = (answer.get("Fault") or {}).get("Error") or []
            messages = tuple(str(e.get("Detail") or e.get("Message") or "") for e in errors) or (
                _("QuickBooks did not create the invoice and gave no reason"),)
            await note_refused(qbo, request.operation_key)
            results[request.operation_key] = CreateResult(operation_key=request.operation_key,
                                                          error="; ".join(messages), errors=messages)
    return [results[r.operation_key] for r in requests]


async def find_created(qbo: QboClient, requests: Sequence[CreateRequest]) -> dict[str, Invoice]:
    """Invoices this app already created for ``requests`` (after a crash, once QBO forgot the requestid): the
    requests' customers' invoices whose PrivateNote carries the deal marker, matched on (deal, date, currency,
    total); each remote invoice answers one request at most, and none already recorded for another operation."""
    customer_ids = sorted({r.contact_id for r in requests if r.contact_id})
    found: list[dict[str, Any]] = []
    for group in chunks(customer_ids, 50):
        refs = ", ".join(quote(i) for i in group)
        found += await qbo.query(f"select * from Invoice where CustomerRef in ({refs})", "Invoice")
    owner = {row["Id"]: recorded_operation(qbo, row["Id"]) for row in found}
    found.sort(key=lambda row: row.get("MetaData", {}).get("CreateTime", ""))
    used: set[str] = set()
    out: dict[str, Invoice] = {}
    for request in requests:
        d = request.draft
        for row in found:
            if row["Id"] in used or owner.get(row["Id"]) not in (None, request.operation_key):
                continue
            deal_id, _ = c.deal_of(row)
            same = (deal_id == d.deal_id and row.get("TxnDate") == d.date.isoformat()
                    and (row.get("CurrencyRef") or {}).get("value") == d.currency
                    and (c.D(row.get("TotalAmt")) == d.totals.total or c.is_voided(row)))
            if same and (not d.number or row.get("DocNumber") == d.number):
                used.add(row["Id"])
                out[request.operation_key] = await remember(qbo, view(qbo, row))
                break
    return out


def _refuse(qbo: QboClient, row: dict[str, Any], command: str, reason: str) -> IllegalTransition:
    return IllegalTransition(invoice=f"invoice {row.get('DocNumber') or row['Id']}",
                             status=view_status(qbo, row), command=command, reason=reason)


def view_status(qbo: QboClient, row: dict[str, Any]) -> InvoiceStatus:
    return c.NEUTRAL[c.status_of(row, today(qbo)).state]


async def change_status(qbo: QboClient, remote_id: str, command: Any, operation_key: str) -> Invoice:
    cmd = Command.parse(command)
    if cmd is Command.EMAIL:
        row = await qbo.send(remote_id, request_id=request_id("send", operation_key))
        return view(qbo, row)
    if cmd not in (Command.VOID, Command.DELETE):
        row = await qbo.read("Invoice", remote_id)
        raise _refuse(qbo, row, cmd.value, _("QuickBooks has no drafts and no approval step: an invoice is final when "
                                        "it is created"))
    for attempt in range(1, STALE_TRIES + 1):
        row = await qbo.read("Invoice", remote_id)
        if c.is_voided(row) and cmd is Command.VOID:
            return view(qbo, row)
        if any(t.get("TxnType") == "Payment" for t in row.get("LinkedTxn") or []):
            reason = (_("it has payments applied; QuickBooks voids only invoices without payments")
                      if cmd is Command.VOID else
                      _("it has payments linked; unlink them in QuickBooks before deleting it"))
            raise _refuse(qbo, row, cmd.value, reason)
        body = {"Id": row["Id"], "SyncToken": row["SyncToken"]}
        try:
            answer = await qbo.write("Invoice", body, operation=cmd.value,
                                     request_id=request_id(cmd.value, operation_key, row["SyncToken"]))
        except StaleObject:
            if attempt == STALE_TRIES:
                raise
            continue
        if cmd is Command.DELETE:
            return c.to_invoice({**row, "status": "Deleted"}, today=today(qbo))
        return view(qbo, answer)
    raise AssertionError("unreachable")


def _deleted(qbo: QboClient, remote_id: str) -> Invoice | None:
    """A deleted invoice as core knows it (QBO keeps nothing to read but the id)."""
    made = qbo.runtime.kv_get(MADE_KV, remote_id)
    if not made:
        return None
    return Invoice(remote_id=remote_id, number=made["number"], status=InvoiceStatus.DELETED, currency=made["currency"],
                   total=made["total"], reference=made.get("reference", ""), contact_name=made.get("contact_name", ""),
                   backend="quickbooks")


async def get_invoices(qbo: QboClient, remote_ids: Sequence[str]) -> list[Invoice]:
    wanted = list(dict.fromkeys(str(i) for i in remote_ids))
    found: dict[str, Invoice] = {}
    for group in chunks(wanted, 100):
        ids = ", ".join(quote(i) for i in group)
        for row in await qbo.query(f"select * from Invoice where Id in ({ids})", "Invoice"):
            found[row["Id"]] = view(qbo, row)
    for remote_id in wanted:
        if remote_id not in found:  # a query never finds a deleted invoice
            gone = _deleted(qbo, remote_id)
            if gone is not None:
                found[remote_id] = gone
    return [found[i] for i in wanted if i in found]


async def modified_since(qbo: QboClient, since: dt.datetime | None) -> list[Invoice]:
    """Our invoices changed since ``since``: change data capture within its 30 days (deletions included), else
    a query on ``MetaData.LastUpdatedTime``. "Ours": the deal marker, or one we made."""
    now = qbo.runtime.now()

    def ours(row: dict[str, Any]) -> bool:
        return bool(c.deal_of(row)[0]) or qbo.runtime.kv_get(MADE_KV, row["Id"]) is not None

    if since is not None and now - since < dt.timedelta(days=CDC_DAYS, hours=-1):
        rows = (await qbo.cdc("Invoice", since)).get("Invoice", [])
        out = []
        for row in rows:
            if row.get("status") == "Deleted":
                gone = _deleted(qbo, row["Id"])
                if gone is not None:
                    out.append(gone)
            elif ours(row):
                out.append(view(qbo, row))
        return out
    where = f" where MetaData.LastUpdatedTime > {quote(since.isoformat())}" if since else ""
    return [view(qbo, row) for row in await qbo.query(f"select * from Invoice{where}", "Invoice") if ours(row)]
