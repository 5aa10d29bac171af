"""The JSON API under ``/api``: the same operations as the pages, for scripts and tests.

Authenticated with an API key. Errors are ``{"error": <class>, "message": <what to do>}`` with the right
status code. The OpenAPI document at ``/api/openapi.json`` describes every endpoint.
"""

from __future__ import annotations

import functools
import json
import re

import jsonschema
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from invoicebridge.core.errors import InvoiceBridgeError, NotFound
from invoicebridge.core.model import InvoiceRecord
from invoicebridge.core.pipeline import AnotherInvoice
from invoicebridge.core.totals import line_taxes
from invoicebridge.core.crm_ids import id_rule
from invoicebridge.core.i18n import _, lazy_
from invoicebridge.core.status import Command

from . import bulk_jobs, commands, settings_api
from .downloads import content_disposition
from .page_cache import cached_answer
from .openapi import OPENAPI, build as build_openapi, create_statuses
from .security import api_auth


class BadRequest(InvoiceBridgeError):
    status_code = 400


def invoice_json(record: InvoiceRecord, *, may_approve: bool = True, pipeline: Any = None) -> dict[str, Any]:
    """``pipeline``: the commands offered follow the connected backend's capabilities (else the status alone)."""
    from invoicebridge.core.status import allowed_commands

    commands = (pipeline.commands_for(record, may_approve=may_approve) if pipeline is not None else
                allowed_commands(record.status, amount_paid=record.amount_paid, may_approve=may_approve))
    # a backend that reports no payments: no amount paid (null), the status says whether it is paid
    payments = pipeline.capabilities().payments if pipeline is not None else True

    return {
        "id": record.id,
        "deal_id": record.deal_id,
        "backend": record.backend,
        "remote_id": record.remote_id,
        "number": record.number,
        "status": record.status.value,
        "status_label": record.status_label,
        "currency": record.currency,
        "total": str(record.total),
        "amount_paid": str(record.amount_paid) if payments else None,
        "amount_due": str(record.outstanding),
        "date": record.date.isoformat() if record.date else None,
        "due_date": record.due_date.isoformat() if record.due_date else None,
        "contact_name": record.contact_name,
        "reference": record.reference,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
        "allowed_commands": [c.value for c in commands],
        "links": {"pdf": f"/api/invoices/{record.id}/pdf", "page": f"/invoices/{record.id}"},
    }


def _invoice_id(request: Request) -> int:
    raw = request.path_params["invoice_id"]
    try:
        number = int(raw)
    except ValueError:
        number = 0
    if not 1 <= number < 2**63:  # beyond SQLite's integers: no invoice has it
        raise NotFound(_("Invoice '%(invoice)s' does not exist here; invoice ids are whole numbers from 1") % {"invoice": raw[:64]})
    return number


_DEAL_ID = lazy_("Deal id")  # translated only when an id is refused (not on every request)


def _deal_id(request: Request) -> str:
    """The deal id, exactly as the connected CRM spells its ids (core.crm_ids); others are a 400 naming it."""
    state = request.app.state
    return id_rule(state.runtime, state.pipeline.plugins).check(request.path_params["deal_id"], _DEAL_ID)


