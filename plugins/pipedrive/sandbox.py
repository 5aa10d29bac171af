"""A local emulator of the Pipedrive API for what invoicebridge calls (fact sheet §11).

``create_sandbox()`` returns a Starlette app serving, relative to wherever it is mounted:
``/api/v2/...`` (deals, deal products, discounts, organizations, persons, products, fields, activities, and the
deal and organization searches),
``/api/v1/...`` and ``/v1/...`` (users/me, currencies, activityTypes, notes, webhooks), ``/oauth/...``
(auto-approving authorize, token, revoke) and a small HTML console at ``/`` with a "Win this deal" button.
State lives in ``app.state.sandbox`` (:class:`~.sandbox_state.SandboxState`); the clock is injectable.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from typing import Any, Awaitable, Callable

from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from invoicebridge.sandbox_kit.console import console_environment
from invoicebridge.sandbox_kit.console_deliveries import delivery_rows

from .i18n import TEXTS, _

from . import sandbox_search
from .sandbox_frame import oauth_routes
from .sandbox_frame import api as _api
from .sandbox_state import CURRENCIES, ACTIVITY_TYPES, SandboxError, SandboxState

MAX_LIMIT = 500
_templates = console_environment("invoicebridge.plugins.pipedrive", texts=TEXTS)

Handler = Callable[[Request, SandboxState], Awaitable[Any]]


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _encode_cursor(last_id: int) -> str:
    raw = json.dumps({"field": "id", "fieldValue": last_id, "sortDirection": "asc", "id": last_id})
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int:
    try:
        return int(json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))["id"])
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise SandboxError(400, "Invalid cursor") from None


def _limit(request: Request) -> int:
    raw = request.query_params.get("limit", "100")
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise SandboxError(400, f"Validation failed: limit: must be an integer between 1 and {MAX_LIMIT}")
    return int(raw)


def _int_list(raw: str | None, name: str) -> list[int] | None:
    if raw is None:
        return None
    try:
        return [int(x) for x in raw.split(",") if x.strip()]
    except ValueError:
        raise SandboxError(400, f"Validation failed: {name}: must be a list of integers") from None


def page(request: Request, items: list[dict]) -> dict:
    """v2 cursor paging over items sorted by id."""
    limit = _limit(request)
    items = sorted(items, key=lambda i: i["id"] if isinstance(i["id"], int) else str(i["id"]))
    cursor = request.query_params.get("cursor")
    if cursor:
        after = _decode_cursor(cursor)
        items = [i for i in items if i["id"] > after]
    chunk = items[:limit]
    more = len(items) > limit
    return {"success": True, "data": chunk,
            "additional_data": {"next_cursor": _encode_cursor(chunk[-1]["id"]) if more else None}}


def page_v1(request: Request, items: list[dict]) -> dict:
    try:
        start = int(request.query_params.get("start", "0"))
        limit = int(request.query_params.get("limit", "100"))
    except ValueError:
        raise SandboxError(400, "start and limit must be integers") from None
    chunk = items[start:start + limit]
    more = start + limit < len(items)
    pagination: dict[str, Any] = {"start": start, "limit": limit, "more_items_in_collection": more}
    if more:
        pagination["next_start"] = start + limit
    return {"success": True, "data": chunk, "additional_data": {"pagination": pagination}}


def _custom_view(obj: dict, entity: str, state: SandboxState, request: Request) -> dict:
    """An entity as served: ``custom_fields=`` narrows the custom keys, ``include_option_labels`` shows labels."""
    out = dict(obj)
    custom = dict(obj.get("custom_fields") or {})
    wanted = request.query_params.get("custom_fields")
    if wanted:
        keys = [k for k in wanted.split(",") if k]
        if len(keys) > 15:
            raise SandboxError(400, "Validation failed: custom_fields: at most 15 keys")
        custom = {k: v for k, v in custom.items() if k in keys}
    if request.query_params.get("include_option_labels") == "true":
        for key, value in custom.items():
            field = state.fields.get(entity, {}).get(key)
            if field and field["field_type"] in ("enum", "set") and value is not None:
                labels = {o["id"]: o["label"] for o in field["options"]}
                ids = value if isinstance(value, list) else [value]
                shown = [{"id": i, "label": labels.get(i, "")} for i in ids]
                custom[key] = shown if isinstance(value, list) else shown[0]
    out["custom_fields"] = custom
    return out


def _filtered(items: list[dict], request: Request, *names: str) -> list[dict]:
    ids = _int_list(request.query_params.get("ids"), "ids")
    if ids is not None:
        items = [i for i in items if i["id"] in ids]
    for name in names:
        raw = request.query_params.get(name)
        if raw is not None:
            try:
                wanted = int(raw)
            except ValueError:
                raise SandboxError(400, f"Validation failed: {name}: must be an integer") from None
            items = [i for i in items if i.get(name) == wanted]
    return items


async def _json_body(request: Request) -> dict:
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError:
        raise SandboxError(400, "Request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise SandboxError(400, "Request body must be a JSON object")
    return body


# ---- v2 ----------------------------------------------------------------------------------------------


async def patch_deal(request: Request, s: SandboxState) -> dict:
    deal = s.update_deal(request.path_params["id"], await _json_body(request))
    return {"success": True, "data": _custom_view(deal, "deal", s, request)}


async def get_deal_products(request: Request, s: SandboxState) -> dict:
    deal = s.require("deal", request.path_params["id"])
    return page(request, s.lines_of(deal["id"]))


async def get_deals_products(request: Request, s: SandboxState) -> dict:
    ids = _int_list(request.query_params.get("deal_ids"), "deal_ids")
    if not ids:
        raise SandboxError(400, "Validation failed: deal_ids: is required")
    if len(ids) > 100:
        raise SandboxError(400, "Validation failed: deal_ids: at most 100 ids")
    return page(request, [p for p in s.deal_products.values() if p["deal_id"] in ids])


async def post_deal_product(request: Request, s: SandboxState) -> tuple[int, dict]:
    body = await _json_body(request)
    for key in ("product_id", "item_price", "quantity"):
        if key not in body:
            raise SandboxError(400, f"Validation failed: {key}: is required")
        if isinstance(body[key], bool) or not isinstance(body[key], (int, float)):
            raise SandboxError(400, f"Validation failed: {key}: must be a number")
    aid = s.attach_product(
        request.path_params["id"], body["product_id"], body["quantity"], body["item_price"],
        discount=body.get("discount", 0), discount_type=body.get("discount_type", "percentage"),
        tax=body.get("tax", 0), tax_method=body.get("tax_method"), is_enabled=body.get("is_enabled", True))
    return 201, {"success": True, "data": s.deal_products[aid]}


async def get_discounts(request: Request, s: SandboxState) -> dict:
    deal = s.require("deal", request.path_params["id"])
    return {"success": True, "data": list(s.discounts.get(deal["id"], []))}


def _lister(table: str, entity: str | None, *filters: str) -> Handler:
    async def handler(request: Request, s: SandboxState) -> dict:
        items = [i for i in getattr(s, table).values() if not i.get("is_deleted")]
        body = page(request, _filtered(items, request, *filters))
        if entity:
            body["data"] = [_custom_view(i, entity, s, request) for i in body["data"]]
        return body
    return handler


def _getter(kind: str, entity: str | None) -> Handler:
    async def handler(request: Request, s: SandboxState) -> dict:
        obj = s.require(kind, request.path_params["id"])
        return {"success": True, "data": _custom_view(obj, entity, s, request) if entity else obj}
    return handler


def _fields(entity: str) -> Handler:
    async def handler(request: Request, s: SandboxState) -> dict:
        defs = list(s.fields.get(entity, {}).values())
        limit = _limit(request)
        cursor = request.query_params.get("cursor")
        start = _decode_cursor(cursor) if cursor else 0
        chunk = defs[start:start + limit]
        more = start + limit < len(defs)
        return {"success": True, "data": chunk,
                "additional_data": {"next_cursor": _encode_cursor(start + limit) if more else None}}
    return handler


def _delete_field(entity: str) -> Handler:
    async def handler(request: Request, s: SandboxState) -> dict:
        s.delete_field(entity, request.path_params["code"])
        return {"success": True, "data": {"field_code": request.path_params["code"]}}
    return handler


async def get_activities(request: Request, s: SandboxState) -> dict:
    items = _filtered([a for a in s.activities.values() if not a["is_deleted"]], request, "deal_id", "person_id",
                      "org_id", "owner_id")
    done = request.query_params.get("done")
    if done in ("true", "false"):
        items = [a for a in items if a["done"] == (done == "true")]
    return page(request, items)


async def post_activity(request: Request, s: SandboxState) -> tuple[int, dict]:
    return 200, {"success": True, "data": s.add_activity(await _json_body(request))}  # the spec documents 200


# ---- v1 ----------------------------------------------------------------------------------------------


async def get_activity(request: Request, s: SandboxState) -> dict:
    return {"success": True, "data": s.require("activity", request.path_params["id"])}


async def patch_activity(request: Request, s: SandboxState) -> dict:
    return {"success": True, "data": s.update_activity(request.path_params["id"], await _json_body(request))}


async def users_me(request: Request, s: SandboxState) -> dict:
    now = s.now().strftime("%Y-%m-%d %H:%M:%S")
    return {"success": True, "data": {
        "id": s.user["id"], "name": s.user["name"], "email": s.user["email"], "default_currency": "GBP",
        "locale": "en_GB", "lang": 1, "phone": None, "activated": True, "last_login": now, "created": now,
        "modified": None, "has_created_company": True,
        "access": [{"app": "sales", "admin": True, "permission_set_id": "62a5e1b2-0000-4000-8000-000000000001"}],
        "active_flag": True, "timezone_name": "Europe/London", "timezone_offset": "+00:00", "role_id": 1,
        "icon_url": None, "is_you": True, "is_deleted": False, "company_id": s.company_id,
        "company_name": s.company_name, "company_domain": s.company_domain, "company_country": "GB",
        "company_industry": "Software", "language": {"language_code": "en", "country_code": "GB"}}}


async def currencies(request: Request, s: SandboxState) -> dict:
    return {"success": True, "data": [
        {"id": i, "code": code, "name": name, "decimal_points": 2, "symbol": symbol, "active_flag": True,
         "is_custom_flag": False} for i, (code, name, symbol) in enumerate(CURRENCIES, 1)]}


async def activity_types(request: Request, s: SandboxState) -> dict:
    return {"success": True, "data": [
        # add_time/update_time left out: the spec says date-time, its example (the live API) "2019-10-04 16:24:55"
        {"id": i, "name": key.capitalize(), "key_string": key, "icon_key": key if key in ACTIVITY_TYPES else "task",
         "active_flag": active, "color": "FFFFFF", "is_custom_flag": key not in ACTIVITY_TYPES, "order_nr": i}
        for i, (key, active) in enumerate(s.activity_types.items(), 1)]}


async def get_notes(request: Request, s: SandboxState) -> dict:
    items = sorted(s.notes.values(), key=lambda n: n["id"])
    for name in ("deal_id", "person_id", "org_id"):
        raw = request.query_params.get(name)
        if raw is not None:
            items = [n for n in items if str(n.get(name)) == raw]
    return page_v1(request, items)


async def post_note(request: Request, s: SandboxState) -> dict:
    return {"success": True, "data": s.add_note(await _json_body(request))}


async def get_webhooks(request: Request, s: SandboxState) -> dict:
    return {"status": "ok", "success": True, "data": list(s.webhooks.values())}


async def post_webhook(request: Request, s: SandboxState) -> Response:
    try:
        body = await _json_body(request)
        return JSONResponse({"status": "ok", "success": True, "data": s.add_webhook(body)}, status_code=201)
    except SandboxError as exc:
        errors = {"subscription_url": ["invalid or non-reachable URL"]} if "URL" in exc.info else {"body": [exc.info or exc.message]}
        return JSONResponse({"status": "error", "success": False, "errors": errors}, status_code=exc.status)


async def delete_webhook(request: Request, s: SandboxState) -> Response:
    if s.webhooks.pop(int(request.path_params["id"]), None) is None:
        return JSONResponse({"status": "error", "success": False, "errors": {"id": ["not found"]}}, status_code=404)
    return JSONResponse({"status": "ok", "success": True})


async def console(request: Request) -> HTMLResponse:
    s: SandboxState = request.app.state.sandbox
    rows = []
    for deal in sorted(s.deals.values(), key=lambda d: d["id"]):
        if deal["is_deleted"]:
            continue
        org = s.organizations.get(deal["org_id"] or 0)
        rows.append({"id": deal["id"], "title": deal["title"], "org": org["name"] if org else "",
                     "value": deal["value"], "currency": deal["currency"], "status": deal["status"],
                     "products": len(s.lines_of(deal["id"]))})
    deliveries = delivery_rows(s.outbox, lambda d: _("webhook #%(webhook)s, deal %(deal)s:") % {
        "webhook": d.meta["webhook_id"], "deal": d.payload.get("meta", {}).get("entity_id")}, last=20)
    html = _templates.get_template("sandbox_console.html").render(
        company=s.company_name, deals=rows, webhooks=list(s.webhooks.values()), deliveries=deliveries,
        activities=sorted((a for a in s.activities.values() if not a["is_deleted"]), key=lambda a: (a["done"], -a["id"]))[:50],
        win_url=lambda deal_id: str(request.url_for("sandbox_win", id=deal_id)), requests=request.app.state.log.last(10))
    return HTMLResponse(html)


async def console_win(request: Request) -> Response:
    s: SandboxState = request.app.state.sandbox
    try:
        s.win_deal(request.path_params["id"])
    except SandboxError as exc:
        return HTMLResponse(f"<p>{exc.message}</p>", status_code=exc.status)
    return RedirectResponse(str(request.url_for("sandbox_console")), status_code=303,
                            background=BackgroundTask(s.deliver_webhooks))


def create_sandbox(*, clock: Callable[[], dt.datetime] | None = None, company_domain: str = "acme-sandbox",
                   company_name: str = "Acme Sandbox Ltd", api_tokens: tuple[str, ...] = ("sandbox-token",),
                   oauth_clients: dict[str, str] | None = None, seed: bool = False) -> Starlette:
    """A Pipedrive emulator app; its state is ``app.state.sandbox``. ``seed=True`` loads the demo data."""
    from . import sandbox_resources

    state = SandboxState(clock=clock or _utcnow, company_domain=company_domain, company_name=company_name,
                         api_tokens=set(api_tokens),
                         oauth_clients=dict(oauth_clients or {"sandbox-client": "sandbox-secret"}))
    routes = [
        Route("/", console, name="sandbox_console"),
        Route("/console/deals/{id:int}/win", console_win, methods=["POST"], name="sandbox_win"),
        *oauth_routes(),
        Route("/api/v2/deals", _api("getDeals", sandbox_resources.get_deals)),
        Route("/api/v2/deals/search", _api("searchDeals", sandbox_search.search_deals)),
        Route("/api/v2/organizations/search", _api("searchOrganization", sandbox_search.search_organizations)),
        Route("/api/v2/deals/products", _api("getDealsProducts", get_deals_products)),
        Route("/api/v2/deals/{id:int}", _api("getDeal", sandbox_resources.get_deal)),
        Route("/api/v2/deals/{id:int}", _api("updateDeal", patch_deal), methods=["PATCH"]),
        Route("/api/v2/deals/{id:int}/products", _api("getDealProducts", get_deal_products)),
        Route("/api/v2/deals/{id:int}/products", _api("addDealProduct", post_deal_product), methods=["POST"]),
        Route("/api/v2/deals/{id:int}/discounts", _api("getAdditionalDiscounts", get_discounts)),
        Route("/api/v2/organizations", _api("getOrganizations", _lister("organizations", "organization", "owner_id"))),
        Route("/api/v2/organizations/{id:int}", _api("getOrganization", _getter("organization", "organization"))),
        Route("/api/v2/persons", _api("getPersons", _lister("persons", "person", "owner_id", "org_id"))),
        Route("/api/v2/persons/{id:int}", _api("getPerson", _getter("person", "person"))),
        Route("/api/v2/products", _api("getProducts", _lister("products", None, "owner_id"))),
        Route("/api/v2/products/{id:int}", _api("getProduct", _getter("product", None))),
        Route("/api/v2/activities", _api("getActivities", get_activities)),
        Route("/api/v2/activities", _api("addActivity", post_activity), methods=["POST"]),
        Route("/api/v2/activities/{id:int}", _api("getActivity", get_activity)),
        Route("/api/v2/activities/{id:int}", _api("updateActivity", patch_activity), methods=["PATCH"]),
    ]
    for entity in ("deal", "organization", "person"):
        routes.append(Route(f"/api/v2/{entity}Fields", _api("getFields", _fields(entity))))
        routes.append(Route(f"/api/v2/{entity}Fields/{{code}}", _api("deleteField", _delete_field(entity)),
                            methods=["DELETE"]))
    for prefix in ("/api/v1", "/v1"):
        routes += [
            Route(f"{prefix}/users/me", _api("getCurrentUser", users_me)),
            Route(f"{prefix}/currencies", _api("getCurrencies", currencies)),
            Route(f"{prefix}/activityTypes", _api("getActivityTypes", activity_types)),
            Route(f"{prefix}/notes", _api("getNotes", get_notes)),
            Route(f"{prefix}/notes", _api("addNote", post_note), methods=["POST"]),
            Route(f"{prefix}/webhooks", _api("getWebhooks", get_webhooks)),
            Route(f"{prefix}/webhooks", _api("addWebhook", post_webhook), methods=["POST"]),
            Route(f"{prefix}/webhooks/{{id:int}}", _api("deleteWebhook", delete_webhook), methods=["DELETE"]),
        ]
    routes += sandbox_resources.resource_routes(_api)
    app = Starlette(routes=routes, exception_handlers={404: sandbox_resources.http_error,
                                                       405: sandbox_resources.http_error})
    app.state.sandbox = state
    app.state.log = state.log  # for the console
    if seed:
        state.seed_demo()
    return app
