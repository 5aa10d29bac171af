"""A local copy of a tenant's contacts, so finding the customers of a bulk run costs pages, not one call each.

The first use reads every contact (pages of 1,000, archived ones included); later uses ask only for what changed
since the last read (``If-Modified-Since`` with Xero's own clock from the response, less a minute of overlap).
Contacts we create are added as soon as Xero answers. The copy lives in ``runtime.kv`` (namespace
``xero.contacts``, one row per tenant) so a restart does not read everything again, and in ``runtime.cache``
for lookups. Reads closer together than :data:`FRESH_FOR` reuse the copy: a contact someone adds in Xero in
that window is caught when creating it fails with "name already assigned" (see ``operations``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Iterable

from invoicebridge.core.model import Customer

from . import converter as w
from .msdate import parse_datetime
from .translate import http_date

KV_NAMESPACE = "xero.contacts"
FRESH_FOR = dt.timedelta(seconds=60)
OVERLAP = dt.timedelta(minutes=1)
FIELDS = ("contact_id", "contact_number", "contact_status", "name", "email_address", "tax_number")


def norm(value: str | None) -> str:
    return "".join((value or "").split()).lower()


class ContactCache:
    """The contacts of one tenant with indexes by ContactNumber, tax number, email and name."""

    def __init__(self, runtime: Any, tenant_id: str) -> None:
        self.runtime = runtime
        self.tenant_id = tenant_id
        saved = runtime.kv_get(KV_NAMESPACE, tenant_id) or {}
        self.since: str | None = saved.get("since")
        self.checked_at: dt.datetime | None = None  # when this process last asked Xero
        self.contacts: dict[str, w.Contact] = {}
        self._index: dict[str, dict[str, set[str]]] = {"number": {}, "tax": {}, "email": {}, "name": {}}
        for row in saved.get("contacts", []):
            self._put(w.Contact(**dict(zip(FIELDS, row, strict=True))))

    @classmethod
    def for_tenant(cls, runtime: Any, tenant_id: str) -> "ContactCache":
        key = ("xero", "contacts", tenant_id)
        cache = runtime.cache.get(key)
        if cache is None:
            cache = runtime.cache[key] = cls(runtime, tenant_id)
        return cache

    # ---- keeping it fresh ------------------------------------------------------------------------------

    async def refresh(self, xero: Any, *, force: bool = False) -> int:
        """Read what changed in Xero since the last read (everything the first time); returns the calls made."""
        now = self.runtime.now()
        if not force and self.checked_at is not None and now - self.checked_at < FRESH_FOR:
            return 0
        page, calls, server_now = 1, 0, None
        while True:
            contacts, stamp, last = await xero.contacts_page(page, modified_since=self.since)
            calls += 1
            server_now = server_now or stamp
            for contact in contacts:
                self._put(contact)
            if last or not contacts:
                break
            page += 1
        moment = parse_datetime(server_now) if server_now else now
        self.since = http_date(moment - OVERLAP)
        self.checked_at = now
        await self.save()
        return calls

    def add(self, contacts: Iterable[w.Contact]) -> None:
        for contact in contacts:
            self._put(contact)

    async def save(self) -> None:
        rows = [[getattr(c, f) or "" for f in FIELDS] for c in self.contacts.values()]
        await self.runtime.kv_set(KV_NAMESPACE, self.tenant_id, {"since": self.since, "contacts": rows})

    # ---- lookups ---------------------------------------------------------------------------------------

    def candidates(self, customer: Customer) -> list[w.Contact]:
        """Every cached contact sharing an identifying value with the customer (``best_contact`` picks)."""
        ids: set[str] = set()
        if customer.external_key:
            ids |= self._index["number"].get(customer.external_key[:50], set())
        if customer.tax_number:
            ids |= self._index["tax"].get(norm(customer.tax_number), set())
        if customer.email:
            ids |= self._index["email"].get(norm(customer.email), set())
        ids |= self._index["name"].get(norm(customer.name), set())
        return [self.contacts[i] for i in sorted(ids)]

    def _put(self, contact: w.Contact) -> None:
        cid = (contact.contact_id or "").lower()
        if not cid:
            return
        old = self.contacts.get(cid)
        if old is not None:
            self._unindex(cid, old)
        self.contacts[cid] = contact
        for name, value in self._keys(contact):
            if value:
                self._index[name].setdefault(value, set()).add(cid)

    def _unindex(self, cid: str, contact: w.Contact) -> None:
        for name, value in self._keys(contact):
            self._index[name].get(value, set()).discard(cid)

    @staticmethod
    def _keys(contact: w.Contact) -> list[tuple[str, str]]:
        return [("number", contact.contact_number or ""), ("tax", norm(contact.tax_number)),
                ("email", norm(contact.email_address)), ("name", norm(contact.name))]

