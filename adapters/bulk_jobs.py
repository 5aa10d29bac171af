"""Bulk runs started from the API or the web page: run in the background, polled for progress and results.

``POST /api/bulk`` with ``{"deal_ids": [...]}`` or a query (``won_from``, ``won_to``, ``pipeline_id``,
``stage_id``), optional ``dry_run`` and ``run_id``, answers 202 with the job; ``GET /api/bulk/{run_id}`` gives
``done``/``total`` and, once finished, one result per deal. Jobs live in memory; what they created is in the
store (operations and invoices), so re-posting the same ``run_id`` after a restart resumes without duplicates.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
import secrets
from typing import Any

import attrs
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from invoicebridge.core.errors import InvoiceBridgeError, NotFound
from invoicebridge.core.model import DealQuery
from invoicebridge.core.crm_ids import as_text, id_rule
from invoicebridge.core.i18n import _
from invoicebridge.core.pipeline import BulkItem

log = logging.getLogger("invoicebridge.bulk")


class BadBulkRequest(InvoiceBridgeError):
    status_code = 400


@attrs.define
class BulkJob:
    run_id: str
    dry_run: bool
    total: int = 0
    done: int = 0
    state: str = "running"  # running, finished, failed
    error: str = ""
    items: list[BulkItem] = attrs.field(factory=list)
    task: Any = None

    def as_json(self, *, with_items: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {"run_id": self.run_id, "dry_run": self.dry_run, "state": self.state, "done": self.done,
                               "total": self.total, "error": self.error, "links": {"self": f"/api/bulk/{self.run_id}"}}
        if self.state != "running":
            out["summary"] = {"ok": sum(1 for i in self.items if not i.error),
                              "failed": sum(1 for i in self.items if i.error),
                              "retryable": sum(1 for i in self.items if i.error and i.retryable)}
        if with_items and self.state != "running":
            out["items"] = [item_json(i) for i in self.items]
        return out


def item_json(item: BulkItem) -> dict[str, Any]:
    out: dict[str, Any] = {"deal_id": item.deal_id, "operation_key": item.operation_key, "ok": not item.error,
                           "error": item.error, "retryable": item.retryable, "problems": list(item.problems)}
    if item.record is not None:
        r = item.record
        out["invoice"] = {"id": r.id, "number": r.number, "status": r.status.value, "total": str(r.total),
                          "currency": r.currency}
    if item.draft is not None:
        d = item.draft
        out["preview"] = {"customer": d.customer.name, "total": str(d.totals.total), "currency": d.currency,
                          "date": d.date.isoformat() if d.date else None, "lines": len(d.line_items)}
    return out


def _jobs(app: Any) -> dict[str, BulkJob]:
    jobs = getattr(app.state, "bulk_jobs", None)
    if jobs is None:
        jobs = app.state.bulk_jobs = {}
    return jobs


def _date(value: Any, name: str) -> dt.date | None:
    if value in (None, ""):
        return None
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise BadBulkRequest(_("%(field)s must be a date as YYYY-MM-DD, got %(value)r") % {"field": name, "value": value}) from None


RUN_ID = re.compile(r"[A-Za-z0-9._~-]{1,100}")  # a run id is part of URLs (/api/bulk/{run_id}, /bulk/{run_id})
MAX_DEALS = 10_000


async def run_deals(pipeline: Any, ids: list[str], *, run_id: str, dry_run: bool, source: str = "bulk",
                    progress: Any = None) -> list[BulkItem]:
    """Run ``create_many`` for the ids the CRM's id rule accepts; the others get a refused result each (with the
    reason) in their place, so one bad id does not stop the run."""
    rule = id_rule(pipeline.runtime, pipeline.plugins)
    ids = list(dict.fromkeys(str(i) for i in ids))
    refused = {i: problem for i in ids if (problem := rule.problem(i, _("Deal id")))}
    good = [i for i in ids if i not in refused]

    def moved(done: int, total: int) -> None:
        if progress:
            progress(done + len(refused), len(ids))

    items = await pipeline.create_many(good, run_id=run_id, dry_run=dry_run, source=source, progress=moved) if good else []
    by_id = {item.deal_id: item for item in items}
    return [by_id[i] if i in by_id else BulkItem(deal_id=i, operation_key="", error=refused[i]) for i in ids]


def _query_id(body: dict[str, Any], name: str, rule: Any) -> str:
    value = body.get(name)
    if value in (None, ""):
        return ""
    problem = rule.problem(value, name)
    if problem:
        raise BadBulkRequest(problem)
    return as_text(value) or ""


async def start(app: Any, body: dict[str, Any]) -> BulkJob:
    """Resolve the deals (ids, or won deals matching the query), then run the job in the background."""
    unknown = set(body) - {"deal_ids", "won_from", "won_to", "pipeline_id", "stage_id", "dry_run", "run_id"}
    if unknown:
        raise BadBulkRequest(_("Unknown fields: %(fields)s") % {"fields": ", ".join(sorted(unknown))})
    pipeline = app.state.pipeline
    rule = id_rule(pipeline.runtime, pipeline.plugins)
    ids = body.get("deal_ids") or []
    if not isinstance(ids, list) or not all(isinstance(i, (str, int)) and not isinstance(i, bool)
                                            or isinstance(i, float) and i.is_integer() for i in ids):
        raise BadBulkRequest(_("deal_ids must be a list of deal ids"))
    if len(ids) > MAX_DEALS:
        raise BadBulkRequest(_("deal_ids has %(n)s ids; one run takes at most %(max)s") % {"n": len(ids), "max": MAX_DEALS})
    if body.get("dry_run") is not None and not isinstance(body.get("dry_run"), bool):
        raise BadBulkRequest(_("dry_run must be true or false, got %(value)r") % {"value": body.get("dry_run")})
    raw_run_id = body.get("run_id")
    if raw_run_id is not None and not (isinstance(raw_run_id, str) and RUN_ID.fullmatch(raw_run_id)):
        raise BadBulkRequest(_("run_id must be 1 to 100 letters, digits or - _ . ~, got %(value)s") % {"value": repr(raw_run_id)[:80]})
    if not ids:
        query = DealQuery(status="won", won_from=_date(body.get("won_from"), "won_from"),
                          won_to=_date(body.get("won_to"), "won_to"), pipeline_id=_query_id(body, "pipeline_id", rule),
                          stage_id=_query_id(body, "stage_id", rule))
        ids = await pipeline.plugins.find_deals(pipeline.runtime, connection=pipeline.crm, query=query)
    dry_run = bool(body.get("dry_run"))
    # the default is unique: two runs started in one second must not share a run (nor its job)
    run_id = raw_run_id or f"bulk-{pipeline.runtime.now():%Y%m%d%H%M%S}-{secrets.token_hex(3)}"
    jobs = _jobs(app)
    running = jobs.get(run_id)
    if running is not None and running.state == "running":
        return running
    ids = list(dict.fromkeys(as_text(i) or str(i) for i in ids))
    job = jobs[run_id] = BulkJob(run_id=run_id, dry_run=dry_run, total=len(ids))

    def progress(done: int, total: int) -> None:
        job.done, job.total = done, total

    async def work() -> None:
        try:
            job.items = await run_deals(pipeline, ids, run_id=run_id, dry_run=dry_run, progress=progress)
            job.done, job.state = job.total, "finished"
        except InvoiceBridgeError as exc:
            job.state, job.error = "failed", str(exc)
        except Exception as exc:  # shown on the job; the operations already written finish on a re-run
            log.exception("bulk run %s failed", run_id)
            job.state, job.error = "failed", f"{type(exc).__name__}: {exc}"

    job.task = asyncio.create_task(work())
    app.state.background.add(job.task)
    job.task.add_done_callback(app.state.background.discard)
    return job


def get(app: Any, run_id: str) -> BulkJob:
    job = _jobs(app).get(run_id)
    if job is None:
        raise NotFound(_("No bulk run '%(run)s' is known here (runs are kept until the app restarts)") % {"run": str(run_id)[:80]})
    return job


async def post_bulk(request: Request) -> Response:
    from .api import _json_object, validate_body

    job = await start(request.app, validate_body(await _json_object(request), "BulkRequest"))
    return JSONResponse(job.as_json(), status_code=202)


async def get_bulk(request: Request) -> Response:
    return JSONResponse(get(request.app, request.path_params["run_id"]).as_json())
