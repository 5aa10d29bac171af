"""Creating an invoice from a deal: the form, its live totals and the submit."""

from __future__ import annotations

import secrets
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from invoicebridge.core.errors import InvoiceBridgeError, MappingError, ValidationProblem
from invoicebridge.core.model import TaxHandling
from invoicebridge.core.i18n import UnreadableNumber, _, format_number, lazy_, parse_decimal
from invoicebridge.core.pipeline import AnotherInvoice
from invoicebridge.core.totals import line_taxes

from ..security import crm_scope, form_post, login_required
from .common import flash, render, state
from .deals import _deal_id


# Typed numbers on a line, read in the request's language (rendered with format_number, so they round-trip).
LINE_NUMBERS = {"quantity": lazy_("quantity"), "unit_amount": lazy_("unit price"), "discount_rate": lazy_("discount %"),
                "discount_amount": lazy_("discount amount")}
LINE_FIELDS = ("description", "quantity", "unit_amount", "discount_rate", "discount_amount", "item_code", "account_code", "tax_type")


def _form_overrides(form) -> tuple[dict[str, Any], list[dict[str, str]], list[str]]:
    """The form as pipeline overrides, the rows as typed (to show again), and every number it could not read,
    naming the line and the field."""
    overrides: dict[str, Any] = {}
    for name in ("date", "due_date", "currency", "tax_handling", "reference", "branding_theme_id"):
        value = str(form.get(name) or "").strip()
        if value:
            overrides[name] = value
    overrides["customer"] = {k: str(form.get(f"customer_{k}") or "").strip() for k in ("name", "email", "tax_number")}
    rows, lines, errors = [], [], []
    indexes = sorted({int(k.split("-")[1]) for k in form.keys() if k.startswith("line-") and k.split("-")[1].isdigit()})
    for i in indexes:
        row = {f: str(form.get(f"line-{i}-{f}") or "").strip() for f in LINE_FIELDS}
        if not any(row[f] for f in ("description", "item_code", "unit_amount")):
            continue
        rows.append(row)
        line = dict(row)
        for name, label in LINE_NUMBERS.items():
            try:
                number = parse_decimal(row[name], field=_("Line %(n)s, %(field)s") % {"n": i + 1, "field": label})
            except UnreadableNumber as exc:
                errors.append(str(exc))
                continue
            line[name] = "" if number is None else str(number)
        lines.append(line)
    overrides["line_items"] = lines
    return overrides, rows, errors


def _rows_from_draft(draft) -> list[dict[str, str]]:
    def num(value) -> str:
        return "" if value is None else format_number(value)

    return [{"description": line.description, "quantity": num(line.quantity), "unit_amount": num(line.unit_amount),
             "discount_rate": num(line.discount_rate), "discount_amount": num(line.discount_amount), "item_code": line.item_code,
             "account_code": line.account_code, "tax_type": line.tax_type} for line in draft.line_items]


def _create_context(deal_id: str, catalog, **extra: Any) -> dict[str, Any]:
    return {"deal_id": deal_id, "catalog": catalog, "errors": [], "preview": None, "rows": [], "amounts": [],
            "tax_handlings": [t.value for t in TaxHandling], "confirm_another": False, **extra}


def _with_preview(context: dict[str, Any], preview) -> dict[str, Any]:
    return dict(context, preview=preview, draft=preview.draft, rows=_rows_from_draft(preview.draft),
                amounts=[line.line_amount for line in preview.draft.line_items])


@login_required
@crm_scope("deal")
async def create_form(request: Request) -> Response:
    deal_id = _deal_id(request)
    pipeline = state(request).pipeline
    try:
        preview = await pipeline.preview(deal_id)
    except MappingError as exc:
        return render(request, "create.html", {"deal_id": deal_id, "mapping_error": exc, "preview": None}, status_code=422)
    catalog = await pipeline.catalog()
    return render(request, "create.html", _with_preview(_create_context(deal_id, catalog, nonce=secrets.token_urlsafe(16),
                                                                        capabilities=pipeline.capabilities()), preview))


