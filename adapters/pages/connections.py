"""The Connections page: each backend's card, app credentials, connecting (OAuth or a token), checking and
disconnecting."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from invoicebridge.core.connect import ConnectFlow, ConnectProblem, Outcome, ReplaceNeeded
from invoicebridge.core.errors import InvoiceBridgeError
from invoicebridge.core.i18n import _

from ..security import form_post, login_required
from .common import error_page, flash, render, state


def _connection_rows(request: Request) -> list[dict[str, Any]]:
    runtime = state(request).runtime
    rows = []
    for info in state(request).plugins.backends():
        conn = runtime.maybe_connection(info.role)
        mine = conn if conn is not None and conn.backend == info.name else None
        health = runtime.store.connection_health(mine.id) if mine else {}
        config = runtime.backend_config(info.name)
        rows.append({"info": info, "connection": mine, "health": health, "configured": bool(config.get("client_id")),
                     # the app credentials stay offered until the webhook secret is set too
                     "webhook_secret_missing": bool(info.webhook_secret and info.capabilities.webhooks
                                                    and config.get("client_id") and not config.get(info.webhook_secret)),
                     "failing": bool(mine and (health.get("status") == "error" or health.get("last_error")))})
    return rows


@login_required
async def connections(request: Request) -> Response:
    rows = _connection_rows(request)
    reconnecting = request.session.pop("reconnect", None)
    for row in rows:
        row["failing"] = row["failing"] or (row["connection"] is not None and row["info"].name == reconnecting)
    return render(request, "connections.html", {"rows": rows, "public_url": state(request).config.public_url,
                                                "choices": request.session.get("connect_choices")})


@form_post
async def check_connection(request: Request) -> Response:
    runtime = state(request).runtime
    conn = runtime.store.get_connection(int(request.path_params["connection_id"]))
    try:
        health = await state(request).pipeline.check_connection(conn)
    except InvoiceBridgeError as exc:
        flash(request, _("%(connection)s: %(error)s") % {"connection": conn.label or conn.backend, "error": exc}, "error")
    else:
        values = {"connection": conn.label or conn.backend, "detail": health.detail,
                  "user": health.user.name if health.user else "", "role": health.user.role if health.user else ""}
        if health.ok:
            text = _("%(connection)s is working as %(user)s (%(role)s).") if health.user else _("%(connection)s is working.")
        else:
            text = _("%(connection)s is not working: %(detail)s (as %(user)s, %(role)s).") if health.user else \
                _("%(connection)s is not working: %(detail)s.")
        flash(request, text % values, "ok" if health.ok else "error")
    return RedirectResponse("/connections", status_code=303)


@form_post
async def disconnect(request: Request) -> Response:
    conn = state(request).runtime.store.get_connection(int(request.path_params["connection_id"]))
    warning = await connect_flow(request).disconnect(conn)
    if warning:
        flash(request, warning, "error")
    else:
        flash(request, _("%(connection)s disconnected.") % {"connection": conn.label or conn.backend})
    return RedirectResponse("/connections", status_code=303)


@form_post
async def save_credentials(request: Request) -> Response:
    backend = request.path_params["backend"]
    info = state(request).plugins.backend(backend)
    form = request.state.form
    runtime = state(request).runtime
    saved = runtime.store.get_app_secret("backend_config", {}) or {}
    values = saved.setdefault(backend, {})
    keys = ("client_id", "client_secret", "webhook_key", "jwt_secret", "webhook_user", "webhook_password")
    for key in dict.fromkeys((*keys, *((info.webhook_secret,) if info.webhook_secret else ()))):  # empty: kept
        value = str(form.get(key) or "").strip()
        if value:
            values[key] = value
    await runtime.store.writes.set_app_secret("backend_config", saved)
    runtime.config.setdefault(backend, {}).update(values)
    flash(request, _("%(backend)s app credentials saved (encrypted).") % {"backend": request.app.state.plugins.label(backend)})
    return RedirectResponse("/connections", status_code=303)


def connect_flow(request: Request) -> ConnectFlow:
    """The connect use case (core) for this app: its plugins, the pipeline's check, our public address."""
    app = state(request)
    return ConnectFlow(app.runtime, app.plugins, app.pipeline.check_connection, app.config.public_url)


def _wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


def _confirm_replace(request: Request, exc: ReplaceNeeded, action: str, *, token: bool = False) -> Response:
    """Which connection connecting would disconnect, with Cancel and Continue (a JSON client gets the 409)."""
    if _wants_json(request):
        raise exc
    return render(request, "connect_replace.html", {"label": exc.label, "current": exc.current,
                                                    "current_label": exc.current_label, "account": exc.account, "action": action,
                                                    "token": token})


