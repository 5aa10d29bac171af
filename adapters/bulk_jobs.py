"""Bulk runs started from the API or the web page: run in the background, polled for progress and results.

``POST /api/bulk`` with ``{"deal_ids": [...]}`` or a query (``won_from``, ``won_to``, ``pipeline_id``,
``stage_id``), optional ``dry_run`` and ``run_id``, answers 202 with the job; ``GET /api/bulk/{run_id}`` gives
``done``/``total`` and, once finished, one result per deal. A run is a row of the store's ``jobs`` (its deal ids,
progress, results, and the process running it), and what it created is in the store too (operations and
invoices): after a restart the run is resumed (:func:`resume`; its operations' keys keep it exactly once) or, if it
cannot be, marked failed with the reason; re-posting the same ``run_id`` resumes it too.
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

from invoicebridge.core import workers
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
    """A bulk run as stored (``items`` are :func:`item_json` results once it has ended)."""

    run_id: str
    dry_run: bool
    total: int = 0
    done: int = 0
    state: str = "running"  # running, finished, failed
    error: str = ""
    items: list[dict[str, Any]] = attrs.field(factory=list)

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> "BulkJob":
        return cls(run_id=row["id"], dry_run=bool(row["request"].get("dry_run")), total=row["total"], done=row["done"],
                   state=row["state"], error=row["error"] or "", items=row["result"] or [])

    def as_json(self, *, with_items: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {"run_id": self.run_id, "dry_run": self.dry_run, "state": self.state, "done": self.done,
                               "total": self.total, "error": self.error, "links": {"self": f"/api/bulk/{self.run_id}"}}
        if self.state != "running":
            out["summary"] = {"ok": sum(1 for i in self.items if i["ok"]),
                              "failed": sum(1 for i in self.items if not i["ok"]),
                              "retryable": sum(1 for i in self.items if not i["ok"] and i["retryable"])}
        if with_items and self.state != "running":
            out["items"] = self.items
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


KIND = "bulk"


def _tasks(app: Any) -> dict[str, asyncio.Task]:
    """The runs this process is working on (by run id)."""
    tasks = getattr(app.state, "bulk_tasks", None)
    if tasks is None:
        tasks = app.state.bulk_tasks = {}
    return tasks


def recent(app: Any, limit: int = 20) -> list[BulkJob]:
    return [BulkJob.from_row(row) for row in app.state.pipeline.store.list_jobs(KIND, limit=limit)]


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
    row = pipeline.store.get_job(run_id, kind=KIND)
    if row is not None and row["state"] == "running" and (run_id in _tasks(app) or _held_elsewhere(row)):
        return BulkJob.from_row(row)
    ids = list(dict.fromkeys(as_text(i) or str(i) for i in ids))
    await pipeline.store.writes.start_job(run_id, kind=KIND, request={"deal_ids": ids, "dry_run": dry_run}, total=len(ids),
                             holder=workers.this_process())
    _work(app, run_id, ids, dry_run)
    return BulkJob.from_row(pipeline.store.get_job(run_id, kind=KIND))


def _held_elsewhere(row: dict[str, Any]) -> bool:
    """Another process (still alive) is running it."""
    return row["holder"] != workers.this_process() and not workers.is_dead(row["holder"])


def _work(app: Any, run_id: str, ids: list[str], dry_run: bool) -> None:
    pipeline = app.state.pipeline
    store = pipeline.store

    def progress(done: int, total: int) -> None:
        store.note_progress(run_id, done=done, total=total)  # off the loop, in order before the final state

    async def work() -> None:
        try:
            items = await run_deals(pipeline, ids, run_id=run_id, dry_run=dry_run, progress=progress)
            await store.writes.update_job(run_id, state="finished", done=len(ids), result=[item_json(i) for i in items])
        except InvoiceBridgeError as exc:
            await store.writes.update_job(run_id, state="failed", error=str(exc))
        except Exception as exc:  # shown on the job; the operations already written finish on a re-run
            log.exception("bulk run %s failed", run_id)
            await store.writes.update_job(run_id, state="failed", error=f"{type(exc).__name__}: {exc}")
        finally:
            _tasks(app).pop(run_id, None)

    task = _tasks(app)[run_id] = asyncio.create_task(work())
    app.state.background.add(task)
    task.add_done_callback(app.state.background.discard)


def resume(app: Any) -> list[str]:
    """After a restart: take up the runs whose process is gone (their operations' keys keep them exactly
    once); returns their run ids. A run that cannot go on says why on its page (failed, with the reason)."""
    store = app.state.pipeline.store
    resumed = []
    for row in store.list_jobs(KIND, states=("running",), limit=1000):
        if row["id"] in _tasks(app) or _held_elsewhere(row):
            continue
        store.update_job(row["id"], holder=workers.this_process())
        _work(app, row["id"], list(row["request"].get("deal_ids") or []), bool(row["request"].get("dry_run")))
        resumed.append(row["id"])
    return resumed


def get(app: Any, run_id: str) -> BulkJob:
    row = app.state.pipeline.store.get_job(run_id, kind=KIND)
    if row is None:
        raise NotFound(_("No bulk run '%(run)s' is known here") % {"run": str(run_id)[:80]})
    return BulkJob.from_row(row)


async def post_bulk(request: Request) -> Response:
    from .api import _json_object, validate_body

    job = await start(request.app, validate_body(await _json_object(request), "BulkRequest"))
    return JSONResponse(job.as_json(), status_code=202)


async def get_bulk(request: Request) -> Response:
    return JSONResponse(get(request.app, request.path_params["run_id"]).as_json())
