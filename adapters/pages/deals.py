"""The deal page and its live version, and where a CRM link action lands."""

from __future__ import annotations

import hashlib

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from invoicebridge.core.errors import InvoiceBridgeError, NotConnected, NotFound
from invoicebridge.core.model import Role
from invoicebridge.core.i18n import _

from ..security import crm_scope, is_admin, is_logged_in, login_required
from ..page_cache import cached_page
from .common import error_page, fragment, render, state


def _deal_id(request: Request) -> str:
    raw = str(request.path_params["deal_id"])
    if not raw.isalnum() or len(raw) > 64:
        raise NotFound(_("There is no deal '%(deal)s'") % {"deal": raw[:64]})
    return raw


@login_required
@crm_scope("deal")
async def deal_page(request: Request) -> Response:
    deal_id = _deal_id(request)
    pipeline = state(request).pipeline
    runtime = state(request).runtime
    deal, deal_error = None, ""
    try:
        # The page names the deal's lines only when asked (their section opens on demand; ``?products=1``
        # without JavaScript): a view costs the CRM the deal alone when its lines are not kept already.
        deal = await pipeline.deal_for_display(deal_id, lines=request.query_params.get("products") == "1")
    except NotConnected:
        raise
    except InvoiceBridgeError as exc:
        deal_error = exc.message
    if deal is None and not runtime.store.invoices_for_deal(deal_id):
        return error_page(request, deal_error or _("There is no deal %(deal)s") % {"deal": deal_id}, 404)
    may_approve = await _may_approve(pipeline)

    def draw() -> Response:
        return render(request, "deal.html", {"deal": deal, "deal_error": deal_error,
                                             **_live_context(request, deal_id, may_approve)})

    # Drawn once until the deal snapshot or anything in the store changes (page_cache says what the key holds);
    # served in front of the stack while the snapshot is the one a view would use (a failed read never is).
    return cached_page(request, "deal.html", deal_error, may_approve, pinned=(deal,),
                       still=_same_deal(pipeline, deal_id, deal) if deal is not None else None, render=draw)


def _same_deal(pipeline, deal_id: str, deal):
    """For a page drawn from ``deal``: whether a view now would still use that snapshot (reads nothing)."""
    return lambda: pipeline.kept_deal(deal_id) is deal


async def _may_approve(pipeline) -> bool:
    try:
        return await pipeline.may_approve()
    except InvoiceBridgeError:
        return True  # the accounting system decides when asked


def _live_context(request: Request, deal_id: str, may_approve: bool) -> dict:
    """What the page's live part shows (``_deal_live.html``): invoices, failures, the deal's own events."""
    pipeline, store = state(request).pipeline, state(request).runtime.store
    invoices = [{"record": r, "commands": pipeline.commands_for(r, may_approve=may_approve),
                 "timeline": store.audit_entries(invoice_id=r.id)} for r in store.invoices_for_deal(deal_id)]
    return {"deal_id": deal_id, "invoices": invoices,
            "failures": store.operations(states=("failed", "dead"), deal_id=deal_id),
            "deal_events": [e for e in store.audit_entries(deal_id=deal_id) if not e["invoice_id"]],
            "version": _deal_version(store, deal_id), "may_approve": may_approve, "capabilities": pipeline.capabilities()}


@login_required
@crm_scope("deal")
async def deal_live(request: Request) -> Response:
    """The page's live part alone, for the page to swap in when the deal's version changes: drawn from the
    store only (no CRM read); 404 when the store knows nothing of the deal. A pending one-time message stays for
    the next whole page."""
    deal_id = _deal_id(request)
    store = state(request).runtime.store
    if not store.invoices_for_deal(deal_id) and not store.audit_entries(deal_id=deal_id) and not store.operations(
            deal_id=deal_id, states=("pending", "in_flight", "failed", "dead", "done"), limit=1):
        return fragment(request, "_error_text.html", {"message": _("There is no deal %(deal)s") % {"deal": deal_id}},
                        status_code=404)
    may_approve = await _may_approve(state(request).pipeline)
    return cached_page(request, "_deal_live.html", may_approve, still=_always, render=lambda: fragment(
        request, "_deal_live.html", _live_context(request, deal_id, may_approve)))


def _always() -> bool:
    return True  # drawn from the store alone (and whether the user may approve, asked again every few seconds)


def _deal_version(store, deal_id: str) -> str:
    parts = [f"{r.id}:{r.status.value}:{r.amount_paid}:{r.updated_at}" for r in store.invoices_for_deal(deal_id)]
    parts += [f"{o['key']}:{o['state']}" for o in store.operations(deal_id=deal_id, states=("pending", "in_flight", "failed", "dead", "done"))]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


async def open_from_crm(request: Request) -> Response:
    """Where a CRM link action lands (``/deals?selectedIds=42&token=<signed JWT>``). A valid token for the
    connected company opens a session for that CRM user which reaches only this deal (and others opened the same
    way), for a short time; it never makes anyone the admin. Without a token, sign in first and then continue to
    the deal."""
    raw = str(request.query_params.get("selectedIds") or request.query_params.get("deal") or "").split(",")[0].strip()
    if not raw.isalnum() or len(raw) > 64:
        return error_page(request, _("Open this page from a deal: the link carries no deal id."), 400)
    target = f"/deals/{raw}"
    runtime = state(request).runtime
    crm = runtime.maybe_connection(Role.CRM)
    if crm is not None and request.query_params.get("token"):
        from invoicebridge.core.errors import WebhookRejected

        try:
            who = await state(request).plugins.verify_page_token(runtime, connection=crm, params=dict(request.query_params))
        except WebhookRejected as exc:
            await runtime.store.writes.audit("page_token_rejected", exc.message)
            return error_page(request, exc.message, 401)
        if who and not is_admin(request):  # the admin stays the admin
            user = f"{crm.backend}:{who['user']}" if not str(who["user"]).startswith(f"{crm.backend}:") else str(who["user"])
            deals = list(request.session.get("deals") or []) if request.session.get("user") == user else []
            request.session.clear()
            request.session["user"] = user  # bound to that CRM user; another user's link starts a new session
            request.session["deals"] = [d for d in deals if d != raw][-19:] + [raw]
    if not is_logged_in(request):
        return RedirectResponse(f"/login?next={target}", status_code=303)
    return RedirectResponse(target, status_code=303)


@login_required
@crm_scope("deal")
async def deal_products(request: Request) -> Response:
    """The deal's lines alone (the page's products section, opened): read from the CRM when not kept, then
    kept for the page and the create form. 404 for a deal the CRM does not know."""
    deal_id = _deal_id(request)
    try:
        deal = await state(request).pipeline.deal_for_display(deal_id)
    except NotConnected:
        raise
    except InvoiceBridgeError as exc:
        status = exc.status_code if 400 <= exc.status_code < 600 and exc.status_code != 500 else 502
        return fragment(request, "_error_text.html", {"message": exc.message}, status_code=status)
    return cached_page(request, "_deal_products.html", pinned=(deal,), still=_same_deal(state(request).pipeline, deal_id, deal),
                       render=lambda: fragment(request, "_deal_products.html", {"deal": deal, "deal_id": deal_id}))


@login_required
@crm_scope("deal")
async def deal_version(request: Request) -> Response:
    return JSONResponse({"version": _deal_version(state(request).runtime.store, _deal_id(request))})


routes = [
    Route("/deals", open_from_crm),
    Route("/deals/{deal_id}", deal_page),
    Route("/deals/{deal_id}/version", deal_version),
    Route("/deals/{deal_id}/products", deal_products),
    Route("/deals/{deal_id}/live", deal_live),
]