async def _start(request: Request, backend: str, *, replace: bool) -> Response:
    try:
        started = await connect_flow(request).begin(backend, replace=replace)
    except ReplaceNeeded as exc:
        return _confirm_replace(request, exc, f"/connect/{backend}/replace")
    except ConnectProblem as exc:
        return error_page(request, exc.message, exc.status_code)
    request.session["oauth"] = started.pending
    return RedirectResponse(started.url, status_code=303)


@login_required
async def connect_start(request: Request) -> Response:
    """Start connecting. While another backend holds the role, a page asks first (Continue posts to
    :func:`connect_replace`); a JSON client gets 409 unless it sends ``replace=true``."""
    replace = _wants_json(request) and request.query_params.get("replace") == "true"
    return await _start(request, request.path_params["backend"], replace=replace)


@form_post
async def connect_replace(request: Request) -> Response:
    """Continue on the confirmation page: connect, replacing the connected backend of the same role."""
    return await _start(request, request.path_params["backend"], replace=request.state.form.get("replace") == "true")


@login_required
async def reconnect(request: Request) -> Response:
    """Reconnect a backend: through OAuth again when it was connected that way and the app credentials are set,
    otherwise on the Connections page, where its card offers a new token (or the credentials) first."""
    backend = request.path_params["backend"]
    info = state(request).plugins.backend(backend)
    runtime = state(request).runtime
    conn = runtime.maybe_connection(info.role)
    mine = conn if conn is not None and conn.backend == backend else None
    by_token = mine is not None and mine.settings.get("auth") == "token"
    if "oauth" in info.auth_methods and runtime.backend_config(backend).get("client_id") and not by_token:
        return RedirectResponse(f"/connect/{backend}", status_code=303)
    request.session["reconnect"] = backend  # the card shows its ways to connect again
    return RedirectResponse(f"/connections#backend-{backend}", status_code=303)


@login_required
async def connect_callback(request: Request) -> Response:
    backend = request.path_params["backend"]
    pending = request.session.pop("oauth", None)
    try:
        outcome = await connect_flow(request).complete(backend, pending, request.query_params)
    except ConnectProblem as exc:
        return error_page(request, exc.message, exc.status_code)
    if outcome.choices:  # the organisation is chosen on the Connections page
        request.session["connect_choices"] = {"backend": backend, "choices": [list(c) for c in outcome.choices]}
        return RedirectResponse("/connections", status_code=303)
    return _connected(request, outcome)


@form_post
async def connect_choose(request: Request) -> Response:
    backend = request.path_params["backend"]
    request.session.pop("connect_choices", None)
    try:
        outcome = await connect_flow(request).choose(backend, str(request.state.form.get("choice") or ""))
    except ConnectProblem as exc:
        return error_page(request, exc.message, exc.status_code)
    return _connected(request, outcome)


@form_post
async def connect_token(request: Request) -> Response:
    backend = request.path_params["backend"]
    token = str(request.state.form.get("token") or "").strip()
    if not token:
        flash(request, _("Paste the API token first."), "error")
        return RedirectResponse("/connections", status_code=303)
    try:
        outcome = await connect_flow(request).with_token(backend, token,
                                                          replace=request.state.form.get("replace") == "true")
    except ReplaceNeeded as exc:  # the token is asked for again on the page, never written into it
        return _confirm_replace(request, exc, f"/connect/{backend}/token", token=True)
    except ConnectProblem as exc:
        return error_page(request, exc.message, exc.status_code)
    return _connected(request, outcome)


def _connected(request: Request, outcome: Outcome) -> Response:
    if outcome.warning:
        flash(request, outcome.warning, "error")
    else:
        flash(request, _("Connected to %(label)s.") % {"label": outcome.label})
    return RedirectResponse("/connections", status_code=303)


routes = [
    Route("/connections", connections),
    Route("/connections/{connection_id:int}/check", check_connection, methods=["POST"]),
    Route("/connections/{connection_id:int}/disconnect", disconnect, methods=["POST"]),
    Route("/connect/{backend}/credentials", save_credentials, methods=["POST"]),
    Route("/connect/{backend}/token", connect_token, methods=["POST"]),
    Route("/connect/{backend}/replace", connect_replace, methods=["POST"]),
    Route("/connect/{backend}/choose", connect_choose, methods=["POST"]),
    Route("/connect/{backend}/callback", connect_callback),
    Route("/connect/{backend}", connect_start),
    Route("/reconnect/{backend}", reconnect),
]
