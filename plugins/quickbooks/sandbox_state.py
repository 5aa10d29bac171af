"""The QBO sandbox's in-memory company (realm): entities kept in QBO's own JSON shape, ids, SyncTokens, MetaData in
Pacific time, name lists and their rules, and the change log that CDC and webhooks read (fact sheet §2, §3, §10).

Every write replaces the stored dict (never mutates it), so a snapshot of a table is a shallow copy. Invoice and
payment rules live in :mod:`.sandbox_invoices`; HTTP in :mod:`.sandbox`. Nothing here imports the client side.
"""

from __future__ import annotations

import copy
import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Callable

from attrs import define, field

from . import sandbox_currency as cur
from . import sandbox_faults as f
from .qbotime import pacific, pacific_date

CENT = Decimal("0.01")
NAME_LISTS = ("Customer", "Vendor", "Employee", "Item", "Account", "Term", "TaxCode", "TaxRate")
DISPLAY_NAMED = ("Customer", "Vendor", "Employee")  # DisplayName unique across these three (error 6240)
READ_ONLY = {"Id", "SyncToken", "MetaData", "domain", "status", "Balance", "TotalAmt", "FullyQualifiedName",
             "UnappliedAmt", "LinkedTxn", "DeliveryInfo", "InvoiceLink", "TxnTaxDetail", "HomeTotalAmt",
             "HomeBalance", "sparse"}


IDENTITY = {"Id", "SyncToken", "MetaData", "domain", "sparse", "status"}


def writable(body: dict[str, Any]) -> dict[str, Any]:
    """What a client may set: the body without read-only properties (QBO ignores those)."""
    return {k: v for k, v in body.items() if k not in READ_ONLY}


def money(value: Any) -> Decimal:
    return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)


@define
class Change:
    """One entry of the change log: what changed, when, and the webhook operation it raises."""

    at: dt.datetime
    entity: str
    id: str
    operation: str  # Create, Update, Delete, Void, Emailed


