"""The login page: the first admin password (with the setup code), sign-in with its pauses, sign-out."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from invoicebridge.core.i18n import _, lazy_

from ..security import (ADMIN, MIN_PASSWORD, check_password_async, clear_login_failures, form_post,
                        hash_password_async, login_wait, record_login_failure, setup_code_ok, spend_setup_code,
                        wait_message)
from .common import render, state, _safe_next


async def login(request: Request) -> Response:
    store = state(request).runtime.store
    first_run = store.get_app_secret("admin_password") is None
    nxt = _safe_next(request.query_params.get("next"))
    if request.method == "GET":
        return render(request, "login.html", {"first_run": first_run, "next": nxt})
    form = await request.form()
    from ..security import csrf_ok

    if not csrf_ok(request, form.get("csrf_token")):
        return Response(_("The login form expired; reload the page and try again (CSRF check failed)."), status_code=403)
    password = str(form.get("password") or "")
    nxt = _safe_next(str(form.get("next") or "/"))
    who = request.client.host if request.client else "unknown"  # the peer, or what a trusted proxy says it is
    now = state(request).runtime.now().timestamp()
    wait = login_wait(store, ADMIN, now)  # per account: a client can claim any address, not another account
    if wait > 0:
        return render(request, "login.html", {"first_run": first_run, "next": nxt, "error": wait_message(wait)}, 429,
                      headers={"Retry-After": str(int(wait) + 1)})
    if first_run:
        if not setup_code_ok(store, form.get("setup_code"), now):
            await store.writes.run(record_login_failure, store, ADMIN, now)
            await store.writes.audit("setup_code_refused", lazy_("A wrong or expired setup code was entered from %(who)s", who=who))
            return render(request, "login.html", {"first_run": True, "next": nxt, "error": _(
                "That setup code is wrong or has expired. Use the code `invoicebridge serve` printed, or get a new one "
                "with `invoicebridge setup-code`.")}, 401)
        if len(password) < MIN_PASSWORD:
            return render(request, "login.html", {"first_run": True, "next": nxt, "error": _(
                "Choose a password of at least %(n)s characters.") % {"n": MIN_PASSWORD}}, 422)
        if password != form.get("confirm"):
            return render(request, "login.html", {"first_run": True, "next": nxt, "error": _("The two passwords differ.")}, 422)
        hashed = await hash_password_async(password)

        def first_password() -> bool:  # on the writer thread
            with store.transaction():  # the code is spent once: a second form with the same code finds none
                if store.get_app_secret("admin_password") is not None or not setup_code_ok(store, form.get("setup_code"), now):
                    return False
                store.set_app_secret("admin_password", hashed)
                spend_setup_code(store)
                return True
        if not await store.writes.run(first_password):
            return render(request, "login.html", {"first_run": False, "next": nxt, "error": _(
                "The admin password has just been set; sign in with it.")}, 409)
        await store.writes.audit("admin_password_set", lazy_("The first admin password was set from %(who)s", who=who))
    else:
        runtime = state(request).runtime
        ok = await check_password_async(password, store.get_app_secret("admin_password"),
                                        gate=lambda: login_wait(store, ADMIN, runtime.now().timestamp()) <= 0,
                                        on_wrong=lambda: store.writes.run(record_login_failure, store, ADMIN, runtime.now().timestamp()))
        if ok is None:  # a pause began while this attempt waited for its turn
            wait = max(login_wait(store, ADMIN, runtime.now().timestamp()), 1.0)
            return render(request, "login.html", {"first_run": False, "next": nxt, "error": wait_message(wait)}, 429,
                          headers={"Retry-After": str(int(wait) + 1)})
        if not ok:  # the failure is already counted (inside the hashing turn)
            await store.writes.audit("login_failed", lazy_("A wrong admin password was entered from %(who)s", who=who))
            return render(request, "login.html", {"first_run": False, "next": nxt, "error": _("Wrong password.")}, 401)
    await store.writes.run(clear_login_failures, store, ADMIN)
    request.session.clear()
    request.session["user"] = ADMIN  # a new user in the session: the session gets a new id
    return RedirectResponse(nxt, status_code=303)


@form_post
async def logout(request: Request) -> Response:
    request.session.clear()  # the server-side session is deleted: its cookie opens nothing any more
    return RedirectResponse("/login", status_code=303)


routes = [
    Route("/login", login, methods=["GET", "POST"], name="login"),
    Route("/logout", logout, methods=["POST"]),
]
