"""Finding a deal: a search, a pasted deal link or a deal number."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from invoicebridge.core.errors import NotConnected
from invoicebridge.core.i18n import _

from ..security import login_required
from .common import error_page, render, state


@login_required
async def search_page(request: Request) -> Response:
    """Deals matching ``q``; a pasted deal link or a deal number goes straight to that deal."""
    query = str(request.query_params.get("q") or "")
    try:
        found = await state(request).pipeline.search_deals(query)
    except NotConnected as exc:  # no CRM connected, or its plugin cannot search
        found = None
        problem = exc.message
    else:
        problem = found.problem
    if found is not None and found.open_id:
        if not found.open_id.isalnum() or len(found.open_id) > 64:
            return error_page(request, _("There is no deal %(id)s") % {"id": repr(found.open_id[:64])}, 404)
        return RedirectResponse(f"/deals/{found.open_id}", status_code=303)
    return render(request, "search.html", {"query": " ".join(query.split())[:300], "problem": problem,
                                           "deals": list(found.deals) if found else []},
                  status_code=422 if problem and query.strip() else 200)


routes = [
    Route("/search", search_page),
]
