"""The QBO sandbox's entity operations, independent of HTTP: one call per operation (create, update, delete,
void, send, read, query, batch, cdc) returning the JSON body QBO would, or raising :class:`QboFault`.

:mod:`.sandbox` calls these for single requests; :meth:`Api.batch` calls them per item (fact sheet §2.6: at
most 30 items, run serially, a Fault per failed item, queries not seeing writes of the same batch).
"""

from __future__ import annotations

import copy
import datetime as dt
import secrets
from typing import Any

from . import sandbox_faults as f
from . import sandbox_query as q
from .qbotime import parse_timestamp
from .sandbox_coverage import NOT_EMULATED
from .sandbox_invoices import Sales
from .sandbox_state import DISPLAY_NAMED, NAME_LISTS, QboState

ENTITIES = {name.lower(): name for name in (*NAME_LISTS, "Invoice", "Payment")}
READ_ONLY_LISTS = {"TaxCode", "TaxRate"}  # created through TaxService in QBO; read-only here
BATCH_MAX = 30
CDC_WINDOW = dt.timedelta(days=30)
CDC_MAX = 1000


class Api:
    def __init__(self, state: QboState) -> None:
        self.s = state
        self.sales = Sales(state)
        self.links: dict[str, str] = {}  # invoice id -> payment-link token
        self.link_base = "https://connect.intuit.test"  # where payment links point (the sandbox sets its own)

    # ---- single operations -----------------------------------------------------------------------------

    def entity(self, name: str) -> str:
        entity = ENTITIES.get(name.lower())
        if entity is None:
            raise f.unsupported(f"Unsupported entity: {name}")
        return entity

    def write(self, entity: str, body: Any, *, operation: str = "", include: str = "",
              options: str = "") -> dict[str, Any]:
        """POST /{entity}[?operation=…]: create (no Id), update (Id + SyncToken), delete, void."""
        if not isinstance(body, dict):
            raise f.QboFault("2010", "Request has invalid or unsupported property", "The body must be one object")
        allow_dup = "allowduplicatedocnum" in (include + "," + options).lower()
        op = (operation or ("update" if body.get("Id") else "create")).lower()
        if entity in READ_ONLY_LISTS:
            raise f.unsupported(f"{entity} is read-only in this sandbox (QBO creates tax codes through TaxService)")
        if op == "delete":
            if entity == "Invoice":
                return self.sales.delete_invoice(body)
            if entity == "Payment":
                return self.sales.delete_payment(body)
            raise f.business(f"{entity} cannot be deleted; make it inactive (Active false) instead.")
        if op == "void" or (op == "update" and entity == "Payment" and "void" in include.lower()):
            if entity == "Invoice":
                return self.sales.void_invoice(body)
            if entity == "Payment":
                return self.sales.void_payment(body)
            raise f.unsupported(f"{entity} cannot be voided")
        if op not in ("create", "update"):
            raise f.unsupported(f"Unsupported operation: {op}")
        if op == "update" and not body.get("Id"):
            raise f.required("Id")
        if entity == "Invoice":
            return (self.sales.update_invoice(body, allow_duplicate=allow_dup) if op == "update"
                    else self.sales.create_invoice(body, allow_duplicate=allow_dup))
        if entity == "Payment":
            if op == "update":
                raise f.not_emulated("Payment update", NOT_EMULATED[("Payment", "update")])
            return self.sales.create_payment(body)
        if entity in DISPLAY_NAMED:
            return self.s.save_person(entity, body)
        return self._save_list(entity, body, op)

    def _save_list(self, entity: str, body: dict[str, Any], op: str) -> dict[str, Any]:
        row = self.s.merge(entity, body) if op == "update" else {k: v for k, v in body.items()}
        name = str(row.get("Name") or "").strip()
        if not name:
            raise f.required("Name")
        if any(r.get("Name", "").lower() == name.lower() and r["Id"] != row.get("Id")
               for r in self.s.table(entity).values()):
            raise f.duplicate_name()
        row.setdefault("Active", True)
        if entity == "Item":
            if row.get("Type") in ("Service", "NonInventory", "Inventory") and not row.get("IncomeAccountRef"):
                raise f.required("IncomeAccountRef")
            if row.get("IncomeAccountRef"):
                self.s.reference("Account", row["IncomeAccountRef"], "IncomeAccountRef")
            row.setdefault("FullyQualifiedName", name)
        if entity == "Term":
            row["Type"] = "STANDARD" if row.get("DueDays") is not None else "DATE_DRIVEN"
        return self.s.replace(entity, row) if op == "update" else self.s.insert(entity, row)

    def company_info(self) -> dict[str, Any]:
        return {"Id": "1", "SyncToken": "1", "domain": "QBO", "sparse": False, **self.s.company}

    def preferences(self) -> dict[str, Any]:
        return {"Id": "1", "SyncToken": "1", "domain": "QBO", "sparse": False, **self.s.preferences}

    def read(self, entity: str, entity_id: str, *, include: str = "") -> dict[str, Any]:
        row = self.s.read(entity, entity_id)
        if entity == "Invoice" and "invoicelink" in include.lower():
            link = self.invoice_link(row)
            if link:
                row["InvoiceLink"] = link
        return row

    def invoice_link(self, row: dict[str, Any]) -> str:
        """The payment link: only with online payment on and a BillEmail (fact sheet §3.5, second-party)."""
        online = any(row.get(k) for k in ("AllowOnlinePayment", "AllowOnlineCreditCardPayment", "AllowOnlineACHPayment"))
        if not online or not (row.get("BillEmail") or {}).get("Address"):
            return ""
        token = self.links.setdefault(row["Id"], secrets.token_urlsafe(12))
        return f"{self.link_base}/pay/{token}"

    def send(self, invoice_id: str, send_to: str = "") -> dict[str, Any]:
        return self.sales.send_invoice(invoice_id, send_to)

    # ---- query, batch, cdc --------------------------------------------------------------------------------

    def query(self, text: str, tables: dict[str, dict[str, dict[str, Any]]] | None = None) -> dict[str, Any]:
        parsed = q.parse(text)
        settings = {"CompanyInfo": self.company_info, "Preferences": self.preferences}
        if parsed.entity not in ENTITIES.values() and parsed.entity not in settings:
            raise f.query_error(f"Invalid context declaration : {parsed.entity}")
        if parsed.entity in settings:
            rows = [settings[parsed.entity]()]
        else:
            rows = list((tables if tables is not None else self.s.tables).get(parsed.entity, {}).values())
        return q.run(parsed, copy.deepcopy(rows), name_list=parsed.entity in NAME_LISTS)

    def batch(self, body: Any) -> list[dict[str, Any]]:
        items = body.get("BatchItemRequest") if isinstance(body, dict) else None
        if not isinstance(items, list) or not items:
            raise f.required("BatchItemRequest")
        if len(items) > BATCH_MAX:
            # > 30 fails (fact sheet §2.6); code and text UNCERTAIN
            raise f.business(f"The number of batch items exceeds the maximum of {BATCH_MAX}.")
        snapshot = {name: dict(rows) for name, rows in self.s.tables.items()}  # rows are replaced, never mutated
        out = []
        for item in items:
            bid = str(item.get("bId", ""))
            try:
                out.append({"bId": bid, **self._batch_item(item, snapshot)})
            except f.QboFault as fault:
                out.append({"bId": bid, "Fault": fault.body()})
        return out

    def _batch_item(self, item: dict[str, Any], snapshot: dict[str, dict[str, dict[str, Any]]]) -> dict[str, Any]:
        if "Query" in item:
            return {"QueryResponse": self.query(str(item["Query"]), snapshot)}
        keys = [k for k in item if k in ENTITIES.values()]
        if len(keys) != 1:
            raise f.unsupported("A batch item holds one entity, Query or CDCQuery")
        entity = keys[0]
        operation = str(item.get("operation") or "create").lower()
        if operation == "send":
            return {entity: self.send(str(item[entity].get("Id", "")))}
        return {entity: self.write(entity, item[entity], operation=operation,
                                   options=str(item.get("optionsData") or ""))}

    def cdc(self, entities: str, changed_since: str) -> dict[str, Any]:
        if not entities or not changed_since:
            raise f.required("entities" if not entities else "changedSince")
        try:
            since = parse_timestamp(changed_since)
        except ValueError:
            raise f.QboFault("2030", "Invalid or unsupported value", f"changedSince: {changed_since}") from None
        if since < self.s.now() - CDC_WINDOW:
            raise f.business("CDC operations can track changes within the last 30 days only.", element="changedSince")
        responses, budget = [], CDC_MAX
        for name in (e.strip() for e in entities.split(",") if e.strip()):
            entity = self.entity(name)
            rows = [r for r in self.s.table(entity).values()
                    if parse_timestamp(r["MetaData"]["LastUpdatedTime"]) >= since]
            rows += [r for r in self.s.deleted.get(entity, {}).values()
                     if parse_timestamp(r["MetaData"]["LastUpdatedTime"]) >= since]
            rows = sorted(rows, key=lambda r: r["MetaData"]["LastUpdatedTime"])[:budget]
            budget -= len(rows)
            if rows:
                responses.append({entity: copy.deepcopy(rows), "startPosition": 1, "maxResults": len(rows)})
            else:
                responses.append({})
        return {"QueryResponse": responses}