@define
class QboState:
    clock: Callable[[], dt.datetime]
    realm_id: str = "9341455555555555"
    company: dict[str, Any] = field(factory=dict)
    preferences: dict[str, Any] = field(factory=dict)
    tables: dict[str, dict[str, dict[str, Any]]] = field(factory=dict)
    deleted: dict[str, dict[str, dict[str, Any]]] = field(factory=dict)  # entity -> id -> stub, for CDC
    changes: list[Change] = field(factory=list)
    counters: dict[str, int] = field(factory=dict)
    doc_counter: int = 1000
    ast_rate: Decimal = Decimal(0)  # US companies: the one automated sales tax rate the sandbox applies
    emails_today: dict[dt.date, int] = field(factory=dict)
    # knobs for behaviours the fact sheet marks UNCERTAIN
    names_case_sensitive: bool = False  # DisplayName uniqueness ignores case
    enforce_line_amounts: bool = True  # Amount must equal Qty × UnitPrice less the line discount
    email_daily_limit: int = 40  # sandbox: 40 emails a day per realm
    send_updates_bill_email: bool = False  # send?sendTo= leaves BillEmail as it was
    overpay_allowed: bool = False  # a payment line above the invoice's balance is refused
    # with CurrencyPrefs.MultiCurrencyEnabled: the currencies a customer may be given, and the rates (home units per
    # one foreign unit) used when an invoice gives no ExchangeRate; 1 for a currency without a rate
    currencies: frozenset[str] = frozenset(cur.CURRENCY_NAMES)
    exchange_rates: dict[str, Decimal] = field(factory=lambda: dict(cur.DEFAULT_RATES))

    # ---- basics ---------------------------------------------------------------------------------------------

    def now(self) -> dt.datetime:
        return self.clock()

    def stamp(self) -> str:
        return pacific(self.now())

    def today(self) -> dt.date:
        return pacific_date(self.now())

    def table(self, entity: str) -> dict[str, dict[str, Any]]:
        return self.tables.setdefault(entity, {})

    def next_id(self, entity: str) -> str:
        # one counter per realm, as QBO's ids are unique within a company across lists and transactions (UNCERTAIN)
        self.counters["all"] = self.counters.get("all", 0) + 1
        return str(self.counters["all"])

    def get(self, entity: str, entity_id: str) -> dict[str, Any] | None:
        return self.table(entity).get(str(entity_id))

    def require(self, entity: str, entity_id: Any) -> dict[str, Any]:
        found = self.get(entity, str(entity_id or ""))
        if found is None:
            raise f.not_found(entity, str(entity_id))
        return found

    def read(self, entity: str, entity_id: str) -> dict[str, Any]:
        return copy.deepcopy(self.require(entity, entity_id))

    def log(self, entity: str, entity_id: str, operation: str) -> None:
        self.changes.append(Change(self.now(), entity, entity_id, operation))

    # ---- writing ----------------------------------------------------------------------------------------------

    def insert(self, entity: str, body: dict[str, Any], *, operation: str = "Create") -> dict[str, Any]:
        """Store a new entity: Id, SyncToken "0", MetaData, domain, sparse; properties without a value dropped."""
        row = _prune({k: v for k, v in copy.deepcopy(body).items() if k not in IDENTITY})
        entity_id = self.next_id(entity)
        stamp = self.stamp()
        row = {"Id": entity_id, "SyncToken": "0", "domain": "QBO", "sparse": False,
               "MetaData": {"CreateTime": stamp, "LastUpdatedTime": stamp}, **row}
        self.table(entity)[entity_id] = row
        self.log(entity, entity_id, operation)
        return copy.deepcopy(row)

    def check_token(self, entity: str, body: dict[str, Any]) -> dict[str, Any]:
        """The stored row for an update; 5010 when the SyncToken is not the current one (optimistic locking)."""
        if not body.get("Id"):
            raise f.required("Id")
        current = self.require(entity, body["Id"])
        if "SyncToken" not in body:
            raise f.required("SyncToken")
        if str(body["SyncToken"]) != current["SyncToken"]:
            raise f.stale(entity)
        return current

    def replace(self, entity: str, row: dict[str, Any], *, operation: str = "Update") -> dict[str, Any]:
        """Store a new version of an existing row: SyncToken + 1, LastUpdatedTime now."""
        row = _prune(copy.deepcopy(row))
        row["SyncToken"] = str(int(row["SyncToken"]) + 1)
        row["MetaData"] = {**row.get("MetaData", {}), "LastUpdatedTime": self.stamp()}
        self.table(entity)[row["Id"]] = row
        self.log(entity, row["Id"], operation)
        return copy.deepcopy(row)

    def merge(self, entity: str, body: dict[str, Any]) -> dict[str, Any]:
        """The row a (sparse or full) update asks for: sparse keeps missing writable fields, full clears them."""
        current = self.check_token(entity, body)
        if body.get("sparse") in (True, "true"):
            merged = {**current, **writable(body)}
        else:
            merged = {k: v for k, v in current.items() if k in READ_ONLY}
            merged.update(writable(body))
        return merged

    def remove(self, entity: str, entity_id: str) -> dict[str, Any]:
        stub = {"Id": entity_id, "status": "Deleted", "domain": "QBO"}
        del self.table(entity)[entity_id]
        self.deleted.setdefault(entity, {})[entity_id] = {**stub, "MetaData": {"LastUpdatedTime": self.stamp()}}
        self.log(entity, entity_id, "Delete")
        return stub

    # ---- name lists ------------------------------------------------------------------------------------------

    def _name_key(self, name: str) -> str:
        return name.strip() if self.names_case_sensitive else name.strip().lower()

    def name_taken(self, name: str, *, except_id: str = "") -> bool:
        key = self._name_key(name)
        return any(self._name_key(row.get("DisplayName", "")) == key and row["Id"] != except_id
                   for entity in DISPLAY_NAMED for row in self.table(entity).values())

    def save_person(self, entity: str, body: dict[str, Any]) -> dict[str, Any]:
        """Create or update a Customer/Vendor/Employee: a name is required, DisplayName built from the name parts
        when omitted, unique across the three lists (6240), no colon (fact sheet §3.1)."""
        updating = bool(body.get("Id"))
        row = self.merge(entity, body) if updating else writable(body)
        parts = [str(row.get(k) or "").strip() for k in ("Title", "GivenName", "MiddleName", "FamilyName", "Suffix")]
        display = str(row.get("DisplayName") or "").strip() or " ".join(p for p in parts if p)
        if not display:
            display = str(row.get("CompanyName") or "").strip()
        if not display:
            raise f.required("DisplayName")
        if ":" in display:
            raise f.business("The name cannot contain a colon (:).", element="DisplayName")
        if len(display) > 500:
            raise f.business("DisplayName is longer than 500 characters.", element="DisplayName")
        if self.name_taken(display, except_id=str(row.get("Id", ""))):
            raise f.duplicate_name()
        email = (row.get("PrimaryEmailAddr") or {}).get("Address", "")
        if len(email) > 100:
            raise f.business("PrimaryEmailAddr.Address is longer than 100 characters.", element="PrimaryEmailAddr")
        row["DisplayName"] = display
        row.setdefault("Active", True)
        if entity == "Customer":
            row["FullyQualifiedName"] = display
            row.setdefault("Balance", 0)
            cur.customer_currency(self, row, self.get(entity, str(row["Id"])) if updating else None)
            for ref, target in (("SalesTermRef", "Term"), ("DefaultTaxCodeRef", "TaxCode")):
                if row.get(ref):
                    self.reference(target, row[ref], ref)
        return self.replace(entity, row) if updating else self.insert(entity, row)

    def reference(self, entity: str, ref: Any, element: str) -> dict[str, Any]:
        """The row a ``{"value": id}`` reference points to: 2500 when unknown, 610 when inactive."""
        if not isinstance(ref, dict) or not ref.get("value"):
            raise f.required(element)
        row = self.get(entity, str(ref["value"]))
        if row is None:
            raise f.invalid_reference(element)
        if row.get("Active") is False:
            raise f.inactive(element)
        return row

    def home_currency(self) -> str:
        return self.preferences.get("CurrencyPrefs", {}).get("HomeCurrency", {}).get("value", "USD")

    def home_currency_ref(self) -> dict[str, str]:
        code = self.home_currency()
        return cur.ref(code)

    def is_us(self) -> bool:
        return self.company.get("Country") in ("US", "USA")




def _prune(value: Any) -> Any:
    """QBO returns only the properties with values (fact sheet §2.1): no nulls."""
    if isinstance(value, dict):
        return {k: _prune(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_prune(v) for v in value]
    return value
