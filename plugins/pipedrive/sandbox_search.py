"""The sandbox's search endpoints: ``GET /api/v2/deals/search`` (searchDeals) and ``GET /api/v2/organizations/search``
(searchOrganization), shaped as the v2 spec's GetDealSearchResponse and GetOrganizationSearchResponse.

Matching is case-insensitive on words' substrings ("acme" finds "Acme Ltd"); ``exact_match=true`` compares whole
values, not case-sensitively. Relevance is emulated: a whole-value match scores highest [derived: Pipedrive's
scoring is not documented].
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from .sandbox_state import SandboxError, SandboxState

MAX_LIMIT = 500
DEAL_FIELDS = ("custom_fields", "notes", "title")
ORGANIZATION_FIELDS = ("address", "custom_fields", "notes", "name")
SEARCHABLE_CUSTOM_TYPES = ("address", "varchar", "text", "varchar_auto", "double", "monetary", "phone")


def _term(request: Request) -> tuple[str, bool]:
    term = request.query_params.get("term")
    exact = _flag(request, "exact_match")
    if term is None:
        raise SandboxError(400, "Validation failed: term: is required")
    if len(term.strip()) < (1 if exact else 2):
        raise SandboxError(400, "Validation failed: term: must be at least 2 characters long "
                                "(or 1 with exact_match)")
    return term.strip(), exact


def _flag(request: Request, name: str) -> bool:
    raw = request.query_params.get(name)
    if raw in (None, "false", "0"):
        return False
    if raw in ("true", "1"):
        return True
    raise SandboxError(400, f"Validation failed: {name}: must be a boolean")


def _fields(request: Request, allowed: tuple[str, ...]) -> tuple[str, ...]:
    raw = request.query_params.get("fields")
    if not raw:
        return allowed
    wanted = tuple(f.strip() for f in raw.split(",") if f.strip())
    unknown = [f for f in wanted if f not in allowed]
    if unknown:
        raise SandboxError(400, f"Validation failed: fields: must be one of {', '.join(allowed)}")
    return wanted


def _int_param(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        raise SandboxError(400, f"Validation failed: {name}: must be an integer") from None


def _score(value: str, term: str, exact: bool) -> float:
    """0 when ``value`` does not match; otherwise higher for closer matches."""
    value, term = (value or "").lower(), term.lower()
    if not value:
        return 0.0
    if exact:
        return 1.0 if value == term else 0.0
    if value == term:
        return 1.0
    if value.startswith(term):
        return 0.8
    return 0.5 if term in value else 0.0


def _custom_texts(s: SandboxState, entity: str, obj: dict) -> list[str]:
    out = []
    for key, value in (obj.get("custom_fields") or {}).items():
        field = s.fields.get(entity, {}).get(key)
        if not field or field["field_type"] not in SEARCHABLE_CUSTOM_TYPES or value in (None, ""):
            continue
        if isinstance(value, dict):
            value = value.get("value", "")
        out.append(str(value))
    return out


def _page(request: Request, scored: list[tuple[float, int, dict]]) -> dict:
    from .sandbox import _decode_cursor, _encode_cursor

    raw = request.query_params.get("limit", "100")
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise SandboxError(400, f"Validation failed: limit: must be an integer between 1 and {MAX_LIMIT}")
    limit = int(raw)
    cursor = request.query_params.get("cursor")
    start = _decode_cursor(cursor) if cursor else 0
    ordered = [item for _score_, _id, item in sorted(scored, key=lambda t: (-t[0], t[1]))]
    chunk = ordered[start:start + limit]
    more = start + limit < len(ordered)
    return {"success": True, "data": {"items": chunk},
            "additional_data": {"next_cursor": _encode_cursor(start + limit) if more else None}}


async def search_deals(request: Request, s: SandboxState) -> dict:
    term, exact = _term(request)
    fields = _fields(request, DEAL_FIELDS)
    if request.query_params.get("include_fields") not in (None, "deal.cc_email"):
        raise SandboxError(400, "Validation failed: include_fields: must be deal.cc_email")
    status = request.query_params.get("status")
    if status is not None and status not in ("open", "won", "lost"):
        raise SandboxError(400, "Validation failed: status: must be one of open, won, lost")
    person_id, org_id = _int_param(request, "person_id"), _int_param(request, "organization_id")
    scored = []
    for deal in s.deals.values():
        if deal["is_deleted"] or (status and deal["status"] != status) \
                or (person_id is not None and deal["person_id"] != person_id) \
                or (org_id is not None and deal["org_id"] != org_id):
            continue
        best = _score(deal["title"], term, exact) if "title" in fields else 0.0
        customs = [v for v in _custom_texts(s, "deal", deal) if _score(v, term, exact)] if "custom_fields" in fields else []
        notes = [n["content"] for n in s.notes.values()
                 if n.get("deal_id") == deal["id"] and _score(n["content"], term, exact)] if "notes" in fields else []
        best = max([best] + [0.3 for _ in customs + notes])
        if not best:
            continue
        org = s.organizations.get(deal["org_id"] or 0)
        person = s.persons.get(deal["person_id"] or 0)
        item: dict[str, Any] = {
            "id": deal["id"], "type": "deal", "title": deal["title"], "value": deal["value"],
            "currency": deal["currency"], "status": deal["status"], "visible_to": deal["visible_to"],
            "owner": {"id": deal["owner_id"]}, "stage": {"id": deal["stage_id"]},
            "person": {"id": person["id"], "name": person["name"]} if person else None,
            "organization": {"id": org["id"], "name": org["name"]} if org else None,
            "custom_fields": customs, "notes": notes, "is_archived": deal["is_archived"]}
        scored.append((best, deal["id"], {"result_score": best, "item": item}))
    return _page(request, scored)


async def search_organizations(request: Request, s: SandboxState) -> dict:
    term, exact = _term(request)
    fields = _fields(request, ORGANIZATION_FIELDS)
    scored = []
    for org in s.organizations.values():
        if org.get("is_deleted"):
            continue
        address = (org.get("address") or {}).get("value") or None
        best = _score(org["name"], term, exact) if "name" in fields else 0.0
        if "address" in fields and address and _score(address, term, exact):
            best = max(best, 0.3)
        customs = [v for v in _custom_texts(s, "organization", org) if _score(v, term, exact)] \
            if "custom_fields" in fields else []
        notes = [n["content"] for n in s.notes.values()
                 if n.get("org_id") == org["id"] and _score(n["content"], term, exact)] if "notes" in fields else []
        best = max([best] + [0.3 for _ in customs + notes])
        if not best:
            continue
        item = {"id": org["id"], "type": "organization", "name": org["name"], "address": address,
                "visible_to": org["visible_to"], "owner": {"id": org["owner_id"]}, "custom_fields": customs,
                "notes": notes}
        scored.append((best, org["id"], {"result_score": best, "item": item}))
    return _page(request, scored)
