"""The in-memory state of the Pipedrive sandbox: entities in their v2 shapes, fields with per-company hash
keys, OAuth grants, rate-limit counters and the webhook outbox. Tests read and change it directly
(``app.state.sandbox``); the HTTP layer in :mod:`.sandbox` only translates requests to these methods.

Emulator choices no Pipedrive source confirms are marked [derived] (fact sheet §11).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Callable

import attrs
import httpx

from invoicebridge.sandbox_kit import Outbox, RequestLog
from invoicebridge.sandbox_kit.knobs import RequestView

from .sandbox_service import (  # noqa: F401 (SandboxError, RateLimits, rfc3339, TOKEN_COST: re-exported)
    RETRY_DELAYS,
    TOKEN_COST,
    RateLimits,
    SandboxError,
    ServiceMixin,
    _stamp_attempt,
    rfc3339,
)

ACTIVITY_TYPES = ("call", "meeting", "task", "deadline", "email", "lunch")
CURRENCIES = (("GBP", "Pound Sterling", "£"), ("EUR", "Euro", "€"), ("USD", "US Dollar", "$"))

BUILTIN_FIELDS = {
    "deal": [("title", "Title", "varchar"), ("value", "Value", "monetary"), ("currency", "Currency", "varchar"),
             ("status", "Status", "status"), ("won_time", "Won time", "date"), ("org_id", "Organization", "org"),
             ("person_id", "Contact person", "people"), ("owner_id", "Owner", "user"),
             ("pipeline_id", "Pipeline", "int"), ("stage_id", "Stage", "stage"),
             ("expected_close_date", "Expected close date", "date")],
    "organization": [("name", "Name", "varchar"), ("address", "Address", "address"),
                     ("owner_id", "Owner", "user"), ("website", "Website", "varchar")],
    "person": [("name", "Name", "varchar"), ("emails", "Email", "varchar"), ("phones", "Phone", "phone"),
               ("org_id", "Organization", "org"), ("owner_id", "Owner", "user")],
}
ADDRESS_SUBFIELDS = ("subpremise", "street_number", "route", "sublocality", "locality", "admin_area_level_1",
                     "admin_area_level_2", "country", "postal_code", "formatted_address")



def v1_time(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def cents(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def number(value: Decimal) -> int | float:
    """JSON numbers as Pipedrive writes them: integers without a fraction."""
    return int(value) if value == value.to_integral_value() else float(value)


def line_sum(quantity: Decimal, price: Decimal, discount: Decimal, discount_type: str, tax: Decimal,
             tax_method: str) -> Decimal:
    """A deal product's ``sum``: quantity × price less the discount; exclusive tax is added on top [derived:
    the fact sheet leaves the exclusive case unverified]."""
    gross = quantity * price
    net = gross * (100 - discount) / 100 if discount_type == "percentage" else gross - discount
    if tax_method == "exclusive":
        net = net * (100 + tax) / 100
    return cents(net)


@attrs.define
class SandboxState(ServiceMixin):
    clock: Callable[[], dt.datetime]
    company_domain: str = "acme-sandbox"
    company_name: str = "Acme Sandbox Ltd"
    company_id: int = 7001
    user: dict = attrs.field(factory=lambda: {"id": 101, "name": "Sam Seller", "email": "sam@example.com"})
    api_tokens: set = attrs.field(factory=set)
    oauth_clients: dict = attrs.field(factory=dict)
    client_scopes: dict = attrs.field(factory=dict)  # client id -> its registered scopes (default: sandbox_frame)
    oauth: Any = None  # the kit's AuthorizationServer (sandbox_frame.new_oauth)
    deals: dict = attrs.field(factory=dict)
    organizations: dict = attrs.field(factory=dict)
    persons: dict = attrs.field(factory=dict)
    products: dict = attrs.field(factory=dict)
    deal_products: dict = attrs.field(factory=dict)  # attachment id -> line
    discounts: dict = attrs.field(factory=dict)  # deal id -> [discount]
    activities: dict = attrs.field(factory=dict)
    activity_updates: list = attrs.field(factory=list)  # (id, changes) of every updateActivity, for tests
    notes: dict = attrs.field(factory=dict)
    webhooks: dict = attrs.field(factory=dict)
    fields: dict = attrs.field(factory=dict)  # entity -> {field_code: definition}
    rate: RateLimits = attrs.field(factory=RateLimits)
    # key_string -> active; companies deactivate and add types, so a type is only valid while active (§5.1)
    activity_types: dict = attrs.field(factory=lambda: {key: True for key in ACTIVITY_TYPES})
    outbox: list = attrs.field(factory=list)  # the kit Outbox's deliveries (meta: webhook_id)
    webhook_outbox: Any = None
    log: Any = None  # the kit's RequestLog of every API request (``requests`` reads it)
    delivery_transport: httpx.AsyncBaseTransport | None = None
    delivery_target: str = ""  # when set, deliveries go here instead of the subscription URL
    auto_deliver_api_changes: bool = False
    _ids: dict = attrs.field(factory=dict)

    def __attrs_post_init__(self) -> None:
        from .sandbox_frame import new_oauth

        self.oauth = self.oauth or new_oauth(self, self.client_scopes)
        self.log = self.log or RequestLog(clock=self.now, limit=1_000_000)  # tests count calls over long runs
        self.webhook_outbox = Outbox(clock=self.now, retry_delays=RETRY_DELAYS, items=self.outbox,
                                     before_attempt=_stamp_attempt)
        for entity, defs in BUILTIN_FIELDS.items():
            self.fields.setdefault(entity, {})
            for code, name, ftype in defs:
                self.fields[entity][code] = self._field_def(code, name, ftype, custom=False)

    @property
    def requests(self) -> RequestView:
        """(method, path, operationId) of every API request, oldest first: a live view of the kit's request log."""
        return RequestView(self.log, lambda e: (e.method, e.path, e.operation))

    def seed_demo(self) -> dict:
        """Load the realistic demo data (see :mod:`.sandbox_seed`); returns the ids created."""
        from .sandbox_seed import seed_demo

        return seed_demo(self)

    # ---- ids, keys, time ------------------------------------------------------------------------------

    def next_id(self, kind: str) -> int:
        self._ids[kind] = self._ids.get(kind, 0) + 1
        return self._ids[kind]

    def now(self) -> dt.datetime:
        return self.clock()

    def field_key(self, entity: str, name: str) -> str:
        """A 40-hex key that differs per company, as Pipedrive's do."""
        return hashlib.sha1(f"{self.company_domain}:{entity}:{name}".encode()).hexdigest()

    @property
    def host(self) -> str:
        return f"{self.company_domain}.pipedrive.com"

    # ---- fields ---------------------------------------------------------------------------------------

    def _field_def(self, code: str, name: str, ftype: str, *, custom: bool, options: list[str] | None = None) -> dict:
        opts = None
        if ftype in ("enum", "set"):
            opts = [{"id": self.next_id("option") if custom else str(i), "label": label, "color": None,
                     "update_time": None, "add_time": None} for i, label in enumerate(options or [], 1)]
        subfields = None
        if ftype == "monetary":
            subfields = [{"field_code": "value", "field_name": f"Amount of {name}", "field_type": "double"},
                         {"field_code": "currency", "field_name": f"Currency of {name}", "field_type": "varchar"}]
        elif ftype == "address":
            subfields = [{"field_code": s, "field_name": f"{s.replace('_', ' ').capitalize()} of {name}",
                          "field_type": "varchar"} for s in ADDRESS_SUBFIELDS]
        return {"field_name": name, "field_code": code, "description": "", "field_type": ftype, "options": opts,
                "subfields": subfields, "is_custom_field": custom, "is_optional_response_field": False}

    def add_custom_field(self, entity: str, name: str, ftype: str = "varchar", options: list[str] | None = None) -> str:
        key = self.field_key(entity, name)
        self.fields.setdefault(entity, {})[key] = self._field_def(key, name, ftype, custom=True, options=options)
        return key

    def option_id(self, entity: str, key: str, label: str) -> int:
        return next(o["id"] for o in self.fields[entity][key]["options"] if o["label"] == label)

    def delete_field(self, entity: str, key: str) -> None:
        """Deleting a custom field drops its definition and every stored value."""
        if key not in self.fields.get(entity, {}) or not self.fields[entity][key]["is_custom_field"]:
            raise SandboxError(404, "Field not found", "Object was not found.")
        del self.fields[entity][key]
        table = {"deal": self.deals, "organization": self.organizations, "person": self.persons}[entity]
        for obj in table.values():
            obj.get("custom_fields", {}).pop(key, None)

    # ---- entities ---------------------------------------------------------------------------------

    def _stamp(self, obj: dict) -> dict:
        now = rfc3339(self.now())
        obj.setdefault("add_time", now)
        obj["update_time"] = now
        return obj

    def add_organization(self, name: str, address: dict | None = None, custom: dict | None = None) -> int:
        oid = self.next_id("organization")
        addr = None
        if address:
            addr = {k: address[k] for k in ("value",) + ADDRESS_SUBFIELDS if address.get(k) is not None}
        self.organizations[oid] = self._stamp({
            "id": oid, "name": name, "owner_id": self.user["id"], "is_deleted": False, "visible_to": 3,
            "address": addr, "label_ids": [], "website": None, "linkedin": None, "industry": None,
            "annual_revenue": None, "employee_count": None, "custom_fields": dict(custom or {})})
        return oid

    def add_person(self, name: str, emails: list[str] | None = None, org_id: int | None = None,
                   phones: list[str] | None = None, custom: dict | None = None, primary: int = 0) -> int:
        pid = self.next_id("person")
        first, _, last = name.partition(" ")
        self.persons[pid] = self._stamp({
            "id": pid, "name": name, "first_name": first, "last_name": last, "owner_id": self.user["id"],
            "org_id": org_id,
            "emails": [{"value": e, "primary": i == primary, "label": "work" if i == primary else "other"}
                       for i, e in enumerate(emails or [])],
            "phones": [{"value": p, "primary": i == 0, "label": "work"} for i, p in enumerate(phones or [])],
            "is_deleted": False, "visible_to": 3, "label_ids": [], "custom_fields": dict(custom or {})})
        return pid

    def add_product(self, name: str, code: str, price: Decimal | str | int, currency: str = "GBP", tax: Decimal | str | int = 0) -> int:
        pid = self.next_id("product")
        self.products[pid] = self._stamp({
            "id": pid, "name": name, "code": code, "unit": "", "tax": number(Decimal(str(tax))), "is_deleted": False,
            "is_linkable": True, "visible_to": 3, "owner_id": self.user["id"], "description": "", "category": None,
            "custom_fields": {}, "billing_frequency": "one-time", "billing_frequency_cycles": None,
            "prices": [{"product_id": pid, "price": number(Decimal(str(price))), "currency": currency, "cost": 0,
                        "direct_cost": None, "notes": ""}]})
        return pid

    def add_deal(self, title: str, currency: str, *, value: Decimal | str | int = 0, org_id: int | None = None,
                 person_id: int | None = None, status: str = "open", won_time: dt.datetime | None = None,
                 pipeline_id: int = 1, stage_id: int = 1, custom: dict | None = None) -> int:
        did = self.next_id("deal")
        deal = self._stamp({
            "id": did, "title": title, "creator_user_id": self.user["id"], "owner_id": self.user["id"],
            "value": number(Decimal(str(value))), "person_id": person_id, "org_id": org_id,
            "stage_id": stage_id, "pipeline_id": pipeline_id, "currency": currency, "is_archived": False,
            "archive_time": None, "is_deleted": False, "status": status, "probability": None,
            "lost_reason": None, "visible_to": 3, "close_time": None, "won_time": None, "lost_time": None,
            "expected_close_date": None, "label_ids": [], "origin": "ManuallyCreated", "origin_id": None,
            "channel": None, "channel_id": None, "source_lead_id": None, "arr": None, "mrr": None, "acv": None,
            "custom_fields": dict(custom or {})})
        deal["stage_change_time"] = deal["add_time"]
        if status == "won":
            moment = rfc3339(won_time or self.now())
            deal["won_time"] = deal["close_time"] = moment
        self.deals[did] = deal
        self.discounts[did] = []
        return did

    def attach_product(self, deal_id: int, product_id: int, quantity: Decimal | str | int, item_price: Decimal | str | int, *,
                       discount: Decimal | str | int = 0, discount_type: str = "percentage", tax: Decimal | str | int = 0,
                       tax_method: str | None = None, is_enabled: bool = True, name: str | None = None) -> int:
        deal = self.require("deal", deal_id)
        product = self.require("product", product_id)
        lines = self.lines_of(deal_id)
        method = tax_method or (lines[0]["tax_method"] if lines else "exclusive")
        for line in lines:  # the tax method is shared by all lines of a deal
            self._set_line(line, tax_method=method)
        aid = self.next_id("deal_product")
        line = self._stamp({
            "id": aid, "deal_id": deal_id, "name": name if name is not None else product["name"],
            "product_id": product_id, "product_variation_id": None, "order_nr": len(lines) + 1, "comments": "",
            "currency": deal["currency"], "billing_frequency": "one-time", "billing_frequency_cycles": None,
            "billing_start_date": None, "is_enabled": is_enabled})
        self._set_line(line, quantity=quantity, item_price=item_price, discount=discount,
                       discount_type=discount_type, tax=tax, tax_method=method)
        self.deal_products[aid] = line
        self.recompute_value(deal_id)
        return aid

    def _set_line(self, line: dict, **changes: Any) -> None:
        for key, val in changes.items():
            line[key] = number(Decimal(str(val))) if key in ("quantity", "item_price", "discount", "tax") else val
        line["sum"] = number(line_sum(Decimal(str(line["quantity"])), Decimal(str(line["item_price"])),
                                      Decimal(str(line["discount"])), line["discount_type"],
                                      Decimal(str(line["tax"])), line["tax_method"]))

    def add_discount(self, deal_id: int, amount: Decimal | str | int, type_: str = "amount", description: str = "Discount") -> str:
        self.require("deal", deal_id)
        now = rfc3339(self.now())
        did = str(uuid.UUID(int=self.next_id("discount")))
        self.discounts[deal_id].append({
            "id": did, "type": type_, "amount": number(Decimal(str(amount))), "description": description,
            "deal_id": deal_id, "created_at": now, "created_by": self.user["id"], "updated_at": now,
            "updated_by": self.user["id"]})
        self.recompute_value(deal_id)
        return did

    def lines_of(self, deal_id: int) -> list[dict]:
        return sorted((p for p in self.deal_products.values() if p["deal_id"] == deal_id), key=lambda p: p["id"])

    def products_sum(self, deal_id: int) -> Decimal:
        return cents(sum((Decimal(str(p["sum"])) for p in self.lines_of(deal_id) if p["is_enabled"]), Decimal(0)))

    def recompute_value(self, deal_id: int) -> None:
        """With products, a deal's value is their enabled sums less the deal-level discounts [derived]."""
        if not self.lines_of(deal_id):
            return
        total = self.products_sum(deal_id)
        off = Decimal(0)
        for d in self.discounts.get(deal_id, []):
            amount = Decimal(str(d["amount"]))
            off += cents(total * amount / 100) if d["type"] == "percentage" else amount
        self.deals[deal_id]["value"] = number(cents(total - off))

    def require(self, kind: str, oid: Any) -> dict:
        table = {"deal": self.deals, "organization": self.organizations, "person": self.persons,
                 "product": self.products, "activity": self.activities, "note": self.notes,
                 "webhook": self.webhooks}[kind]
        try:
            obj = table[int(oid)]
        except (KeyError, ValueError, TypeError):
            raise SandboxError(404, f"{kind.capitalize()} not found", "Object was not found.") from None
        if obj.get("is_deleted"):
            raise SandboxError(404, f"{kind.capitalize()} not found", "Object was not found.")
        return obj

    def delete_deal(self, deal_id: int) -> None:
        deal = self.require("deal", deal_id)
        deal["is_deleted"] = True
        deal["status"] = "deleted"
        self._stamp(deal)

    def update_deal(self, deal_id: int, changes: dict, *, source: str = "api") -> dict:
        deal = self.require("deal", deal_id)
        for key in changes:
            if key not in ("title", "value", "status", "won_time", "currency", "org_id", "person_id",
                           "stage_id", "pipeline_id", "custom_fields", "lost_reason", "expected_close_date"):
                raise SandboxError(400, f"Unknown field '{key}'", "Please check developers.pipedrive.com")
        if "value" in changes and (isinstance(changes["value"], bool) or not isinstance(changes["value"], (int, float))):
            raise SandboxError(400, "Validation failed: value: Parameter 'value' must be a number",
                               "Please check developers.pipedrive.com")
        status = changes.get("status", deal["status"])
        if status not in ("open", "won", "lost"):
            raise SandboxError(400, "Validation failed: status: must be one of open, won, lost")
        if "won_time" in changes and status != "won":
            raise SandboxError(400, "Validation failed: won_time can only be set if deal status is won")
        previous: dict[str, Any] = {}
        for key, val in changes.items():
            if key == "custom_fields":
                merged = {**deal["custom_fields"], **val}
                if merged != deal["custom_fields"]:
                    previous["custom_fields"] = dict(deal["custom_fields"])
                    deal["custom_fields"] = merged
            elif deal.get(key) != val:
                previous[key] = deal.get(key)
                deal[key] = val
        if "status" in previous:
            previous.setdefault("won_time", deal["won_time"])
            previous.setdefault("close_time", deal["close_time"])
            if status == "won":
                deal["won_time"] = changes.get("won_time") or rfc3339(self.now())
                deal["close_time"] = deal["won_time"]
            else:
                deal["won_time"] = None
                deal["close_time"] = rfc3339(self.now()) if status == "lost" else None
        if previous:
            self._stamp(deal)
            self.queue_deal_event(deal, previous, source=source)
        return deal

    def win_deal(self, deal_id: int) -> dict:
        return self.update_deal(deal_id, {"status": "won"}, source="app")

    # ---- activities and notes ---------------------------------------------------------------------

    def add_activity(self, body: dict) -> dict:
        for key in ("deal_id", "person_id", "org_id", "owner_id", "priority"):
            if key in body and body[key] is not None and (isinstance(body[key], bool) or not isinstance(body[key], int)):
                raise SandboxError(400, f"Validation failed: {key}: must be an integer")
        if not self.activity_types.get(body.get("type", "call")):
            raise SandboxError(400, f"Validation failed: type: activity type '{body['type']}' does not exist")
        if body.get("deal_id") is not None:
            self.require("deal", body["deal_id"])
        aid = self.next_id("activity")
        activity = self._stamp({
            "id": aid, "subject": body.get("subject") or "Call", "type": body.get("type", "call"),
            "owner_id": body.get("owner_id", self.user["id"]), "creator_user_id": self.user["id"],
            "is_deleted": False, "deal_id": body.get("deal_id"), "lead_id": None, "person_id": body.get("person_id"),
            "org_id": body.get("org_id"), "project_id": None, "due_date": body.get("due_date"),
            "due_time": body.get("due_time", ""), "duration": body.get("duration", ""), "busy": body.get("busy", False),
            "done": body.get("done", False), "marked_as_done_time": "", "participants": body.get("participants", []),
            "attendees": [], "public_description": body.get("public_description", ""),
            "priority": body.get("priority", 0), "note": body.get("note", "")})
        self.activities[aid] = activity
        return activity

    ACTIVITY_FIELDS = ("subject", "type", "owner_id", "deal_id", "lead_id", "person_id", "org_id", "project_id",
                       "due_date", "due_time", "duration", "busy", "done", "location", "participants", "attendees",
                       "public_description", "priority", "note")

    def update_activity(self, activity_id: Any, changes: dict) -> dict:
        """``updateActivity`` PATCH /api/v2/activities/{id}: only the given fields change; marking it done stamps
        ``marked_as_done_time`` (fact sheet §5.1: ``{"done": true}`` marks an activity done)."""
        activity = self.require("activity", activity_id)
        unknown = [k for k in changes if k not in self.ACTIVITY_FIELDS]
        if unknown:
            raise SandboxError(400, f"Unknown field '{unknown[0]}'", "Please check developers.pipedrive.com")
        for key in ("done", "busy"):
            if key in changes and not isinstance(changes[key], bool):
                raise SandboxError(400, f"Validation failed: {key}: must be a boolean")
        for key in ("deal_id", "person_id", "org_id", "owner_id", "priority"):
            if key in changes and changes[key] is not None and (isinstance(changes[key], bool) or not isinstance(changes[key], int)):
                raise SandboxError(400, f"Validation failed: {key}: must be an integer")
        if "type" in changes and not self.activity_types.get(changes["type"]):
            raise SandboxError(400, f"Validation failed: type: activity type '{changes['type']}' does not exist")
        if changes.get("deal_id") is not None:
            self.require("deal", changes["deal_id"])
        was_done = activity["done"]
        activity.update(changes)
        if "done" in changes and changes["done"] != was_done:
            activity["marked_as_done_time"] = rfc3339(self.now()) if changes["done"] else ""
        self.activity_updates.append((activity["id"], dict(changes)))
        return self._stamp(activity)

    def add_note(self, body: dict) -> dict:
        if not body.get("content"):
            raise SandboxError(400, "Content is required")
        targets = [k for k in ("deal_id", "person_id", "org_id", "lead_id", "project_id", "task_id") if body.get(k)]
        if not targets:
            raise SandboxError(400, "Note must be attached to a deal, person, organization, lead, project or task")
        deal = self.require("deal", body["deal_id"]) if body.get("deal_id") else None
        nid = self.next_id("note")
        now = v1_time(self.now())
        note = {"id": nid, "active_flag": True, "add_time": now, "update_time": now, "content": body["content"],
                "deal_id": deal["id"] if deal else None, "deal": {"title": deal["title"]} if deal else None,
                "person_id": body.get("person_id"), "org_id": body.get("org_id"), "lead_id": None,
                "pinned_to_deal_flag": bool(body.get("pinned_to_deal_flag", 0)),
                "pinned_to_organization_flag": False, "pinned_to_person_flag": False,
                "pinned_to_project_flag": False, "pinned_to_task_flag": False,
                "user_id": self.user["id"], "last_update_user_id": self.user["id"],
                "user": {"email": self.user["email"], "icon_url": "", "is_you": True, "name": self.user["name"]}}
        self.notes[nid] = {k: v for k, v in note.items() if v is not None}
        return self.notes[nid]