async def _json_object(request: Request) -> dict[str, Any]:
    body = await request.body()
    if not body:  # no body: the document's bodies are optional (whitespace alone is not JSON, and refused)
        return {}
    try:
        data = json.loads(body, parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise BadRequest(_("The request body is not valid JSON")) from None
    if not isinstance(data, dict):
        raise BadRequest(_("The request body must be a JSON object"))
    return data


OVERRIDE_FIELDS = {"date", "due_date", "currency", "tax_handling", "reference", "status", "line_items", "customer", "branding_theme_id"}


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


@functools.cache
def _validator(schema_name: str) -> jsonschema.protocols.Validator:
    root = {"$ref": f"#/components/schemas/{schema_name}", "components": OPENAPI["components"]}
    return jsonschema.Draft202012Validator(root, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def validate_body(body: dict[str, Any], schema_name: str) -> dict[str, Any]:
    """Refuse (400, naming the field) a body the OpenAPI document does not allow: what the document says is
    what the server takes."""
    error = jsonschema.exceptions.best_match(_validator(schema_name).iter_errors(body))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or _("the body")
        raise BadRequest(_("%(field)s: %(problem)s") % {"field": where, "problem": error.message[:300]})
    return body


def _overrides(body: dict[str, Any]) -> dict[str, Any]:
    """Create and preview take the same fields: a preview must not say ok to what a create refuses."""
    unknown = set(body) - OVERRIDE_FIELDS - {"allow_another"}
    if unknown:
        raise BadRequest(_("Unknown fields: %(fields)s") % {"fields": ", ".join(sorted(unknown))})
    validate_body(body, "Overrides")
    return {k: v for k, v in body.items() if k != "allow_another"}


def _allow_another(body: dict[str, Any]) -> bool:
    """``"allow_another": true`` creates an invoice for a deal that already has a live one."""
    value = body.get("allow_another", False)
    if not isinstance(value, bool):
        raise BadRequest(_("allow_another must be a JSON boolean (true or false)"))
    return value


@api_auth
async def list_deal_invoices(request: Request) -> Response:
    deal_id = _deal_id(request)
    store, pipeline = request.app.state.runtime.store, request.app.state.pipeline
    return cached_answer(request, "deal-invoices", deal_id, render=lambda: JSONResponse(
        {"deal_id": deal_id, "invoices": [invoice_json(r, pipeline=pipeline) for r in store.invoices_for_deal(deal_id)]}))


IDEMPOTENCY_KEY_MAX = 100
_PRINTABLE_ASCII = re.compile(r"[\x20-\x7e]+")


def _idempotency_key(request: Request) -> str | None:
    """The Idempotency-Key exactly as sent (compared exactly: ``ord 42`` and ``ord/42`` are two keys): 1 to
    100 printable ASCII characters; anything else is refused rather than folded into another key."""
    raw = request.headers.getlist("idempotency-key")
    if not raw:
        return None
    if len(raw) > 1:
        raise BadRequest(_("Send one Idempotency-Key header, not %(n)s") % {"n": len(raw)})
    key = raw[0]
    if not key or len(key) > IDEMPOTENCY_KEY_MAX or not _PRINTABLE_ASCII.fullmatch(key):
        raise BadRequest(_("Idempotency-Key must be 1 to %(max)s printable ASCII characters") % {"max": IDEMPOTENCY_KEY_MAX})
    return key


@api_auth
async def create_deal_invoice(request: Request) -> Response:
    deal_id = _deal_id(request)
    body = await _json_object(request)
    overrides, allow_another = _overrides(body), _allow_another(body)
    key = _idempotency_key(request)
    pipeline = request.app.state.pipeline
    try:
        record = await pipeline.create_invoice(deal_id, overrides=overrides, key=key, source="api",
                                               allow_another=allow_another)
    except AnotherInvoice as exc:
        raise AnotherInvoice(f'{exc.message} To create another one, send "allow_another": true.', **exc.context) from None
    return JSONResponse(invoice_json(record, pipeline=pipeline), status_code=201)


@api_auth
async def preview_deal_invoice(request: Request) -> Response:
    deal_id = _deal_id(request)
    body = await _json_object(request)
    overrides = _overrides(body)
    _allow_another(body)
    preview = await request.app.state.pipeline.preview(deal_id, overrides)
    draft = preview.draft
    totals = draft.totals
    taxes = line_taxes(draft)
    return JSONResponse({
        "deal_id": deal_id,
        "ok": preview.ok,
        "problems": list(preview.problems),
        "warnings": list(preview.warnings),
        "customer": {"name": draft.customer.name, "email": draft.customer.email, "tax_number": draft.customer.tax_number,
                     "address": draft.customer.address.one_line()},
        "date": draft.date.isoformat(), "due_date": draft.due_date.isoformat(), "currency": draft.currency,
        "tax_handling": draft.tax_handling.value, "reference": draft.reference, "status": draft.status.value,
        "line_items": [{"description": line.description, "quantity": str(line.quantity), "unit_amount": str(line.unit_amount),
                        "discount_rate": str(line.discount_rate) if line.discount_rate is not None else None,
                        "discount_amount": str(line.discount_amount) if line.discount_amount is not None else None,
                        "item_code": line.item_code, "account_code": line.account_code, "tax_type": line.tax_type,
                        "line_amount": str(line.line_amount), "tax_amount": str(tax)} for line, tax in zip(draft.line_items, taxes, strict=True)],
        "totals": {"subtotal": str(totals.subtotal), "tax": str(totals.tax), "total": str(totals.total)},
        "deal_value": {"amount": str(preview.deal.value), "currency": preview.deal.currency},
        "live_invoices": [{"id": r.id, "number": r.number, "status": r.status.value, "status_label": r.status_label,
                           "total": str(r.total), "currency": r.currency} for r in preview.live_invoices],
    })


@api_auth
async def get_invoice(request: Request) -> Response:
    record = request.app.state.runtime.store.get_invoice(_invoice_id(request))
    return JSONResponse(invoice_json(record, pipeline=request.app.state.pipeline))


@api_auth
async def invoice_command(request: Request) -> Response:
    invoice_id = _invoice_id(request)
    try:
        command = Command.parse(request.path_params["command"])
    except ValueError as exc:
        raise NotFound(str(exc)) from None
    return await commands.run(request, invoice_id, command)


@api_auth
async def invoice_pdf(request: Request) -> Response:
    record, pdf = await request.app.state.pipeline.pdf(_invoice_id(request))
    name = record.number or f"invoice-{record.id}"
    return Response(pdf, media_type="application/pdf", headers={"Content-Disposition": content_disposition(f"{name}.pdf")})


@api_auth
async def sync(request: Request) -> Response:
    report = await request.app.state.pipeline.reconcile()
    return JSONResponse({"checked": report.checked, "changed": report.changed, "rejected": report.rejected, "recovered": report.recovered})


async def openapi(request: Request) -> Response:
    state = request.app.state
    # the create statuses follow the connected accounting backend (one without drafts creates awaiting payment)
    return JSONResponse(build_openapi(id_rule(state.runtime, state.pipeline.plugins),
                                      create_statuses(state.pipeline.capabilities())))


async def deal_invoices(request: Request) -> Response:
    """GET lists, POST creates: one route, so a 405 names both methods in Allow."""
    return await (create_deal_invoice if request.method == "POST" else list_deal_invoices)(request)


def routes() -> list[Route]:
    return [
        Route("/api/openapi.json", openapi, methods=["GET"]),
        Route("/api/deals/{deal_id}/invoices", deal_invoices, methods=["GET", "POST"]),
        Route("/api/deals/{deal_id}/preview", preview_deal_invoice, methods=["POST"]),
        Route("/api/invoices/{invoice_id}", get_invoice, methods=["GET"]),
        Route("/api/invoices/{invoice_id}/pdf", invoice_pdf, methods=["GET"]),
        Route("/api/invoices/{invoice_id}/{command}", invoice_command, methods=["POST"]),
        Route("/api/sync", sync, methods=["POST"]),
        Route("/api/bulk", api_auth(bulk_jobs.post_bulk), methods=["POST"]),
        Route("/api/bulk/{run_id}", api_auth(bulk_jobs.get_bulk), methods=["GET"]),
        Route("/api/commands/{command_id}", api_auth(commands.get_command), methods=["GET"]),
        Route("/api/settings/deal-fields", settings_api.deal_field_settings, methods=["GET", "PUT"]),
    ]
