"""The OpenAPI 3.1 description of the JSON API (served at /api/openapi.json).

It is the contract both ways: request bodies are validated against these very schemas (``validate_body``), so
a body the document allows is never refused with a 400 and one it forbids is never accepted; every status code
an operation can answer is listed; links describe what a response leads to (Schemathesis' stateful tests
follow them). Deal ids follow the connected CRM's declared rule (:mod:`invoicebridge.core.crm_ids`), so the
document is built per request from that rule.

Status codes, one meaning each: 400 the request does not match this document (or names an id the CRM's rule
refuses); 401 no or a wrong API key; 403 the accounting user may not do that; 404 unknown id; 409 not allowed
now (not connected, the invoice's status, an Idempotency-Key reused for another request or still in progress);
422 well-formed, but the deal or invoice cannot be made as it is (mapping, catalog, the accounting system's
own refusal); 502 the accounting or CRM system failed; 503 rate limited, retry later. A status command that
has to wait (behind the accounting API's rate limit) answers 202 with ``Location`` to follow.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

from invoicebridge.core.crm_ids import MAX_INTEGER_ID, IdRule
from invoicebridge.core.money import ISO_4217
from . import settings_api

_ERROR = {"$ref": "#/components/schemas/Error"}
RUN_ID_PATTERN = "^[A-Za-z0-9._~-]{1,100}$"
IDEMPOTENCY_KEY_PATTERN = "^[\\x20-\\x7e]{1,100}$"
MAX_DEALS = 10_000


def _err(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ERROR}}}


def _errors(*codes: int) -> dict[str, Any]:
    text = {
        400: "The request does not match this document, or names an id the CRM's rule refuses; the message names the field",
        401: "Missing or wrong API key",
        403: "The accounting user may not do this",
        404: "Unknown id",
        409: "Not allowed now: not connected, the invoice's status, the deal already has a live invoice (create: send "
             "allow_another: true to create another), or an Idempotency-Key reused or still in progress",
        422: "Well-formed, but the deal or invoice cannot be made as it is (mapping, catalog, the accounting system's refusal)",
        502: "The accounting or CRM system refused or failed",
        503: "Rate limited; retry later",
    }
    return {str(code): _err(text[code]) for code in codes}


_INVOICE = {"name": "invoice_id", "in": "path", "required": True,
            "schema": {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}}
_INVOICE_OK = {"description": "The invoice", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Invoice"}}}}
# numbers as JSON numbers, or as plain decimal strings with a point: a comma is never guessed at ("1,5" is not 15)
_NUMBER = {"anyOf": [{"type": "number"}, {"type": "string", "pattern": "^-?[0-9]{1,12}(\\.[0-9]{1,6})?$"}]}
_POSITIVE = {"anyOf": [{"type": "number", "exclusiveMinimum": 0, "maximum": 999_999_999_999},
                       {"type": "string", "pattern": "^[1-9][0-9]{0,11}(\\.[0-9]{1,6})?$"}]}
_CODE = {"type": "string", "maxLength": 100}
_DISCOUNT_AMOUNT = {"description": "an amount off the line (not with discount_rate)",
                    "anyOf": [{"type": "null"}, {"type": "number", "minimum": 0, "maximum": 999_999_999_999},
                              {"type": "string", "pattern": "^[0-9]{1,12}(\\.[0-9]{1,6})?$"}]}
COMMANDS = [("submit", "Submit for approval"), ("approve", "Approve"), ("delete", "Delete a draft"),
            ("void", "Void an approved invoice"), ("email", "Email the invoice from the accounting system")]


def _invoice_links() -> dict[str, Any]:
    by_id = {"invoice_id": "$response.body#/id"}
    links = {"GetInvoice": {"operationId": "getInvoice", "parameters": by_id},
             "GetInvoicePdf": {"operationId": "getInvoicePdf", "parameters": by_id}}
    links.update({f"{c.title()}Invoice": {"operationId": f"{c}Invoice", "parameters": by_id} for c, _ in COMMANDS})
    return links


def _command_ok() -> dict[str, Any]:
    # no links out of a command: they are reached from the created invoice (a command with links would become
    # an entry point of stateful tests, and those would start from invoice ids nobody made)
    return {"description": "Done: the invoice as it is now",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Invoice"}}}}


def _command_accepted() -> dict[str, Any]:
    return {"description": "Still waiting (behind the accounting API's rate limit): follow Location (GET) for the result",
            "headers": {"Location": {"description": "The command run to poll", "required": True,
                                     "schema": {"type": "string"}}},
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CommandRun"}}}}


CREATE_STATUSES = ("DRAFT", "AWAITING_APPROVAL", "AWAITING_PAYMENT")


def create_statuses(capabilities: Any) -> tuple[str, ...]:
    """The statuses an invoice can be created in on a backend with these capabilities: no draft without
    ``drafts``, no awaiting approval without ``approval_step`` (awaiting payment always)."""
    return tuple(s for s in CREATE_STATUSES if (s != "DRAFT" or capabilities.drafts)
                 and (s != "AWAITING_APPROVAL" or capabilities.approval_step))


@functools.lru_cache(maxsize=8)
def _build(pattern: str, description: str, statuses: tuple[str, ...] = CREATE_STATUSES) -> dict[str, Any]:
    deal = {"name": "deal_id", "in": "path", "required": True,
            "description": f"The CRM's deal id: {description}" if description else "The CRM's deal id: 1 to 64 letters and digits",
            "schema": {"type": "string", "pattern": pattern, "examples": ["1", "2", "3", "4", "5"]}}
    create_links = {**_invoice_links(),
                    "ListDealInvoices": {"operationId": "listDealInvoices", "parameters": {"deal_id": "$request.path.deal_id"}}}
    crm_id = {"anyOf": [{"type": "string", "pattern": pattern}, {"type": "integer", "minimum": 1, "maximum": MAX_INTEGER_ID}]}
    return {
        "openapi": "3.1.0",
        "info": {"title": "invoicebridge API", "version": "1",
                 "description": "Create accounting invoices from CRM deals and follow their status. " + __doc__.split("\n\n", 2)[2]},
        "security": [{"apiKey": []}],
        "paths": {
            "/api/deals/{deal_id}/invoices": {
                "get": {
                    "summary": "Invoices created for a deal",
                    "operationId": "listDealInvoices",
                    "parameters": [deal],
                    "responses": {
                        "200": {"description": "The deal's invoices", "content": {"application/json": {"schema": {
                            "type": "object", "required": ["deal_id", "invoices"],
                            "properties": {"deal_id": {"type": "string"},
                                           "invoices": {"type": "array", "items": {"$ref": "#/components/schemas/Invoice"}}}}}}},
                        **_errors(400, 401),
                    },
                },
                "post": {
                    "summary": "Create an invoice from the deal (mapping plus optional overrides)",
                    "description": "A deal that already has a live invoice (not voided or deleted) is refused with 409 naming it, "
                                   "unless the body says \"allow_another\": true. A repeat of an earlier create with the same "
                                   "Idempotency-Key answers that create, whatever the deal has since.",
                    "operationId": "createDealInvoice",
                    "parameters": [deal, {"name": "Idempotency-Key", "in": "header", "required": False,
                                          "schema": {"type": "string", "pattern": IDEMPOTENCY_KEY_PATTERN},
                                          "description": "1 to 100 printable ASCII characters, compared exactly: the same key "
                                                         "returns the same invoice instead of creating another"}],
                    "requestBody": {"required": False, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Overrides"}}}},
                    "responses": {
                        "201": {**_INVOICE_OK, "links": create_links},
                        **_errors(400, 401, 403, 404, 409, 422, 502, 503),
                    },
                },
            },
            "/api/deals/{deal_id}/preview": {
                "post": {
                    "summary": "Preview the invoice a deal would give, with every problem found",
                    "operationId": "previewDealInvoice",
                    "parameters": [deal],
                    "requestBody": {"required": False, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Overrides"}}}},
                    "responses": {"200": {"description": "The preview: totals to the cent as the accounting system will store them, "
                                                         "problems (block a create) and warnings (a total that differs from the deal "
                                                         "value and why; the deal's live invoices)",
                                          "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Preview"}}}},
                                  **_errors(400, 401, 403, 404, 409, 422, 502, 503)},
                }
            },
            "/api/invoices/{invoice_id}": {
                "get": {"summary": "One invoice", "operationId": "getInvoice", "parameters": [_INVOICE],
                        "responses": {"200": _INVOICE_OK, **_errors(401, 404)}}
            },
            "/api/invoices/{invoice_id}/pdf": {
                "get": {"summary": "The invoice as PDF", "operationId": "getInvoicePdf", "parameters": [_INVOICE],
                        "responses": {"200": {"description": "PDF bytes", "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}},
                                      **_errors(401, 403, 404, 409, 502, 503)}}
            },
            **{
                f"/api/invoices/{{invoice_id}}/{command}": {
                    "post": {"summary": summary, "operationId": f"{command}Invoice", "parameters": [_INVOICE],
                             "description": "Answers 200 with the invoice when the accounting system answers within a few "
                                            "seconds, else 202 with Location to follow (the command goes on).",
                             "responses": {"200": _command_ok(), "202": _command_accepted(),
                                           **_errors(401, 403, 404, 409, 422, 502, 503)}}
                }
                for command, summary in COMMANDS
            },
            "/api/commands/{command_id}": {
                "get": {"summary": "A status command that answered 202: running, finished (with the invoice) or failed (with the error)",
                        "operationId": "getCommand",
                        "parameters": [{"name": "command_id", "in": "path", "required": True,
                                        "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"}}],
                        "responses": {"200": {"description": "The command run",
                                              "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CommandRun"}}}},
                                      **_errors(401, 404)}}
            },
            "/api/sync": {
                "post": {"summary": "Reconcile invoice statuses now", "operationId": "sync",
                         "responses": {"200": {"description": "Counts", "content": {"application/json": {"schema": {
                             "type": "object", "required": ["checked", "changed", "rejected", "recovered"],
                             "properties": {k: {"type": "integer"} for k in ("checked", "changed", "rejected", "recovered")}}}}},
                             **_errors(401, 403, 409, 502, 503)}}
            },
            "/api/bulk": {
                "post": {"summary": "Invoice many deals in the background (or preview them with dry_run)", "operationId": "startBulk",
                         "description": "Deal ids the CRM's rule refuses are reported refused in the run, one result each; "
                                        "the other deals run.",
                         "requestBody": {"required": False, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/BulkRequest"}}}},
                         "responses": {"202": {"description": "The run: poll links.self for progress and per-deal results",
                                               "content": {"application/json": {"schema": {"$ref": "#/components/schemas/BulkRun"}}},
                                               "links": {"GetBulk": {"operationId": "getBulk", "parameters": {"run_id": "$response.body#/run_id"}}}},
                                       **_errors(400, 401, 403, 409, 502, 503)}}
            },
            "/api/bulk/{run_id}": {
                "get": {"summary": "Progress of a bulk run, and one result per deal once it has finished", "operationId": "getBulk",
                        "parameters": [{"name": "run_id", "in": "path", "required": True, "schema": {"type": "string", "pattern": RUN_ID_PATTERN}}],
                        "responses": {"200": {"description": "The run", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/BulkRun"}}}},
                                      **_errors(401, 404)}}
            },
            **settings_api.openapi_paths(_errors),
        },
        "components": {
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "DealFieldSettings": settings_api.SCHEMA, "DealFieldChoice": settings_api.REQUEST,
                "BulkRequest": {"type": "object", "additionalProperties": False, "properties": {
                    "deal_ids": {"type": "array", "maxItems": MAX_DEALS,
                                 "description": "Ids to invoice; one the CRM's rule refuses is reported refused in the run",
                                 "items": {"type": ["string", "integer"], "maxLength": 64}},
                    "won_from": {"type": "string", "format": "date"}, "won_to": {"type": "string", "format": "date"},
                    "pipeline_id": crm_id, "stage_id": crm_id,
                    "dry_run": {"type": "boolean"},
                    "run_id": {"type": "string", "pattern": RUN_ID_PATTERN, "description": "re-post to resume or retry; never duplicates"}}},
                "BulkRun": {"type": "object", "required": ["run_id", "dry_run", "state", "done", "total", "links"], "properties": {
                    "run_id": {"type": "string"}, "dry_run": {"type": "boolean"},
                    "state": {"type": "string", "enum": ["running", "finished", "failed"]},
                    "done": {"type": "integer"}, "total": {"type": "integer"}, "error": {"type": "string"},
                    "links": {"type": "object"}, "summary": {"type": "object"},
                    "items": {"type": "array", "items": {"type": "object", "required": ["deal_id", "ok", "error"], "properties": {
                        "deal_id": {"type": "string"}, "ok": {"type": "boolean"}, "error": {"type": "string"},
                        "retryable": {"type": "boolean"}, "problems": {"type": "array", "items": {"type": "string"}},
                        "operation_key": {"type": "string"}}}}}},
                "CommandRun": {"type": "object", "required": ["id", "invoice_id", "command", "state", "links"], "properties": {
                    "id": {"type": "string"}, "invoice_id": {"type": "integer"},
                    "command": {"type": "string", "enum": [c for c, _ in COMMANDS]},
                    "state": {"type": "string", "enum": ["running", "finished", "failed"]},
                    "invoice": {"$ref": "#/components/schemas/Invoice"}, "error": _ERROR, "status_code": {"type": "integer"},
                    "last_error": {"type": "string"}, "links": {"type": "object"}}},
                "Error": {"type": "object", "required": ["error", "message"],
                          "properties": {"error": {"type": "string"}, "message": {"type": "string"}}},
                "Invoice": {
                    "type": "object",
                    "required": ["id", "deal_id", "number", "status", "status_label", "currency", "total", "amount_paid", "amount_due"],
                    "properties": {
                        "id": {"type": "integer"}, "deal_id": {"type": "string"}, "backend": {"type": "string"},
                        "remote_id": {"type": "string"}, "number": {"type": "string"},
                        "status": {"type": "string", "enum": ["DRAFT", "AWAITING_APPROVAL", "AWAITING_PAYMENT", "PAID", "VOIDED", "DELETED"]},
                        "status_label": {"type": "string"}, "currency": {"type": "string"},
                        "total": {"type": "string"}, "amount_paid": {"type": ["string", "null"]}, "amount_due": {"type": "string"},
                        "date": {"type": ["string", "null"], "format": "date"}, "due_date": {"type": ["string", "null"], "format": "date"},
                        "contact_name": {"type": "string"}, "reference": {"type": "string"},
                        "created_at": {"type": "string"}, "updated_at": {"type": "string"},
                        "allowed_commands": {"type": "array", "items": {"type": "string"}},
                        "links": {"type": "object"},
                    },
                },
                "Preview": {"type": "object", "required": ["deal_id", "ok", "problems", "warnings", "line_items", "totals", "live_invoices"],
                            "properties": {
                                "deal_id": {"type": "string"}, "ok": {"type": "boolean"},
                                "problems": {"type": "array", "items": {"type": "string"}},
                                "warnings": {"type": "array", "items": {"type": "string"}},
                                "customer": {"type": "object"}, "date": {"type": "string", "format": "date"},
                                "due_date": {"type": "string", "format": "date"}, "currency": {"type": "string"},
                                "tax_handling": {"type": "string"}, "reference": {"type": "string"}, "status": {"type": "string"},
                                "line_items": {"type": "array", "items": {"type": "object", "properties": {
                                    "description": {"type": "string"}, "quantity": {"type": "string"}, "unit_amount": {"type": "string"},
                                    "discount_rate": {"type": ["string", "null"]}, "discount_amount": {"type": ["string", "null"]},
                                    "item_code": {"type": "string"}, "account_code": {"type": "string"},
                                    "tax_type": {"type": "string", "description": "the tax applied; the item's or account's default when none was given"},
                                    "line_amount": {"type": "string"}, "tax_amount": {"type": "string"}}}},
                                "totals": {"type": "object", "properties": {k: {"type": "string"} for k in ("subtotal", "tax", "total")}},
                                "deal_value": {"type": "object", "properties": {"amount": {"type": "string"}, "currency": {"type": "string"}}},
                                "live_invoices": {"type": "array", "description": "the deal's invoices that are not voided or deleted",
                                                  "items": {"type": "object", "properties": {
                                                      "id": {"type": "integer"}, "number": {"type": "string"}, "status": {"type": "string"},
                                                      "status_label": {"type": "string"}, "total": {"type": "string"},
                                                      "currency": {"type": "string"}}}},
                            }},
                "Overrides": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "allow_another": {"type": "boolean", "default": False,
                                          "description": "create even though the deal already has a live invoice (create only; "
                                                         "a preview reports live invoices either way)"},
                        "date": {"type": "string", "format": "date"},
                        "due_date": {"type": "string", "format": "date"},
                        "currency": {"type": "string", "enum": sorted(ISO_4217), "description": "an ISO 4217 code"},
                        "tax_handling": {"type": "string", "enum": ["Exclusive", "Inclusive", "NoTax"]},
                        "reference": {"type": "string", "maxLength": 255},
                        "status": {"type": "string", "enum": list(statuses),
                                   "description": "what the invoice is created as: only the statuses the connected "
                                                  "accounting system has"},
                        "branding_theme_id": _CODE,
                        "customer": {"type": "object", "additionalProperties": False, "properties": {
                            "name": {"type": "string", "maxLength": 500}, "email": {"type": "string", "maxLength": 500},
                            "tax_number": {"type": "string", "maxLength": 100}}},
                        "line_items": {"type": "array", "minItems": 1, "maxItems": 500, "items": {
                            "type": "object", "additionalProperties": False, "properties": {
                                "description": {"type": "string", "maxLength": 4000}, "quantity": _POSITIVE,
                                "unit_amount": _NUMBER, "discount_amount": _DISCOUNT_AMOUNT, "discount_rate": {"anyOf": [{"type": "null"}, {"type": "number", "minimum": 0, "maximum": 100},
                                                                                    {"type": "string", "pattern": "^(100|[0-9]{1,2})(\\.[0-9]{1,4})?$"}]},
                                "item_code": _CODE, "account_code": _CODE, "tax_type": _CODE, "tax_percent": _NUMBER}}},
                    },
                },
            },
        },
    }


def build(rule: IdRule | None = None, statuses: tuple[str, ...] = CREATE_STATUSES) -> dict[str, Any]:
    """The document for a CRM id rule (the default rule when none is given) and the statuses the accounting
    backend can create (:func:`create_statuses`; every one when none are given); a fresh copy each time."""
    rule = rule or IdRule()
    return copy.deepcopy(_build(rule.openapi_pattern, rule.description, tuple(statuses)))


OPENAPI: dict[str, Any] = build()
