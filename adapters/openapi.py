"""The OpenAPI 3.1 description of the JSON API (served at /api/openapi.json)."""

from __future__ import annotations

from typing import Any

_ERROR = {"$ref": "#/components/schemas/Error"}


def _err(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ERROR}}}


_COMMON_ERRORS = {"401": _err("Missing or wrong API key"), "404": _err("Unknown id")}
_DEAL = {"name": "deal_id", "in": "path", "required": True, "schema": {"type": "string", "pattern": "^[A-Za-z0-9]{1,64}$"}}
_INVOICE = {"name": "invoice_id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}
_INVOICE_OK = {"description": "The invoice", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Invoice"}}}}

OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "invoicebridge API", "version": "1", "description": "Create accounting invoices from CRM deals and follow their status."},
    "security": [{"apiKey": []}],
    "paths": {
        "/api/deals/{deal_id}/invoices": {
            "get": {
                "summary": "Invoices created for a deal",
                "operationId": "listDealInvoices",
                "parameters": [_DEAL],
                "responses": {
                    "200": {"description": "The deal's invoices", "content": {"application/json": {"schema": {
                        "type": "object", "required": ["deal_id", "invoices"],
                        "properties": {"deal_id": {"type": "string"}, "invoices": {"type": "array", "items": {"$ref": "#/components/schemas/Invoice"}}}}}}},
                    **_COMMON_ERRORS,
                },
            },
            "post": {
                "summary": "Create an invoice from the deal (mapping plus optional overrides)",
                "description": "A deal that already has a live invoice (not voided or deleted) is refused with 409 naming it, "
                               "unless the body says \"allow_another\": true. A repeat of an earlier create with the same "
                               "Idempotency-Key answers that create, whatever the deal has since.",
                "operationId": "createDealInvoice",
                "parameters": [_DEAL, {"name": "Idempotency-Key", "in": "header", "required": False,
                                       "schema": {"type": "string", "maxLength": 100},
                                       "description": "The same key returns the same invoice instead of creating another"}],
                "requestBody": {"required": False, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Overrides"}}}},
                "responses": {
                    "201": _INVOICE_OK,
                    "400": _err("Malformed body"),
                    "409": _err("The deal already has a live invoice (send allow_another: true to create another), "
                                "the key was reused for a different request, or the same request is still in progress"),
                    "422": _err("The deal cannot be mapped, or the invoice has problems"),
                    "502": _err("The accounting or CRM system refused or failed"),
                    "503": _err("Rate limited; retry later"),
                    **_COMMON_ERRORS,
                },
            },
        },
        "/api/deals/{deal_id}/preview": {
            "post": {
                "summary": "Preview the invoice a deal would give, with every problem found",
                "operationId": "previewDealInvoice",
                "parameters": [_DEAL],
                "requestBody": {"required": False, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Overrides"}}}},
                "responses": {"200": {"description": "The preview: totals to the cent as the accounting system will store them, "
                                                     "problems (block a create) and warnings (a total that differs from the deal "
                                                     "value and why; the deal's live invoices)",
                                      "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Preview"}}}},
                              "400": _err("Malformed body"), "422": _err("The deal cannot be mapped"), **_COMMON_ERRORS},
            }
        },
        "/api/invoices/{invoice_id}": {
            "get": {"summary": "One invoice", "operationId": "getInvoice", "parameters": [_INVOICE],
                    "responses": {"200": _INVOICE_OK, **_COMMON_ERRORS}}
        },
        "/api/invoices/{invoice_id}/pdf": {
            "get": {"summary": "The invoice as PDF", "operationId": "getInvoicePdf", "parameters": [_INVOICE],
                    "responses": {"200": {"description": "PDF bytes", "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}},
                                  "502": _err("The accounting system failed"), **_COMMON_ERRORS}}
        },
        **{
            f"/api/invoices/{{invoice_id}}/{command}": {
                "post": {"summary": summary, "operationId": f"{command}Invoice", "parameters": [_INVOICE],
                         "responses": {"200": _INVOICE_OK, "409": _err("Not allowed in the invoice's status"),
                                       "502": _err("The accounting system refused or failed"), **_COMMON_ERRORS}}
            }
            for command, summary in [("submit", "Submit for approval"), ("approve", "Approve"), ("delete", "Delete a draft"),
                                     ("void", "Void an approved invoice"), ("email", "Email the invoice from the accounting system")]
        },
        "/api/sync": {
            "post": {"summary": "Reconcile invoice statuses now", "operationId": "sync",
                     "responses": {"200": {"description": "Counts", "content": {"application/json": {"schema": {
                         "type": "object", "properties": {k: {"type": "integer"} for k in ("checked", "changed", "rejected", "recovered")}}}}},
                         "401": _err("Missing or wrong API key"), "409": _err("Not connected"), "502": _err("The accounting system failed")}}
        },
        "/api/bulk": {
            "post": {"summary": "Invoice many deals in the background (or preview them with dry_run)", "operationId": "startBulk",
                     "requestBody": {"content": {"application/json": {"schema": {"type": "object", "properties": {
                         "deal_ids": {"type": "array", "items": {"type": "string"}},
                         "won_from": {"type": "string", "format": "date"}, "won_to": {"type": "string", "format": "date"},
                         "pipeline_id": {"type": "string"}, "stage_id": {"type": "string"},
                         "dry_run": {"type": "boolean"}, "run_id": {"type": "string", "description": "re-post to resume or retry; never duplicates"}}}}}},
                     "responses": {"202": {"description": "The run: poll links.self for progress and per-deal results",
                                           "content": {"application/json": {"schema": {"$ref": "#/components/schemas/BulkRun"}}}},
                                   "400": _err("Bad query"), "401": _err("Missing or wrong API key"), "409": _err("Not connected")}}
        },
        "/api/bulk/{run_id}": {
            "get": {"summary": "Progress of a bulk run, and one result per deal once it has finished", "operationId": "getBulk",
                    "parameters": [{"name": "run_id", "in": "path", "required": True, "schema": {"type": "string"}}],
                    "responses": {"200": {"description": "The run", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/BulkRun"}}}},
                                  "401": _err("Missing or wrong API key"), "404": _err("Unknown run")}}
        },
    },
    "components": {
        "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer"}},
        "schemas": {
            "BulkRun": {"type": "object", "properties": {
                "run_id": {"type": "string"}, "dry_run": {"type": "boolean"}, "state": {"type": "string", "enum": ["running", "finished", "failed"]},
                "done": {"type": "integer"}, "total": {"type": "integer"}, "error": {"type": "string"},
                "summary": {"type": "object"}, "items": {"type": "array", "items": {"type": "object"}}}},
            "Error": {"type": "object", "required": ["error", "message"],
                      "properties": {"error": {"type": "string"}, "message": {"type": "string"}}},
            "Invoice": {
                "type": "object",
                "required": ["id", "deal_id", "number", "status", "status_label", "currency", "total", "amount_paid", "amount_due"],
                "properties": {
                    "id": {"type": "integer"}, "deal_id": {"type": "string"}, "backend": {"type": "string"},
                    "remote_id": {"type": "string"}, "number": {"type": "string"},
                    "status": {"type": "string", "enum": ["DRAFT", "SUBMITTED", "AUTHORISED", "PAID", "VOIDED", "DELETED"]},
                    "status_label": {"type": "string"}, "currency": {"type": "string"},
                    "total": {"type": "string"}, "amount_paid": {"type": "string"}, "amount_due": {"type": "string"},
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
                    "currency": {"type": "string", "minLength": 3, "maxLength": 3},
                    "tax_handling": {"type": "string", "enum": ["Exclusive", "Inclusive", "NoTax"]},
                    "reference": {"type": "string", "maxLength": 255},
                    "status": {"type": "string", "enum": ["DRAFT", "SUBMITTED", "AUTHORISED"]},
                    "branding_theme_id": {"type": "string"},
                    "customer": {"type": "object", "properties": {"name": {"type": "string"}, "email": {"type": "string"}, "tax_number": {"type": "string"}}},
                    "line_items": {"type": "array", "minItems": 1, "items": {"type": "object", "properties": {
                        "description": {"type": "string"}, "quantity": {"type": ["number", "string"]},
                        "unit_amount": {"type": ["number", "string"]}, "discount_rate": {"type": ["number", "string", "null"]},
                        "discount_amount": {"type": ["number", "string", "null"], "description": "an amount off the line (not with discount_rate)"},
                        "item_code": {"type": "string"}, "account_code": {"type": "string"}, "tax_type": {"type": "string"}}}},
                },
            },
        },
    },
}
