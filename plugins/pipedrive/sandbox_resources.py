"""Pipedrive sandbox resources beyond the deal-to-invoice flow, and what it answers to the rest (issue #14).

- ``getDeals`` (v2) with ``sort_by``/``sort_direction`` (id, update_time, add_time; the cursor carries the sort
  position), ``updated_since``/``updated_until`` (RFC 3339) and ``include_fields`` (the spec's enum); ``getDeal``
  with ``include_fields`` too.
- v1 field lists and single fields (``GET /v1/dealFields`` etc., offset paging), in the v1 shape of fact sheet §4.2.
- The operations of the emulated resources the sandbox does not emulate (:data:`NOT_EMULATED`, by pattern, with the
  reason) answer 501 in Pipedrive's error envelope (before any token check); unknown routes answer 404 and wrong
  methods 405 in it too (fact sheet §8), never plain text.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import re
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .sandbox_state import SandboxError, SandboxState

SORTABLE = ("id", "update_time", "add_time")
DEAL_INCLUDES = ("next_activity_id", "last_activity_id", "first_won_time", "products_count", "files_count",
                 "notes_count", "followers_count", "email_messages_count", "activities_count",
                 "done_activities_count", "undone_activities_count", "participants_count",
                 "last_incoming_mail_time", "last_outgoing_mail_time", "smart_bcc_email", "source_lead_id")
V1_FIELD_TYPES = {"address", "date", "daterange", "double", "enum", "monetary", "org", "people", "phone", "set",
                  "text", "time", "timerange", "user", "varchar", "varchar_auto", "visible_to"}
V1_TYPE_OF = {"int": "double", "boolean": "enum", "status": "enum", "stage": "double", "deal": "double",
              "json": "text", "price_list": "double"}  # v2 types the v1 spec's enum lacks

_FOLLOW = "Followers are a collaboration feature invoicebridge does not use."
_FILES = "Files, mail messages, flow, changelog and permissions belong to the CRM's own UI."
_FIELD_ADMIN = "Field definitions are seeded; creating or changing them is an admin's job in the CRM."
_MERGE = "Merging, duplicating and converting records are CRM housekeeping the sandbox does not model."
_PRODUCT_EXTRAS = "Product variations and images are not modelled."
_USER_ADMIN = "The sandbox has one user (the token's); user administration is not modelled."
_RECORDS = ("Creating, editing and deleting CRM records other than a deal's status happens in the CRM's UI; the "
            "sandbox seeds them.")
_DEAL_EXTRAS = "Installments, discounts edits and bulk line changes are not used by invoicebridge."
# (METHOD, path regex over the spec path, reason); the spec path is the one in the v1 or v2 spec
NOT_EMULATED: list[tuple[str, str, str]] = [
    ("*", r"/(deals|organizations|persons|products)/\{id\}/followers(/.*)?", _FOLLOW),
    ("*", r"/users/\{id\}/followers", _FOLLOW),
    ("*", r"/(deals|organizations|persons|products)/\{id\}/(files|mailMessages|flow|changelog|permittedUsers"
          r"|participantsChangelog|participants(/.*)?)", _FILES),
    ("GET", r"/deals/(summary|timeline|archived)", _FILES),
    ("*", r"/(deals|organizations|persons)/\{id\}/merge", _MERGE),
    ("*", r"/(deals|products)/\{id\}/duplicate", _MERGE),
    ("*", r"/deals/\{id\}/convert/.*", _MERGE),
    ("*", r"/persons/\{id\}/(picture|products)", _FILES),
    ("*", r"/products/\{id\}/(deals|variations(/.*)?|images)", _PRODUCT_EXTRAS),
    ("*", r"/deals/(installments|\{id\}/installments(/.*)?)", _DEAL_EXTRAS),
    ("POST|PATCH|DELETE", r"/deals/\{id\}/discounts(/.*)?", _DEAL_EXTRAS),
    ("DELETE", r"/deals/\{id\}/products", _DEAL_EXTRAS),
    ("POST", r"/deals/\{id\}/products/bulk", _DEAL_EXTRAS),
    ("POST|PUT|PATCH", r"/(deal|organization|person|product|activity)Fields(/.*)?", _FIELD_ADMIN),
    ("DELETE", r"/(deal|organization|person|product|activity)Fields(/\{id\}|/\{field_code\}/options)?", _FIELD_ADMIN),
    ("DELETE", r"/productFields/\{field_code\}", _FIELD_ADMIN),
    ("GET", r"/(product|activity)Fields(/.*)?", "Product and activity field definitions are not modelled."),
    ("POST|PUT|DELETE", r"/activityTypes(/.*)?", _FIELD_ADMIN),
    ("*", r"/notes/\{id\}/comments(/.*)?", "Note comments are not modelled."),
    ("POST", r"/users", _USER_ADMIN),
    ("*", r"/users/(find|\{id\}(/.*)?)", _USER_ADMIN),
    ("POST|DELETE", r"/(deals|organizations|persons|products)(/\{id\})?", _RECORDS),
    ("PATCH", r"/(organizations|persons|products)/\{id\}", _RECORDS),
    ("PUT|DELETE", r"/notes/\{id\}", "Notes are written once by invoicebridge and never edited."),
    ("GET", r"/notes/\{id\}", "Notes are written once by invoicebridge and never read back one by one."),
    ("DELETE", r"/activities/\{id\}", "Activities are completed, never deleted, by invoicebridge."),
    ("GET", r"/(products|persons)/search", "invoicebridge reads products and persons by id (it searches deals "
     "and organizations, which are served)."),
]


def not_emulated_reason(method: str, path: str, *, concrete: bool = False) -> str | None:
    """The reason an operation is not emulated, for a spec path (``/deals/{id}/files``) or, with ``concrete``,
    a request path relative to the version prefix (``/deals/7/files``); None when it is not listed."""
    for methods, pattern, reason in NOT_EMULATED:
        if concrete:
            pattern = re.sub(r"\\\{\w+\\\}", "[^/]+", pattern)
        if (methods == "*" or method in methods.split("|")) and re.fullmatch(pattern, path):
            return reason
    return None


def _fail(status: int, message: str) -> JSONResponse:
    return JSONResponse({"success": False, "error": message, "error_info": "Please check developers.pipedrive.com",
                         "data": None, "additional_data": None}, status_code=status)


async def http_error(request: Request, exc: Exception) -> Response:
    """Router-level 404/405 in Pipedrive's error envelope (fact sheet §8) instead of Starlette's plain text. The
    exact 404 wording of the live API is not documented [?]."""
    assert isinstance(exc, HTTPException)  # registered for 404 and 405 only
    path, root = request.scope.get("path", ""), request.scope.get("root_path", "")
    if root and path.startswith(root):  # mounted (the demo's /sandbox/pipedrive): the path below the mount
        path = path[len(root):]
    version = re.match(r"/(api/v1|v1|api/v2)(/.*)", path)
    if version is None:
        return Response(exc.detail, status_code=exc.status_code)
    if not_emulated_reason(request.method, version.group(2), concrete=True):
        return _fail(501, f"Not implemented: the invoicebridge sandbox does not emulate {request.method} {path}")
    message = {404: "Unknown method or resource", 405: "Method not allowed"}.get(exc.status_code, str(exc.detail))
    response = _fail(exc.status_code, message)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


# ---- getDeals ------------------------------------------------------------------------------------------


def _moment(raw: str, name: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError:
        raise SandboxError(400, f"Validation failed: {name}: must be an RFC 3339 date-time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


def _cursor(value: Any, last_id: int, field: str, direction: str) -> str:
    raw = json.dumps({"field": field, "fieldValue": value, "sortDirection": direction, "id": last_id})
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _after(cursor: str) -> tuple[Any, int]:
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return data.get("fieldValue", data["id"]), int(data["id"])
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise SandboxError(400, "Invalid cursor") from None


def _include(deal: dict, wanted: list[str], s: SandboxState) -> dict:
    out = dict(deal)
    acts = [a for a in s.activities.values() if a.get("deal_id") == deal["id"] and not a.get("is_deleted")]
    values = {"products_count": len(s.lines_of(deal["id"])),
              "notes_count": sum(1 for n in s.notes.values() if n.get("deal_id") == deal["id"]),
              "activities_count": len(acts), "done_activities_count": sum(1 for a in acts if a["done"]),
              "undone_activities_count": sum(1 for a in acts if not a["done"]),
              "next_activity_id": min((a["id"] for a in acts if not a["done"]), default=None),
              "last_activity_id": max((a["id"] for a in acts if a["done"]), default=None),
              "first_won_time": deal.get("won_time"), "files_count": 0, "followers_count": 1,
              "email_messages_count": 0, "participants_count": 1 if deal.get("person_id") else 0,
              "last_incoming_mail_time": None, "last_outgoing_mail_time": None,
              "smart_bcc_email": f"{s.company_domain}+deal{deal['id']}@pipedrivemail.com",
              "source_lead_id": deal.get("source_lead_id")}
    out.update({k: values[k] for k in wanted})
    return out


def _includes(request: Request) -> list[str]:
    """``include_fields`` of getDeal and getDeals: a comma list of the spec's enum (an unknown name is a 400)."""
    wanted = [f for f in (request.query_params.get("include_fields") or "").split(",") if f]
    unknown = [f for f in wanted if f not in DEAL_INCLUDES]
    if unknown:
        raise SandboxError(400, f"Validation failed: include_fields: unknown field {unknown[0]}")
    return wanted


