"""New customers created by the invoice request itself, so a bulk run of new customers spends its calls on
invoices (fact sheet §3.1, ``Contact``: "Other fields (``Name``, ``ContactNumber``) can also identify or create
the contact"; §10: 60 calls a minute is the ceiling, 50 invoices a call).

When a run names more new customers than one contact batch holds, ``find_or_create_customers`` leaves them to
the invoices: their contact id is :data:`NEW` (empty), and ``create_invoices`` sends the customer's whole contact
(name, ContactNumber = our external key, email, tax number, address) in the invoice's ``Contact``. Xero finds an
existing contact by ContactNumber or name, or creates it, and answers with its ContactID, which goes into the
local contact copy. A new customer rides in one batch only: its other invoices wait for that batch and then
name the ContactID, so batches sent side by side never both create the same contact. Recovery after a crash
(``find_created``) first looks the customer up in Xero (the contact exists if any of its invoices does).
"""

from __future__ import annotations

from typing import Any, Sequence

import attrs

from invoicebridge.core.model import CreateRequest, Customer

from . import converter as w
from . import translate as t
from .contacts import ContactCache, norm

NEW = ""  # the contact id of a customer the invoice request creates


def customer_key(customer: Customer) -> str:
    return customer.external_key or norm(customer.name)


def invoice_wire(request: CreateRequest) -> w.Invoice:
    """The invoice with its new customer's whole contact in ``Contact`` (no ContactID: Xero finds or makes it)."""
    wire = t.draft_to_wire(request.draft, NEW)
    wire.contact = t.customer_to_wire(request.draft.customer)
    return wire


def waves(requests: Sequence[CreateRequest], batch_size: int) -> tuple[list[CreateRequest], list[CreateRequest]]:
    """Split ``requests`` (in order) into those to send now and those whose new customer already rides in an
    earlier batch of ``now`` (sent once that batch has answered with the ContactID)."""
    now: list[CreateRequest] = []
    later: list[CreateRequest] = []
    home: dict[str, int] = {}
    for request in requests:
        if request.contact_id == NEW:
            batch = len(now) // batch_size
            if home.setdefault(customer_key(request.draft.customer), batch) != batch:
                later.append(request)
                continue
        now.append(request)
    return now, later


async def learn(cache: ContactCache, created: Sequence[w.Invoice]) -> None:
    """Remember the contacts Xero made or found for invoices that named a new customer."""
    contacts = [x.contact for x in created if x.contact is not None and x.contact.contact_id
                and not x.contact.contact_id.startswith("00000000-")]
    if contacts:
        cache.add(contacts)
        await cache.save()


def resolve(cache: ContactCache, requests: Sequence[CreateRequest], best: Any) -> list[CreateRequest]:
    """Requests naming a new customer get its ContactID when the local copy knows it by now."""
    out = []
    for request in requests:
        if request.contact_id == NEW:
            match = best(request.draft.customer, cache.candidates(request.draft.customer))
            if match is not None:
                request = attrs.evolve(request, contact_id=match.contact_id)
        out.append(request)
    return out
