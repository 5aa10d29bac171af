"""The Connections page: each backend's card, app credentials, connecting (OAuth or a token), checking and
disconnecting."""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from invoicebridge.core.errors import InvoiceBridgeError
from invoicebridge.core.model import Role
from invoicebridge.core.i18n import _, lazy_

from ..security import form_post, login_required
from .common import error_page, flash, render, state


def _connection_rows(request: Request) -> list[dict[str, Any]]:
    runtime = state(request).runtime
    rows = []
    for info in state(request).plugins.backends():
        conn = runtime.maybe_connection(info.role)
        mine = conn if conn is not None and conn.backend == info.name else None
        health = runtime.store.connection_health(mine.id) if mine else {}
        rows.append({"info": info, "connection": mine, "health": health,
                     "configured": bool(runtime.backend_config(info.name).get("client_id")),
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
    runtime = state(request).runtime
    conn = runtime.store.get_connection(int(request.path_params["connection_id"]))
    try:
        await state(request).plugins.disconnect(runtime, connection=conn)
    except InvoiceBridgeError as exc:
        flash(request, _("Disconnected here, but the remote side said: %(error)s") % {"error": exc.message}, "error")
    else:
        flash(request, _("%(connection)s disconnected.") % {"connection": conn.label or conn.backend})
    runtime.store.deactivate_connection(conn.id)
    runtime.store.audit("disconnected", lazy_("%(backend)s connection %(label)s disconnected", backend=conn.backend, label=conn.label))
    return RedirectResponse("/connections", status_code=303)


@form_post
async def save_credentials(request: Request) -> Response:
    backend = request.path_params["backend"]
    state(request).plugins.backend(backend)
    form = request.state.form
    runtime = state(request).runtime
    saved = runtime.store.get_app_secret("backend_config", {}) or {}
    values = saved.setdefault(backend, {})
    for key in ("client_id", "client_secret", "webhook_key", "jwt_secret", "webhook_user", "webhook_password"):
        value = str(form.get(key) or "").strip()
        if value:
            values[key] = value
    runtime.store.set_app_secret("backend_config", saved)
    runtime.config.setdefault(backend, {}).update(values)
    flash(request, _("%(backend)s app credentials saved (encrypted).") % {"backend": backend.title()})
    return RedirectResponse("/connections", status_code=303)


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(64)[:96]
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


@login_required
async def connect_start(request: Request) -> Response:
    backend = request.path_params["backend"]
    plugins = state(request).plugins
    info = plugins.backend(backend)
    runtime = state(request).runtime
    if not runtime.backend_config(backend).get("client_id"):
        # Never send the browser off with an empty client_id: the remote side would only show its own error page.
        return error_page(request, _("%(name)s cannot be connected yet: this installation's app credentials (client ID "
                                     "and secret) are not set. Add them on the Connections page under App credentials, or "
                                     "set them in the environment.") % {"name": info.label or backend}, 409)
    verifier, challenge = _pkce()
    oauth_state = secrets.token_urlsafe(24)
    request.session["oauth"] = {"backend": backend, "state": oauth_state, "verifier": verifier}
    url = await plugins.authorize_url(runtime, backend=backend, redirect_uri=_redirect_uri(request, backend), state=oauth_state,
                                      code_challenge=challenge, settings={})
    return RedirectResponse(url, status_code=303)


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


def _redirect_uri(request: Request, backend: str) -> str:
    return f"{state(request).config.public_url}/connect/{backend}/callback"


@login_required
async def connect_callback(request: Request) -> Response:
    backend = request.path_params["backend"]
    pending = request.session.pop("oauth", None)
    params = request.query_params
    if params.get("error"):
        return error_page(request, _("%(backend)s did not connect: %(error)s") % {
            "backend": backend.title(), "error": params.get("error_description") or params.get("error")}, 400)
    if not pending or pending.get("backend") != backend or not secrets.compare_digest(str(pending.get("state")), params.get("state", "")):
        state(request).runtime.store.audit("oauth_state_mismatch", lazy_("An OAuth callback for %(backend)s had a wrong or missing state",
                                                                          backend=backend))
        return error_page(request, _("This connection attempt is not the one we started (the OAuth state does not match). "
                                     "Start again from Connections."), 400)
    plugins = state(request).plugins
    runtime = state(request).runtime
    result = await plugins.complete_oauth(runtime, backend=backend, code=params.get("code", ""), redirect_uri=_redirect_uri(request, backend),
                                          code_verifier=pending["verifier"], settings={})
    info = plugins.backend(backend)
    if len(result.choices) > 1:
        # Keep the tokens server-side (sealed) until the organisation is chosen.
        runtime.store.set_app_secret(f"pending_connect_{backend}", {"secrets": dict(result.secrets), "settings": dict(result.settings), "label": result.label})
        request.session["connect_choices"] = {"backend": backend, "choices": [list(c) for c in result.choices]}
        return RedirectResponse("/connections", status_code=303)
    settings = dict(result.settings)
    if result.choices:
        settings.setdefault("tenant_id", result.choices[0][0])
        settings.setdefault("tenant_name", result.choices[0][1])
    return await _finish_connect(request, backend, info.role, result.label or settings.get("tenant_name", backend), settings, dict(result.secrets))


@form_post
async def connect_choose(request: Request) -> Response:
    backend = request.path_params["backend"]
    runtime = state(request).runtime
    pending = runtime.store.get_app_secret(f"pending_connect_{backend}")
    choices = (request.session.pop("connect_choices", None) or {}).get("choices", [])
    chosen = str(request.state.form.get("choice") or "")
    match = next((c for c in choices if c[0] == chosen), None)
    if not pending or match is None:
        return error_page(request, _("That organisation is not one offered by the connection; start again from Connections."), 400)
    runtime.store.set_app_secret(f"pending_connect_{backend}", None)
    settings = dict(pending["settings"], tenant_id=match[0], tenant_name=match[1])
    return await _finish_connect(request, backend, state(request).plugins.backend(backend).role, match[1], settings, pending["secrets"])


async def _finish_connect(request: Request, backend: str, role: Role, label: str, settings: dict, secrets_: dict) -> Response:
    runtime = state(request).runtime
    conn = runtime.store.add_connection(backend=backend, role=role, label=label, settings=settings, secrets=secrets_)
    try:
        health = await state(request).pipeline.check_connection(conn)
    except InvoiceBridgeError as exc:
        flash(request, _("Connected to %(label)s, but the check failed: %(error)s") % {"label": label, "error": exc.message}, "error")
        return RedirectResponse("/connections", status_code=303)
    if health.user is not None and not health.user.may_create:
        runtime.store.deactivate_connection(conn.id)
        runtime.store.audit("connect_refused", lazy_("%(backend)s user %(user)s has role %(role)s, which may not create invoices",
                                                     backend=backend, user=health.user.name, role=health.user.role))
        return error_page(request, health.detail or _("%(user)s has the %(role)s role in %(label)s, which may not create invoices; "
                                                      "connect as a user who may.") % {
            "user": health.user.name, "role": health.user.role or _("unknown"), "label": label}, 403)
    try:
        await state(request).plugins.connected(runtime, connection=conn, public_url=state(request).config.public_url)
    except InvoiceBridgeError as exc:
        flash(request, _("Connected to %(label)s, but webhooks could not be registered: %(error)s") % {"label": label, "error": exc.message},
              "error")
    runtime.store.audit("connected", lazy_("Connected %(backend)s: %(label)s as %(user)s (%(role)s)", backend=backend, label=label,
                                           user=health.user.name, role=health.user.role) if health.user else
                        lazy_("Connected %(backend)s: %(label)s", backend=backend, label=label))
    flash(request, _("Connected to %(label)s.") % {"label": label})
    return RedirectResponse("/connections", status_code=303)


@form_post
async def connect_token(request: Request) -> Response:
    backend = request.path_params["backend"]
    info = state(request).plugins.backend(backend)
    token = str(request.state.form.get("token") or "").strip()
    if not token:
        flash(request, _("Paste the API token first."), "error")
        return RedirectResponse("/connections", status_code=303)
    result = await state(request).plugins.connect_with_token(state(request).runtime, backend=backend, token=token, settings={})
    return await _finish_connect(request, backend, info.role, result.label or backend.title(), dict(result.settings), dict(result.secrets))
