"""Webhook receivers: ``POST /webhooks/{backend}`` for any installed backend that takes them (capability ``webhooks``).

The plugin verifies the delivery (an HMAC signature, basic auth …). A forged delivery gets 401
and changes nothing. A good one is answered at once (senders want 200, often with an empty body, within seconds) and
processed after; a delivery lost in processing is caught by the next reconciliation.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from invoicebridge.core.errors import InvoiceBridgeError, WebhookRejected
from invoicebridge.core.i18n import _, lazy_
from invoicebridge.core.model import Connection, Role, WebhookRequest



async def receive(request: Request) -> Response:
    backend = request.path_params["backend"]
    plugins = request.app.state.plugins
    pipeline = request.app.state.pipeline
    runtime = request.app.state.runtime
    try:
        info = plugins.backend(backend)
        if not info.capabilities.webhooks:  # it sends none: nothing here may claim to come from it
            raise InvoiceBridgeError("no webhooks")
    except InvoiceBridgeError:
        return JSONResponse({"error": "NotFound", "message": _("No webhook receiver for '%(backend)s'") % {"backend": backend[:40]}},
                            status_code=404)
    body = await request.body()  # its size is limited while it streams in (middleware.run_limited, in web_stack)
    hook = WebhookRequest(body=body, headers=dict(request.headers))
    conn = runtime.maybe_connection(info.role)
    if conn is None or conn.backend != backend:
        return await _unconnected(request, backend, info, hook)
    from .app import run_in_background

    try:
        if info.role is Role.ACCOUNTING:
            ids = await pipeline.accounting_webhook(hook)
            if ids:
                run_in_background(request, pipeline.sync_invoices(ids, source="webhook"))
        else:
            won = await pipeline.crm_webhook(hook)
            for deal_id in won:
                run_in_background(request, pipeline.deal_won(deal_id))
    except WebhookRejected as exc:
        await runtime.store.writes.audit("webhook_rejected", lazy_("Rejected a %(backend)s webhook: %(error)s", backend=backend, error=exc.message))
        return Response(status_code=401)
    except InvoiceBridgeError as exc:
        return _refused(exc)
    return Response(status_code=200)


async def _unconnected(request: Request, backend: str, info, hook: WebhookRequest) -> Response:
    """A delivery before any account is connected: a sender may check a new webhook URL ("intent to receive") as
    soon as it is saved in its developer portal, with the app's webhook key. Verify it the same way and answer, but
    act on nothing: there is no connection to act for."""
    runtime = request.app.state.runtime
    placeholder = Connection(id=0, backend=backend, role=info.role, label="not connected")
    plugins = request.app.state.plugins
    verify = plugins.accounting_verify_webhook if info.role is Role.ACCOUNTING else plugins.crm_verify_webhook
    try:
        await verify(runtime, connection=placeholder, request=hook)
    except WebhookRejected:
        return Response(status_code=401)
    except InvoiceBridgeError as exc:
        return _refused(exc)
    return Response(status_code=200)


def _refused(exc: InvoiceBridgeError) -> Response:
    """A delivery we could not take (not a forgery): a 4xx with the reason, so the sender shows it."""
    return JSONResponse({"error": type(exc).__name__, "message": exc.message},
                        status_code=exc.status_code if exc.status_code < 500 else 400)


def routes() -> list[Route]:
    return [Route("/webhooks/{backend}", receive, methods=["POST"], name="webhook")]