async def get_deal(request: Request, s: SandboxState) -> dict:
    """``getDeal`` GET /api/v2/deals/{id}: ``custom_fields``, ``include_option_labels`` and ``include_fields``
    (the spec's enum, as for getDeals)."""
    from .sandbox import _custom_view

    deal = s.require("deal", request.path_params["id"])
    return {"success": True, "data": _include(_custom_view(deal, "deal", s, request), _includes(request), s)}


async def get_deals(request: Request, s: SandboxState) -> dict:
    """``getDeals`` GET /api/v2/deals (fact sheet §3.1 "Listing deals")."""
    from .sandbox import _custom_view, _filtered, _limit

    q = request.query_params
    statuses = q["status"].split(",") if q.get("status") else None
    items = [d for d in s.deals.values()
             if (d["status"] in statuses if statuses else not d["is_deleted"]) and not d["is_archived"]]
    items = _filtered(items, request, "owner_id", "person_id", "org_id", "pipeline_id", "stage_id")
    since = _moment(q["updated_since"], "updated_since") if q.get("updated_since") else None
    until = _moment(q["updated_until"], "updated_until") if q.get("updated_until") else None
    if since or until:
        items = [d for d in items if (not since or _moment(d["update_time"], "update_time") >= since)
                 and (not until or _moment(d["update_time"], "update_time") < until)]
    sort_by, direction = q.get("sort_by", "id"), q.get("sort_direction", "asc")
    if sort_by not in SORTABLE:
        raise SandboxError(400, f"Validation failed: sort_by: must be one of {', '.join(SORTABLE)}")
    if direction not in ("asc", "desc"):
        raise SandboxError(400, "Validation failed: sort_direction: must be one of asc, desc")
    wanted = _includes(request)
    limit = _limit(request)

    def key(deal: dict) -> tuple[Any, int]:
        return (deal[sort_by] if sort_by != "id" else deal["id"]), deal["id"]

    desc = direction == "desc"
    items.sort(key=key, reverse=desc)
    if q.get("cursor"):
        mark = _after(q["cursor"])
        items = [d for d in items if (key(d) < mark if desc else key(d) > mark)]
    chunk, more = items[:limit], len(items) > limit
    last = chunk[-1] if chunk else None
    return {"success": True,
            "data": [_include(_custom_view(d, "deal", s, request), wanted, s) for d in chunk],
            "additional_data": {"next_cursor": _cursor(key(last)[0], last["id"], sort_by, direction)
                                if more and last else None}}


