"""Status commands (submit, approve, delete, void, email) from the JSON API, never left hanging.

The command starts at once; when the accounting system answers within :data:`COMMAND_WAIT` seconds the answer
is the invoice (200). When it has to wait longer (behind the accounting API's rate limit, a slow backend) the
answer is 202 with ``Location: /api/commands/{id}``: the command goes on in the background and ``GET`` on that
URL says ``running``, then ``finished`` with the invoice, or ``failed`` with the error and its status code.
Runs are kept in memory (the last :data:`KEEP` of them) until the app restarts; the invoice itself is in the
store either way.
"""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import attrs
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from invoicebridge.core.errors import InvoiceBridgeError, NotFound
from invoicebridge.core.i18n import _
from invoicebridge.core.model import InvoiceRecord
from invoicebridge.core.status import Command

COMMAND_WAIT = 3.0  # seconds a request waits for the accounting system before answering 202
KEEP = 1000


@attrs.define
class CommandRun:
    id: str
    invoice_id: int
    command: str
    state: str = "running"  # running, finished, failed
    record: InvoiceRecord | None = None
    error: dict[str, Any] | None = None
    status_code: int = 0

    def as_json(self) -> dict[str, Any]:
        from .api import invoice_json

        out: dict[str, Any] = {"id": self.id, "invoice_id": self.invoice_id, "command": self.command, "state": self.state,
                               "links": {"self": f"/api/commands/{self.id}", "invoice": f"/api/invoices/{self.invoice_id}"}}
        if self.record is not None:
            out["invoice"] = invoice_json(self.record)
        if self.error is not None:
            out["error"], out["status_code"] = self.error, self.status_code
        return out


def _runs(app: Any) -> dict[str, CommandRun]:
    runs = getattr(app.state, "command_runs", None)
    if runs is None:
        runs = app.state.command_runs = {}
    return runs


def _finish(run: CommandRun, task: asyncio.Task) -> None:
    if task.cancelled():
        run.state, run.status_code = "failed", 503
        run.error = {"error": "Cancelled", "message": _("The command was stopped (the app is shutting down); send it again")}
        return
    exc = task.exception()
    if exc is None:
        run.state, run.record = "finished", task.result()
    elif isinstance(exc, InvoiceBridgeError):
        run.state, run.error, run.status_code = "failed", exc.to_dict(), exc.status_code
    else:
        run.state, run.status_code = "failed", 500
        run.error = {"error": "InternalError", "message": _("Something went wrong on our side; the details are in the server log")}


async def run(request: Request, invoice_id: int, command: Command) -> Response:
    """Start ``command`` and answer with the invoice, or 202 with where to follow it."""
    from .api import invoice_json

    app = request.app
    task = asyncio.ensure_future(app.state.pipeline.command(invoice_id, command))
    app.state.background.add(task)
    task.add_done_callback(app.state.background.discard)
    done, _pending = await asyncio.wait({task}, timeout=getattr(app.state, "command_wait", COMMAND_WAIT))
    if done:
        return JSONResponse(invoice_json(task.result(), pipeline=app.state.pipeline))  # an error is raised here, and answered as usual
    runs = _runs(app)
    job = CommandRun(id=secrets.token_urlsafe(12), invoice_id=invoice_id, command=command.value)
    runs[job.id] = job
    while len(runs) > KEEP:
        runs.pop(next(iter(runs)))
    task.add_done_callback(lambda t: _finish(job, t))
    return JSONResponse(job.as_json(), status_code=202, headers={"Location": f"/api/commands/{job.id}"})


async def get_command(request: Request) -> Response:
    job = _runs(request.app).get(request.path_params["command_id"])
    if job is None:
        raise NotFound(_("No command %(id)s is known here (command runs are kept until the app restarts)") % {
            "id": repr(request.path_params["command_id"][:64])})
    return JSONResponse(job.as_json())
