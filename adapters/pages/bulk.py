"""Bulk runs: the form, a run's page and its status poll."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from invoicebridge.core.errors import InvoiceBridgeError

from ..security import form_post, login_required
from .common import render, state


@login_required
async def bulk_page(request: Request) -> Response:
    from .. import bulk_jobs

    return render(request, "bulk.html", {"jobs": bulk_jobs.recent(request.app), "today": state(request).runtime.today()})


@form_post
async def bulk_start(request: Request) -> Response:
    from .. import bulk_jobs

    form = request.state.form
    ids = [i for i in str(form.get("deal_ids") or "").replace(",", " ").split() if i]
    body: dict[str, Any] = {"dry_run": form.get("dry_run") == "on"}
    if ids:
        body["deal_ids"] = ids
    for name in ("won_from", "won_to", "pipeline_id", "stage_id", "run_id"):
        value = str(form.get(name) or "").strip()
        if value:
            body[name] = value
    try:
        job = await bulk_jobs.start(request.app, body)
    except InvoiceBridgeError as exc:  # shown again with the message and what was typed
        return render(request, "bulk.html", {"jobs": bulk_jobs.recent(request.app), "today": state(request).runtime.today(), "form": form,
                                             "error": exc.message},
                      status_code=exc.status_code if exc.status_code < 500 else 502)
    return RedirectResponse(f"/bulk/{job.run_id}", status_code=303)


@login_required
async def bulk_run(request: Request) -> Response:
    from .. import bulk_jobs

    job = bulk_jobs.get(request.app, request.path_params["run_id"])
    items = job.items if job.state != "running" else []
    return render(request, "bulk_run.html", {"job": job, "items": items})


@login_required
async def bulk_run_status(request: Request) -> Response:
    from .. import bulk_jobs

    return JSONResponse(bulk_jobs.get(request.app, request.path_params["run_id"]).as_json(with_items=False))


routes = [
    Route("/bulk", bulk_page),
    Route("/bulk", bulk_start, methods=["POST"]),
    Route("/bulk/{run_id}", bulk_run),
    Route("/bulk/{run_id}/status", bulk_run_status),
]
