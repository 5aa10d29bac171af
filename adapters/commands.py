"""Status commands (submit, approve, delete, void, email) from the JSON API, never left hanging.

The command is written to the outbox, then started at once; when the accounting system answers within
:data:`COMMAND_WAIT` seconds the answer is the invoice (200). When it has to wait longer (behind the accounting
API's rate limit, a slow backend), or failed in a way that may pass (it is sent again by the next recovery), the
answer is 202 with ``Location: /api/commands/{id}``: the command goes on in
the background and ``GET`` on that URL says ``running``, then ``finished`` with the invoice, or ``failed`` with
the error and its status code. The run is a row of the store's ``jobs`` and the command an outbox row, so a
restart neither loses the run nor the command: the next recovery sends it (once) and the run shows its result.
"""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from invoicebridge.core import workers
from invoicebridge.core.errors import BackendError, InvoiceBridgeError, NotFound
from invoicebridge.core.i18n import _
from invoicebridge.core.status import Command

COMMAND_WAIT = 3.0  # seconds a request waits for the accounting system before answering 202
KIND = "command"


def run_json(store: Any, job: dict[str, Any]) -> dict[str, Any]:
    """The run as the API shows it; a run still marked running follows its outbox row (finished by a recovery
    after a restart, or failed for good)."""
    from .api import invoice_json

    request = job["request"]
    out: dict[str, Any] = {"id": job["id"], "invoice_id": request["invoice_id"], "command": request["command"],
                           "state": job["state"], "links": {"self": f"/api/commands/{job['id']}",
                                                            "invoice": f"/api/invoices/{request['invoice_id']}"}}
    error, status_code = job["error"], job["status_code"]
    if job["state"] == "running" and request["operation"]:
        op = store.get_operation(request["operation"])
        if op["state"] == "done":
            out["state"] = "finished"
        elif op["state"] in ("dead", "cancelled"):
            out["state"], status_code = "failed", status_code or 502
            error = error or {"error": "CommandFailed", "message": _("The command failed: %(error)s") % {"error": op["last_error"]}}
        elif op["last_error"]:
            out["last_error"] = op["last_error"]  # a failure that may pass: it is tried again
    if out["state"] == "finished":
        out["invoice"] = invoice_json(store.get_invoice(request["invoice_id"]))
    if out["state"] == "failed":
        out["error"], out["status_code"] = error, status_code
    return out


async def _finish(store: Any, job_id: str, task: asyncio.Task) -> None:
    """Once the command's task ends, record how (awaited on the store's writer thread)."""
    await asyncio.wait({task})
    if task.cancelled():
        return  # the app is shutting down: the command's outbox row is finished by the next start's recovery
    exc = task.exception()
    if exc is None:
        await store.writes.update_job(job_id, state="finished", done=1)
    elif isinstance(exc, BackendError) and exc.retryable:
        await store.writes.update_job(job_id, error=exc.to_dict(), status_code=exc.status_code)  # still queued: running
    elif isinstance(exc, InvoiceBridgeError):
        await store.writes.update_job(job_id, state="failed", error=exc.to_dict(), status_code=exc.status_code)
    else:
        await store.writes.update_job(job_id, state="failed", status_code=500, error={
            "error": "InternalError", "message": _("Something went wrong on our side; the details are in the server log")})


async def run(request: Request, invoice_id: int, command: Command) -> Response:
    """Queue ``command`` and answer with the invoice, or 202 with where to follow it."""
    from .api import invoice_json

    app = request.app
    pipeline = app.state.pipeline
    store = pipeline.store
    record = store.get_invoice(invoice_id)
    job: dict[str, Any] = {"id": secrets.token_urlsafe(12), "operation": ""}

    async def queue_and_send() -> Any:
        job["operation"] = await pipeline.queue_command(record, command)  # refused here, before anything is sent
        if job.get("started"):  # answered 202 while queueing waited (approve asks who the user is first)
            await store.writes.update_job(job["id"], request={"invoice_id": invoice_id, "command": command.value, "operation": job["operation"]})
        return await pipeline.send_command(job["operation"])

    task = asyncio.ensure_future(queue_and_send())
    app.state.background.add(task)
    task.add_done_callback(app.state.background.discard)
    done, _pending = await asyncio.wait({task}, timeout=getattr(app.state, "command_wait", COMMAND_WAIT))
    if done:
        exc = task.exception()
        if not (isinstance(exc, BackendError) and exc.retryable and job["operation"]):
            return JSONResponse(invoice_json(task.result(), pipeline=app.state.pipeline))  # an error is raised here, and answered as usual
        # a failure that may pass (a 429, a 5xx): the command stays queued and is sent again; follow it
    job_id, job["started"] = job["id"], True
    await store.writes.start_job(job_id, kind=KIND, request={"invoice_id": invoice_id, "command": command.value, "operation": job["operation"]},
                    total=1, holder=workers.this_process())
    finisher = asyncio.ensure_future(_finish(store, job_id, task))  # part of the background: drained at shutdown
    app.state.background.add(finisher)
    finisher.add_done_callback(app.state.background.discard)
    return JSONResponse(run_json(store, store.get_job(job_id, kind=KIND)), status_code=202,
                        headers={"Location": f"/api/commands/{job_id}"})


async def get_command(request: Request) -> Response:
    store = request.app.state.pipeline.store
    job = store.get_job(request.path_params["command_id"], kind=KIND)
    if job is None:
        raise NotFound(_("No command %(id)s is known here") % {"id": repr(request.path_params["command_id"][:64])})
    return JSONResponse(run_json(store, job))
