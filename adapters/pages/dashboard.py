"""The dashboard: what needs attention, recent invoices and deals, failed requests and their retry."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from invoicebridge.core import attention
from invoicebridge.core.errors import InvoiceBridgeError
from invoicebridge.core.model import Role
from invoicebridge.core.i18n import _

from .. import display, setup
from ..page_cache import cached_page
from ..security import form_post, login_required
from .common import flash, render, state, _safe_next
from .connections import _connection_rows


@login_required
async def dashboard(request: Request) -> Response:
    runtime = state(request).runtime
    store = runtime.store
    failures = store.operations(states=("failed", "dead", "pending", "in_flight"), limit=50)
    deals: list = []
    deals_error = ""
    if runtime.maybe_connection(Role.CRM) is not None:
        try:
            deals = await state(request).pipeline.recent_deals(25)
        except InvoiceBridgeError as exc:
            deals_error = exc.message

    def draw() -> Response:
        invoiced = {op["deal_id"]: [r.number or str(r.id) for r in store.invoices_for_deal(op["deal_id"])] for op in failures}
        return render(request, "dashboard.html", {
            "attention": _attention(request),
            "invoices": store.recent_invoices(30),
            "failures": failures,
            "invoiced": invoiced,
            "deals": deals,
            "deals_error": deals_error,
            "connections": _connection_rows(request),
            "activity": store.audit_entries(limit=15),
            "setup": setup.checklist(request.app.state),
        })

    # Drawn again when the store or the CRM's deals snapshot changes, and once a minute (what needs attention
    # depends on the time: drafts waiting, invoices overdue).
    minute = runtime.now().replace(second=0, microsecond=0)
    pipeline = state(request).pipeline

    def still() -> bool:  # the same deals snapshot, the same minute
        kept = pipeline.kept_recent_deals()
        return (kept is not None and len(kept) >= len(deals) and all(a is b for a, b in zip(kept, deals, strict=False))
                and runtime.now().replace(second=0, microsecond=0) == minute)

    return cached_page(request, "dashboard.html", deals_error, minute, pinned=tuple(deals),
                       still=None if deals_error or runtime.maybe_connection(Role.CRM) is None else still, render=draw)


def _attention(request: Request) -> list:
    """Connections in error, drafts waiting too long, overdue invoices (failed requests are listed apart)."""
    runtime = state(request).runtime
    # the plain part of the error only: addresses and request notes stay on the Connections page, folded away
    rows = [(row["connection"], row["info"].label or row["info"].name,
             display.split_error(row["health"].get("last_error")).plain if row["health"].get("last_error") else "")
            for row in _connection_rows(request) if row["connection"] is not None]
    days = attention.draft_days(runtime.store.get_settings())
    return attention.connection_problems(rows) + attention.invoice_problems(
        runtime.store.invoices_to_watch(runtime.today()), now=runtime.now(), today=runtime.today(), days=days)


@form_post
async def retry_operation(request: Request) -> Response:
    key = request.path_params["key"]
    item = await state(request).pipeline.retry_operation(key)
    if item.record is not None:
        flash(request, _("Invoice %(number)s created for deal %(deal)s.") % {"number": item.record.number or item.record.id, "deal": item.deal_id})
    else:
        flash(request, _("Still failing: %(error)s") % {"error": item.error}, "error")
    return RedirectResponse(_safe_next(str(request.state.form.get("next") or "/")), status_code=303)

async def health(request: Request) -> Response:
    return JSONResponse({"ok": True})


routes = [
    Route("/", dashboard, name="dashboard"),
    Route("/health", health),
    Route("/operations/{key}/retry", retry_operation, methods=["POST"]),
]