# ---- v1 fields -----------------------------------------------------------------------------------------


def _v1_field(entity: str, index: int, definition: dict) -> dict:
    ftype = definition["field_type"]
    ftype = ftype if ftype in V1_FIELD_TYPES else V1_TYPE_OF.get(ftype, "varchar")
    custom = definition["is_custom_field"]
    field_id = int(hashlib.sha1(f"{entity}:{definition['field_code']}".encode()).hexdigest()[:7], 16)
    out = {"id": field_id, "key": definition["field_code"], "name": definition["field_name"], "order_nr": index,
           "field_type": ftype, "active_flag": True, "edit_flag": custom, "index_visible_flag": True,
           "details_visible_flag": True, "add_visible_flag": True, "important_flag": False,
           "bulk_edit_allowed": True, "searchable_flag": False, "filtering_allowed": True, "sortable_flag": True,
           "mandatory_flag": False}
    if definition.get("options"):
        out["options"] = [{"id": o["id"], "label": o["label"]} for o in definition["options"]]
    return out


def v1_fields(entity: str):
    async def handler(request: Request, s: SandboxState) -> dict:
        from .sandbox import page_v1

        rows = [_v1_field(entity, i, d) for i, d in enumerate(s.fields.get(entity, {}).values())]
        return page_v1(request, rows)
    return handler


