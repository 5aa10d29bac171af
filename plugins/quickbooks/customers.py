"""Finding or creating QBO customers (fact sheet §3.1).

A customer is found by DisplayName (case-insensitive; the name QBO requires unique across customers, vendors and
employees). Lookups for up to 30 names go in one batch call of queries; the missing customers are created in
batch calls of 30 with a ``requestid``. A create refused with 6240 means the name exists: as a customer (perhaps
inactive: then it is made active again) it is used; as a vendor or employee it is a clear error for that deal.
"""

from __future__ import annotations

import uuid
from typing import Any, Sequence

from invoicebridge.core.errors import RemoteValidationError
from .i18n import _
from invoicebridge.core.model import CreateRequest, Customer

from . import converter as c
from .client import QboClient

BATCH = 30
NAMESPACE = uuid.UUID("5a8b3f36-1d0f-4c59-9a9e-6a4c1f0e2b71")


def quote(value: str) -> str:
    """A string literal of QBO's query language (backslash escapes)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def request_id(*parts: str) -> str:
    """A requestid (36 characters, fits both the 50 and the batch's 36 limits) stable for the same parts."""
    return str(uuid.uuid5(NAMESPACE, "\x1f".join(parts)))


def chunks(items: Sequence[Any], size: int = BATCH) -> list[Sequence[Any]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


async def _lookup(qbo: QboClient, names: Sequence[str], *, inactive: bool = False) -> dict[str, dict[str, Any]]:
    """DisplayName (lower case) -> Customer, asked 30 names a query (``DisplayName IN (…)``, sent as a POST body so
    the statement's length does not matter): plain calls, so the 40 batch calls a minute stay for invoices."""
    found: dict[str, dict[str, Any]] = {}
    active = " and Active in (true, false)" if inactive else ""
    for group in chunks(list(names)):
        names_in = ", ".join(quote(name) for name in group)
        statement = f"select * from Customer where DisplayName in ({names_in}){active}"
        for row in await qbo.query(statement, "Customer", post=True):
            found.setdefault(str(row.get("DisplayName", "")).lower(), row)
    return found


async def _reactivate(qbo: QboClient, row: dict[str, Any]) -> dict[str, Any]:
    body = {"Id": row["Id"], "SyncToken": row["SyncToken"], "sparse": True, "Active": True}
    return await qbo.write("Customer", body, request_id=request_id("reactivate", row["Id"], row["SyncToken"]))


async def find_or_create(qbo: QboClient, customers: Sequence[Customer], currency: str = "") -> list[str]:
    return [str(row["Id"]) for row in await find_or_create_rows(qbo, customers, currency)]


async def find(qbo: QboClient, customers: Sequence[Customer]) -> list[str]:
    """The ids of the customers that exist ("" for the others), creating none."""
    names = [c.display_name(customer.name) for customer in customers]
    found = await _lookup(qbo, list(dict.fromkeys(names)))
    return [str(found[n.lower()]["Id"]) if n.lower() in found else "" for n in names]


async def find_or_create_rows(qbo: QboClient, customers: Sequence[Customer],
                              currency: str = "") -> list[dict[str, Any]]:
    """The customers' rows, the missing ones created (in ``currency`` when given, else the home currency)."""
    names = [c.display_name(customer.name) for customer in customers]
    found = await _lookup(qbo, list(dict.fromkeys(names)))
    missing = list(dict.fromkeys(n for n in names if n.lower() not in found))
    by_name = {c.display_name(cu.name): cu for cu in customers}
    for group in chunks(missing):
        items = [{"bId": str(n), "operation": "create", "Customer": c.customer_body(by_name[name], currency)}
                 for n, name in enumerate(group)]
        answers = {a.get("bId"): a for a in await qbo.batch(
            items, request_id=request_id("customers", currency, *group) if currency else request_id("customers", *group))}
        taken = []
        for n, name in enumerate(group):
            answer = answers.get(str(n), {})
            if answer.get("Customer"):
                found[name.lower()] = answer["Customer"]
                continue
            errors = (answer.get("Fault") or {}).get("Error") or [{}]
            if any(str(e.get("code")) == "6240" for e in errors):
                taken.append(name)
            else:
                detail = "; ".join(str(e.get("Detail") or e.get("Message") or "") for e in errors)
                raise RemoteValidationError(_("QuickBooks could not create the customer %(name)s: %(detail)s")
                                            % {"name": name, "detail": detail}, messages=(detail,), backend="quickbooks")
        if taken:
            again = await _lookup(qbo, taken, inactive=True)
            for name in taken:
                row = again.get(name.lower())
                if row is None:
                    raise RemoteValidationError(
                        _("The name %(name)s belongs to a vendor or employee in QuickBooks, and QuickBooks wants names "
                          "unique across customers, vendors and employees: rename one of them (or the organisation in "
                          "the CRM) and try again") % {"name": name}, backend="quickbooks")
                found[name.lower()] = row if row.get("Active", True) else await _reactivate(qbo, row)
    return [found[n.lower()] for n in names]


async def for_requests(qbo: QboClient, requests: Sequence[CreateRequest]) -> tuple[dict[str, str], dict[str, str]]:
    """With multicurrency on, the customer of each request in the request's currency (fact sheet §3.1: a customer's
    ``CurrencyRef`` is "the currency of all the customer's transactions"; an invoice's must be its customer's).
    Missing customers are created in that currency. Returns ({operation_key: customer id}, {operation_key: error})
    where a customer of that name exists in another currency (QBO does not change a customer's currency)."""
    ids: dict[str, str] = {}
    errors: dict[str, str] = {}
    by_currency: dict[str, list[CreateRequest]] = {}
    for request in requests:
        by_currency.setdefault(request.draft.currency, []).append(request)
    for currency, group in by_currency.items():
        customers = list(dict.fromkeys(r.draft.customer for r in group))
        row_for = dict(zip(customers, await find_or_create_rows(qbo, customers, currency), strict=True))
        for request in group:
            row = row_for[request.draft.customer]
            theirs = str((row.get("CurrencyRef") or {}).get("value") or "")
            if theirs and theirs != currency:
                errors[request.operation_key] = _(
                    "The customer %(name)s exists in QuickBooks in %(theirs)s, and QuickBooks never changes a "
                    "customer's currency, so it cannot get an invoice in %(currency)s. Invoice this deal in "
                    "%(theirs)s, or give the organisation in the CRM a different name (a new customer in "
                    "%(currency)s is then made)") % {"name": row.get("DisplayName", ""), "theirs": theirs,
                                                      "currency": currency}
            else:
                ids[request.operation_key] = str(row["Id"])
    return ids, errors
