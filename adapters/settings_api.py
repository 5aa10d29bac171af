"""``/api/settings/deal-fields``: which deal fields receive the invoice's number and status, and the fields the
CRM offers for them (GET); PUT changes the choice (an unknown field is refused with 422, nothing stored)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from invoicebridge.core import deal_fields

from .security import api_auth


def _field(f: Any) -> dict[str, str]:
    return {"key": f.key, "name": f.name}


@api_auth
async def deal_field_settings(request: Request) -> Response:
    from .api import _json_object

    pipeline = request.app.state.pipeline
    if request.method == "PUT":
        chosen = await deal_fields.save(pipeline, await _json_object(request))
    else:
        chosen = deal_fields.chosen(pipeline.store.get_settings())
    return JSONResponse({**chosen, "choices": [_field(f) for f in await deal_fields.choices(pipeline)]})


SCHEMA = {"type": "object", "required": ["invoice_number", "invoice_status", "choices"], "properties": {
    "invoice_number": {"type": ["string", "null"]}, "invoice_status": {"type": ["string", "null"]},
    "choices": {"type": "array", "items": {"type": "object", "required": ["key", "name"],
                                           "properties": {"key": {"type": "string"}, "name": {"type": "string"}}}}}}
REQUEST = {"type": "object", "additionalProperties": False, "properties": {
    "invoice_number": {"type": ["string", "null"], "description": "A deal field key of choices, or null for none"},
    "invoice_status": {"type": ["string", "null"], "description": "A deal field key of choices, or null for none"}}}


def openapi_paths(errors: Any) -> dict[str, Any]:
    ok = {"description": "The deal fields chosen and those the CRM offers",
          "content": {"application/json": {"schema": {"$ref": "#/components/schemas/DealFieldSettings"}}}}
    return {"/api/settings/deal-fields": {
        "get": {"summary": "The deal fields that receive the invoice number and status", "operationId": "getDealFields",
                "responses": {"200": ok, **errors(401, 502, 503)}},
        "put": {"summary": "Choose the deal fields that receive the invoice number and status", "operationId": "setDealFields",
                "requestBody": {"required": True, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/DealFieldChoice"}}}},
                "responses": {"200": ok, **errors(400, 401, 409, 422, 502, 503)}}}}
