"""The admin's account, on the settings page: change the password, sign out everywhere, and the API keys
(create, list with label, creation and last use, revoke after a confirmation). Admin only: a CRM user's session
gets a 403 here."""

from __future__ import annotations

import datetime as dt
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from invoicebridge.core.errors import NotFound
from invoicebridge.core.i18n import _, lazy_

from .security import ADMIN, MIN_PASSWORD, check_password_async, form_post, hash_password_async, login_required
from .sessions import session_id

MAX_LABEL = 80


def _when(value: Any) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def context(request: Request) -> dict[str, Any]:
    """What the settings page's account section shows."""
    store = request.app.state.runtime.store
    keys = [dict(k, created=_when(k["created_at"]), last_used=_when(k["last_used_at"])) for k in store.list_api_keys()]
    return {"api_keys": keys, "admin_sessions": store.count_sessions(user=ADMIN),
            "password_from_env": bool(request.app.state.config.admin_password)}


def _back(request: Request, message: str, kind: str = "ok") -> Response:
    from .pages import flash

    flash(request, message, kind)
    return RedirectResponse("/settings#account", status_code=303)


@form_post
async def change_password(request: Request) -> Response:
    form = request.state.form
    store = request.app.state.runtime.store
    current, new = str(form.get("current_password") or ""), str(form.get("new_password") or "")
    if not await check_password_async(current, store.get_app_secret("admin_password")):
        await store.writes.audit("password_change_refused", lazy_("A password change gave a wrong current password"))
        return _back(request, _("Password not changed: the current password is wrong."), "error")
    if len(new) < MIN_PASSWORD:
        return _back(request, _("Password not changed: choose at least %(n)s characters.") % {"n": MIN_PASSWORD}, "error")
    if new != form.get("confirm_password"):
        return _back(request, _("Password not changed: the two new passwords differ."), "error")
    await store.writes.set_app_secret("admin_password", await hash_password_async(new))
    ended = await store.writes.delete_sessions(signed_in=True, except_id=session_id(request))
    await store.writes.audit("password_changed", lazy_("The admin password was changed; %(ended)s other sessions were signed out", ended=ended))
    message = _("Password changed; every other session was signed out.")
    if request.app.state.config.admin_password:
        message += " " + _("INVOICEBRIDGE_ADMIN_PASSWORD is set, so the password from the environment applies again at the next restart.")
    return _back(request, message)


@form_post
async def sign_out_everywhere(request: Request) -> Response:
    store = request.app.state.runtime.store
    ended = await store.writes.delete_sessions(signed_in=True)
    await store.writes.audit("signed_out_everywhere", lazy_("Every session was signed out (%(ended)s)", ended=ended))
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


@form_post
async def create_key(request: Request) -> Response:
    from .pages import render

    label = str(request.state.form.get("label") or "").strip()[:MAX_LABEL] or _("web")
    store = request.app.state.runtime.store
    key = await store.writes.create_api_key(label)
    await store.writes.audit("api_key_created", lazy_("API key '%(label)s' created on the settings page", label=label))
    return render(request, "api_key.html", {"key": key, "label": label}, headers={"Cache-Control": "no-store"})


def _key(request: Request) -> dict[str, Any]:
    raw = str(request.path_params["key_id"])
    store = request.app.state.runtime.store
    found = [k for k in store.list_api_keys() if str(k["id"]) == raw]
    if not found:
        raise NotFound(_("There is no API key %(id)s; it may have been revoked already.") % {"id": raw[:20]})
    return found[0]


@login_required
async def confirm_revoke(request: Request) -> Response:
    from .pages import render

    key = _key(request)
    return render(request, "api_key_revoke.html", {"key": dict(key, created=_when(key["created_at"]), last_used=_when(key["last_used_at"]))})


@form_post
async def revoke_key(request: Request) -> Response:
    key = _key(request)
    if request.state.form.get("confirm") != "yes":
        return RedirectResponse(f"/account/api-keys/{key['id']}/revoke", status_code=303)
    await request.app.state.runtime.store.writes.revoke_api_key(int(key["id"]))
    await request.app.state.runtime.store.writes.audit("api_key_revoked", lazy_("API key %(id)s '%(label)s' revoked", id=key["id"], label=key["label"]))
    return _back(request, _("API key %(label)s revoked; requests with it are refused from now on.") % {"label": key["label"] or key["id"]})


def routes() -> list[Route]:
    return [
        Route("/account/password", change_password, methods=["POST"]),
        Route("/account/sign-out-everywhere", sign_out_everywhere, methods=["POST"]),
        Route("/account/api-keys", create_key, methods=["POST"]),
        Route("/account/api-keys/{key_id}/revoke", confirm_revoke, methods=["GET"]),
        Route("/account/api-keys/{key_id}/revoke", revoke_key, methods=["POST"]),
    ]