@form_post
@crm_scope("deal")
async def create_submit(request: Request) -> Response:
    deal_id = _deal_id(request)
    pipeline = state(request).pipeline
    form = request.state.form
    action = str(form.get("action") or "preview")
    overrides, rows, unreadable = _form_overrides(form)
    if action == "submit":
        overrides["status"] = "AWAITING_APPROVAL"
    elif action == "draft":
        overrides["status"] = "DRAFT"
    elif action in ("create", "create_email"):  # a backend without drafts: created ready for payment
        overrides["status"] = "AWAITING_PAYMENT"
    nonce = str(form.get("nonce") or "") or secrets.token_urlsafe(16)
    allow_another = form.get("allow_another") == "on"
    catalog = await pipeline.catalog()
    context = _create_context(deal_id, catalog, rows=rows, nonce=nonce, form=form, confirm_another=allow_another,
                              capabilities=pipeline.capabilities())
    try:
        if unreadable:
            raise ValidationProblem(unreadable, deal_id=deal_id)
        # the deal as the form showed it (a snapshot of at most DEAL_VIEW_TTL, dropped when the CRM says it changed):
        # the Save creates what the person saw, without reading the deal again
        preview = await pipeline.preview(deal_id, overrides, deal=await pipeline.deal_for_display(deal_id))
    except MappingError as exc:
        return render(request, "create.html", dict(context, mapping_error=exc), status_code=422)
    except ValidationProblem as exc:
        # Shown again as typed; the totals are not shown, since they would not be what gets stored.
        base = await pipeline.preview(deal_id)
        return render(request, "create.html", dict(context, errors=exc.problems, preview=base, draft=base.draft, stale=True),
                      status_code=422)
    context = _with_preview(context, preview)
    if action == "preview" or preview.problems:
        return render(request, "create.html", context, status_code=200 if action == "preview" else 422)
    try:
        record = await pipeline.create_invoice(deal_id, overrides=overrides, key=nonce, source="page",
                                               allow_another=allow_another, shown=preview)
    except AnotherInvoice as exc:
        message = _("%(message)s Tick \"Create another invoice anyway\" to save it.") % {"message": exc.message}
        return render(request, "create.html", dict(context, errors=[message]), status_code=409)
    except InvoiceBridgeError as exc:
        return render(request, "create.html", dict(context, errors=[exc.message]), status_code=exc.status_code if exc.status_code < 500 else 502)
    flash(request, _("Invoice %(number)s created in %(backend)s as %(status)s.") % {
        "number": record.number or record.id, "backend": request.app.state.plugins.label(record.backend), "status": record.status_label})
    if action == "create_email":  # then the question that names the recipient, as the deal page's Email asks it
        return RedirectResponse(f"/invoices/{record.id}/email", status_code=303)
    return RedirectResponse(f"/deals/{deal_id}#invoice-{record.id}", status_code=303)


@form_post
async def create_preview(request: Request) -> Response:
    """The create form's live totals: the page sends the form as it stands and shows what this answers, which is
    what the accounting system will store (the same core computation as the create)."""
    deal_id = _deal_id(request)
    pipeline = state(request).pipeline
    overrides, _rows, unreadable = _form_overrides(request.state.form)
    answer: dict[str, Any] = {"ok": False, "errors": unreadable, "problems": [], "warnings": [], "live_invoices": [],
                              "totals": None, "display": None, "lines": []}
    if unreadable:
        return JSONResponse(answer)
    try:
        preview = await pipeline.preview(deal_id, overrides)
    except MappingError as exc:
        return JSONResponse(dict(answer, errors=[exc.message]), status_code=422)
    except ValidationProblem as exc:
        return JSONResponse(dict(answer, errors=exc.problems))
    draft = preview.draft
    totals = draft.totals
    taxes = line_taxes(draft)
    answer.update(ok=preview.ok, problems=list(preview.problems), warnings=list(preview.warnings),
                  live_invoices=[r.number or r.remote_id for r in preview.live_invoices], currency=draft.currency,
                  totals={"subtotal": str(totals.subtotal), "tax": str(totals.tax), "total": str(totals.total)},
                  display={k: format_number(v, places=2) for k, v in
                           (("subtotal", totals.subtotal), ("tax", totals.tax), ("total", totals.total))},
                  lines=[{"amount": str(line.line_amount), "tax": str(t), "tax_type": line.tax_type,
                          "display": format_number(line.line_amount, places=2)} for line, t in zip(draft.line_items, taxes, strict=True)])
    return JSONResponse(answer)


routes = [
    Route("/deals/{deal_id}/invoices/new", create_form),
    Route("/deals/{deal_id}/invoices", create_submit, methods=["POST"]),
    Route("/deals/{deal_id}/invoices/preview", create_preview, methods=["POST"]),
]