def v1_field(entity: str):
    async def handler(request: Request, s: SandboxState) -> dict:
        for i, d in enumerate(s.fields.get(entity, {}).values()):
            row = _v1_field(entity, i, d)
            if row["id"] == request.path_params["id"]:
                return {"success": True, "data": row}
        raise SandboxError(404, "Field not found", "Object was not found.")
    return handler


def v2_field(entity: str):
    async def handler(request: Request, s: SandboxState) -> dict:
        found = s.fields.get(entity, {}).get(request.path_params["code"])
        if found is None:
            raise SandboxError(404, "Field not found", "Object was not found.")
        return {"success": True, "data": found}
    return handler


LINE_NUMBERS = ("quantity", "item_price", "discount", "tax")


def _line(request: Request, s: SandboxState) -> dict:
    deal = s.require("deal", request.path_params["id"])
    line = s.deal_products.get(request.path_params["line"])
    if line is None or line["deal_id"] != deal["id"]:
        raise SandboxError(404, "Product attachment not found", "Object was not found.")
    return line


async def patch_deal_product(request: Request, s: SandboxState) -> dict:
    """``updateDealProduct`` PATCH /api/v2/deals/{id}/products/{product_attachment_id}: the given fields change,
    numbers must be numbers (v2 does not coerce strings: fact sheet §2.3), the deal's value follows."""
    from .sandbox import _json_body

    line = _line(request, s)
    body = await _json_body(request)
    changes = {}
    for key in LINE_NUMBERS:
        if key in body:
            if isinstance(body[key], bool) or not isinstance(body[key], (int, float)):
                raise SandboxError(400, f"Validation failed: {key}: must be a number")
            changes[key] = body[key]
    if "discount_type" in body:
        if body["discount_type"] not in ("percentage", "amount"):
            raise SandboxError(400, "Validation failed: discount_type: must be one of percentage, amount")
        changes["discount_type"] = body["discount_type"]
    if "tax_method" in body:
        if body["tax_method"] not in ("exclusive", "inclusive", "none"):
            raise SandboxError(400, "Validation failed: tax_method: must be one of exclusive, inclusive, none")
        for other in s.lines_of(line["deal_id"]):  # shared by all lines of a deal
            s._set_line(other, tax_method=body["tax_method"])
    for key in ("is_enabled", "comments", "name"):
        if key in body:
            line[key] = body[key]
    s._set_line(line, **changes)
    s._stamp(line)
    s.recompute_value(line["deal_id"])
    return {"success": True, "data": line}


async def delete_deal_product(request: Request, s: SandboxState) -> dict:
    """``deleteDealProduct``: the line goes, the deal's value follows."""
    line = _line(request, s)
    del s.deal_products[line["id"]]
    s.recompute_value(line["deal_id"])
    return {"success": True, "data": {"id": line["id"]}}


async def users(request: Request, s: SandboxState) -> dict:
    """``getUsers`` GET /v1/users: the sandbox's one user, as ``users/me`` describes it."""
    from .sandbox import users_me

    me = dict((await users_me(request, s))["data"])
    for key in ("company_id", "company_name", "company_domain", "company_country", "company_industry", "language"):
        me.pop(key, None)
    return {"success": True, "data": [me]}


def resource_routes(wrap) -> list[Route]:
    """The v1 field routes, under both v1 prefixes; ``wrap(operation, handler)`` adds the API frame."""
    routes = []
    for prefix in ("/api/v1", "/v1"):
        for entity in ("deal", "organization", "person"):
            routes.append(Route(f"{prefix}/{entity}Fields", wrap("getFields", v1_fields(entity))))
            routes.append(Route(f"{prefix}/{entity}Fields/{{id:int}}", wrap("getField", v1_field(entity))))
        routes.append(Route(f"{prefix}/users", wrap("getUsers", users)))
    for entity in ("deal", "organization", "person"):
        routes.append(Route(f"/api/v2/{entity}Fields/{{code}}", wrap("getField", v2_field(entity))))
    line = "/api/v2/deals/{id:int}/products/{line:int}"
    routes.append(Route(line, wrap("updateDealProduct", patch_deal_product), methods=["PATCH"]))
    routes.append(Route(line, wrap("deleteDealProduct", delete_deal_product), methods=["DELETE"]))
    return routes
