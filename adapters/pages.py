"""Server-rendered pages (Jinja2, autoescaped): login, dashboard, connections, settings, deal, create invoice,
bulk runs.

Every page needs the admin login; every form carries the CSRF token. Pages work without JavaScript; a little
vanilla JS adds live totals, the item picker fill-in, copy-to-clipboard and a status poll on the deal page.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.staticfiles import StaticFiles
from starlette.routing import Mount
from starlette.templating import Jinja2Templates

from invoicebridge.core import attention
from invoicebridge.core.errors import InvoiceBridgeError, MappingError, NotConnected, NotFound, ValidationProblem
from invoicebridge.core.mapping import (BUILTIN_FIELD_LABELS, DUE_DATE_KIND_LABELS, DueDateRule, MappingConfig, TEMPLATE_FIELDS,
                                        BUILTIN_FIELDS, canonical_ref, mappable_ref)
from invoicebridge.core.model import Role, TaxHandling
from invoicebridge.core.i18n import (LANGUAGE_NAMES, UnreadableNumber, _, format_number, lazy_, parse_decimal,
                                     use_locale)
from invoicebridge.core.pipeline import AnotherInvoice
from invoicebridge.core.totals import line_taxes
from invoicebridge.core.status import COLOURS, Command

from . import display, setup
from .downloads import content_disposition
from . import account
from .i18n import install as i18n_install
from . import labels

from .security import (ADMIN, MIN_PASSWORD, check_password_async, clear_login_failures, crm_scope, csrf_token, form_post,
                       hash_password_async, is_admin, is_logged_in, login_required, login_wait, record_login_failure,
                       setup_code_ok, spend_setup_code, wait_message)

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
i18n_install(templates.env)
display.install(templates.env)
templates.env.globals["COLOURS"] = {s.value: c for s, c in COLOURS.items()}


labels.install(templates.env)


def render(request: Request, name: str, context: dict[str, Any] | None = None, status_code: int = 200,
           headers: dict[str, str] | None = None) -> HTMLResponse:
    ctx = {"user": request.session.get("user"), "is_admin": is_admin(request), "csrf": csrf_token(request),
           "flash": request.session.pop("flash", None)}
    ctx.update(context or {})
    return templates.TemplateResponse(request, name, ctx, status_code=status_code, headers=headers)


def error_page(request: Request, message: str, status_code: int, *, backend: str = "") -> HTMLResponse:
    """``backend``: the connection the error is about, when reconnecting it is the way out (a Reconnect button)."""
    return render(request, "error.html", {"message": message, "status_code": status_code, "backend": backend},
                  status_code=status_code)


def flash(request: Request, message: str, kind: str = "ok") -> None:
    request.session["flash"] = {"message": message, "kind": kind}


def state(request: Request):
    return request.app.state


def _safe_next(target: str | None) -> str:
    if not target:
        return "/"
    parsed = urlparse(target)
    return target if not parsed.scheme and not parsed.netloc and target.startswith("/") and not target.startswith("//") else "/"


# ---- login -----------------------------------------------------------------------------------------------


async def login(request: Request) -> Response:
    store = state(request).runtime.store
    first_run = store.get_app_secret("admin_password") is None
    nxt = _safe_next(request.query_params.get("next"))
    if request.method == "GET":
        return render(request, "login.html", {"first_run": first_run, "next": nxt})
    form = await request.form()
    from .security import csrf_ok

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
            record_login_failure(store, ADMIN, now)
            store.audit("setup_code_refused", lazy_("A wrong or expired setup code was entered from %(who)s", who=who))
            return render(request, "login.html", {"first_run": True, "next": nxt, "error": _(
                "That setup code is wrong or has expired. Use the code `invoicebridge serve` printed, or get a new one "
                "with `invoicebridge setup-code`.")}, 401)
        if len(password) < MIN_PASSWORD:
            return render(request, "login.html", {"first_run": True, "next": nxt, "error": _(
                "Choose a password of at least %(n)s characters.") % {"n": MIN_PASSWORD}}, 422)
        if password != form.get("confirm"):
            return render(request, "login.html", {"first_run": True, "next": nxt, "error": _("The two passwords differ.")}, 422)
        hashed = await hash_password_async(password)
        with store.transaction():  # the code is spent once: a second form with the same code finds none
            if store.get_app_secret("admin_password") is not None or not setup_code_ok(store, form.get("setup_code"), now):
                return render(request, "login.html", {"first_run": False, "next": nxt, "error": _(
                    "The admin password has just been set; sign in with it.")}, 409)
            store.set_app_secret("admin_password", hashed)
            spend_setup_code(store)
        store.audit("admin_password_set", lazy_("The first admin password was set from %(who)s", who=who))
    else:
        runtime = state(request).runtime
        ok = await check_password_async(password, store.get_app_secret("admin_password"),
                                        gate=lambda: login_wait(store, ADMIN, runtime.now().timestamp()) <= 0,
                                        on_wrong=lambda: record_login_failure(store, ADMIN, runtime.now().timestamp()))
        if ok is None:  # a pause began while this attempt waited for its turn
            wait = max(login_wait(store, ADMIN, runtime.now().timestamp()), 1.0)
            return render(request, "login.html", {"first_run": False, "next": nxt, "error": wait_message(wait)}, 429,
                          headers={"Retry-After": str(int(wait) + 1)})
        if not ok:  # the failure is already counted (inside the hashing turn)
            store.audit("login_failed", lazy_("A wrong admin password was entered from %(who)s", who=who))
            return render(request, "login.html", {"first_run": False, "next": nxt, "error": _("Wrong password.")}, 401)
    clear_login_failures(store, ADMIN)
    request.session.clear()
    request.session["user"] = ADMIN  # a new user in the session: the session gets a new id
    return RedirectResponse(nxt, status_code=303)


@form_post
async def logout(request: Request) -> Response:
    request.session.clear()  # the server-side session is deleted: its cookie opens nothing any more
    return RedirectResponse("/login", status_code=303)


# ---- dashboard -------------------------------------------------------------------------------------------


@login_required
async def dashboard(request: Request) -> Response:
    runtime = state(request).runtime
    store = runtime.store
    failures = store.operations(states=("failed", "dead", "pending", "in_flight"), limit=50)
    deals: list = []
    deals_error = ""
    if runtime.maybe_connection(Role.CRM) is not None:
        try:
            deals = await state(request).pipeline.recent_deals(25)
        except InvoiceBridgeError as exc:
            deals_error = exc.message
    invoiced = {op["deal_id"]: [r.number or str(r.id) for r in store.invoices_for_deal(op["deal_id"])] for op in failures}
    return render(request, "dashboard.html", {
        "attention": _attention(request),
        "invoices": store.recent_invoices(30),
        "failures": failures,
        "invoiced": invoiced,
        "deals": deals,
        "deals_error": deals_error,
        "connections": _connection_rows(request),
        "activity": store.audit_entries(limit=15),
        "setup": setup.checklist(request.app.state),
    })


def _attention(request: Request) -> list:
    """Connections in error, drafts waiting too long, overdue invoices (failed requests are listed apart)."""
    runtime = state(request).runtime
    # the plain part of the error only: addresses and request notes stay on the Connections page, folded away
    rows = [(row["connection"], row["info"].label or row["info"].name,
             display.split_error(row["health"].get("last_error")).plain if row["health"].get("last_error") else "")
            for row in _connection_rows(request) if row["connection"] is not None]
    days = attention.draft_days(runtime.store.get_settings())
    return attention.connection_problems(rows) + attention.invoice_problems(
        runtime.store.invoices_to_watch(runtime.today()), now=runtime.now(), today=runtime.today(), days=days)


@form_post
async def retry_operation(request: Request) -> Response:
    key = request.path_params["key"]
    item = await state(request).pipeline.retry_operation(key)
    if item.record is not None:
        flash(request, _("Invoice %(number)s created for deal %(deal)s.") % {"number": item.record.number or item.record.id, "deal": item.deal_id})
    else:
        flash(request, _("Still failing: %(error)s") % {"error": item.error}, "error")
    return RedirectResponse(_safe_next(str(request.state.form.get("next") or "/")), status_code=303)


# ---- finding a deal --------------------------------------------------------------------------------------


@login_required
async def search_page(request: Request) -> Response:
    """Deals matching ``q``; a pasted deal link or a deal number goes straight to that deal."""
    query = str(request.query_params.get("q") or "")
    try:
        found = await state(request).pipeline.search_deals(query)
    except NotConnected as exc:  # no CRM connected, or its plugin cannot search
        found = None
        problem = exc.message
    else:
        problem = found.problem
    if found is not None and found.open_id:
        if not found.open_id.isalnum() or len(found.open_id) > 64:
            return error_page(request, _("There is no deal %(id)s") % {"id": repr(found.open_id[:64])}, 404)
        return RedirectResponse(f"/deals/{found.open_id}", status_code=303)
    return render(request, "search.html", {"query": " ".join(query.split())[:300], "problem": problem,
                                           "deals": list(found.deals) if found else []},
                  status_code=422 if problem and query.strip() else 200)


# ---- connections -----------------------------------------------------------------------------------------


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
        request.session["connect_choices"] = {"backend": backend,
                                              "choices": [[c.id, c.name, dict(c.settings)] for c in result.choices]}
        return RedirectResponse("/connections", status_code=303)
    settings = dict(result.settings)
    account = result.account or (result.choices[0] if result.choices else None)
    if account is not None:
        settings.update(account.settings)
    return await _finish_connect(request, backend, info.role, result.label or (account.name if account else backend), settings, dict(result.secrets))


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
    settings = {**pending["settings"], **(match[2] if len(match) > 2 else {})}
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


# ---- settings --------------------------------------------------------------------------------------------


@login_required
async def settings_page(request: Request) -> Response:
    pipeline = state(request).pipeline
    fields, catalog, problems = [], None, []
    try:
        fields = await pipeline.fields()
    except InvoiceBridgeError as exc:
        problems.append(_("CRM fields: %(error)s") % {"error": exc.message})
    try:
        catalog = await pipeline.catalog()
    except InvoiceBridgeError as exc:
        problems.append(_("Accounting lists: %(error)s") % {"error": exc.message})
    mapping = pipeline.mapping()
    shown = {name: canonical_ref(getattr(mapping, name), fields) for name in ("to", "address", "email", "tax_number")}
    choices = []  # (entity, ref, label) for every field the mapping can read, built-in and custom
    for f in fields:
        ref = mappable_ref(f)
        if ref and ref not in [c[1] for c in choices]:
            choices.append((f.entity, ref, _("%(field)s (custom)") % {"field": f.name} if f.is_custom else f.name))
    for entity, keys in BUILTIN_FIELDS.items():  # always readable, even before the CRM is connected
        for key in keys:
            if f"{entity}.{key}" not in [c[1] for c in choices]:
                label = str(BUILTIN_FIELD_LABELS.get(key, key.replace("_", " ")))
                choices.append((entity, f"{entity}.{key}", label[:1].upper() + label[1:]))
    return render(request, "settings.html", {
        "mapping": mapping, "shown": shown, "choices": choices, "settings": pipeline.store.get_settings(), "fields": fields, "catalog": catalog,
        "problems": problems, "due_kinds": [(k.value, str(text)) for k, text in DUE_DATE_KIND_LABELS.items()],
        "template_fields": TEMPLATE_FIELDS, "capabilities": pipeline.capabilities(), **account.context(request),
    })


def _whole_number(raw: Any, default: int, field: Any, errors: list[str]) -> int | None:
    """A whole number typed in a settings field (grouping marks of the locale allowed); a refusal names the field."""
    try:
        value = parse_decimal(str(raw or "").strip() or str(default), field=str(field))
    except UnreadableNumber as exc:
        errors.append(str(exc))
        return None
    if value is None or value != value.to_integral_value():
        errors.append(_("%(field)s: write a whole number of days") % {"field": field})
        return None
    return int(value)


@form_post
async def save_settings(request: Request) -> Response:
    form = request.state.form
    pipeline = state(request).pipeline
    errors = []
    config, days = None, _whole_number(form.get("due_days"), 14, _("Due date"), errors)
    try:
        config = MappingConfig(
            to=str(form.get("to") or ""), address=str(form.get("address") or ""), email=str(form.get("email") or ""),
            tax_number=str(form.get("tax_number") or ""),
            due_date=DueDateRule(kind=str(form.get("due_kind") or "days_after_invoice"), days=days),
            currency=str(form.get("currency") or ""), tax_handling=str(form.get("tax_handling") or "deal"),
            account_code=str(form.get("account_code") or ""), tax_type=str(form.get("tax_type") or ""),
            branding_theme_id=str(form.get("branding_theme_id") or ""),
            reference_template=str(form.get("reference_template") or ""),
            status=str(form.get("status") or "DRAFT"),
        )
    except (ValueError, TypeError) as exc:
        if days is not None:
            errors.append(str(exc))
    reminder_days = _whole_number(form.get("reminder_due_days"), 3, _("Reminder"), errors)
    if reminder_days is not None and not 0 <= reminder_days <= 365:
        errors.append(_("The reminder is due in 0 to 365 days"))
    draft_days = _whole_number(form.get("attention_draft_days"), 7, _("Needs attention"), errors)
    if draft_days is not None and not 0 <= draft_days <= 365:
        errors.append(_("Drafts are listed after 0 to 365 days"))
    if not str(form.get("to") or "").strip():
        errors.append(_("To must be mapped to a field"))
    language = str(form.get("language") or "en")
    if language not in LANGUAGE_NAMES:
        errors.append(_("Language: choose one of %(languages)s") % {"languages": ", ".join(LANGUAGE_NAMES.values())})
    if errors or config is None:
        flash(request, _("Settings not saved: %(problems)s") % {"problems": "; ".join(errors)}, "error")
        return RedirectResponse("/settings", status_code=303)
    pipeline.save_mapping(config)
    pipeline.store.update_settings({
        "reminder_enabled": form.get("reminder_enabled") == "on",
        "reminder_due_days": reminder_days,
        "note_on_create": form.get("note_on_create") == "on",
        "note_on_status_change": form.get("note_on_status_change") == "on",
        "automation_draft_when_won": form.get("automation_draft_when_won") == "on",
        "attention_draft_days": draft_days,
        "language": language,
    })
    with use_locale(language):  # said in the language just chosen
        flash(request, _("Settings saved."))
    return RedirectResponse("/settings", status_code=303)


# ---- deal page -------------------------------------------------------------------------------------------


def _deal_id(request: Request) -> str:
    raw = str(request.path_params["deal_id"])
    if not raw.isalnum() or len(raw) > 64:
        raise NotFound(_("There is no deal '%(deal)s'") % {"deal": raw[:64]})
    return raw


@login_required
@crm_scope("deal")
async def deal_page(request: Request) -> Response:
    deal_id = _deal_id(request)
    pipeline = state(request).pipeline
    runtime = state(request).runtime
    deal, deal_error = None, ""
    try:
        deal = await pipeline.deal_for_display(deal_id)
    except NotConnected:
        raise
    except InvoiceBridgeError as exc:
        deal_error = exc.message
    records = runtime.store.invoices_for_deal(deal_id)
    if deal is None and not records:
        return error_page(request, deal_error or _("There is no deal %(deal)s") % {"deal": deal_id}, 404)
    may_approve = True
    try:
        user = await state(request).plugins.current_user(runtime, connection=pipeline.accounting)
        may_approve = user.may_approve
    except InvoiceBridgeError:
        pass
    invoices = [{"record": r, "commands": pipeline.commands_for(r, may_approve=may_approve),
                 "timeline": runtime.store.audit_entries(invoice_id=r.id)} for r in records]
    return render(request, "deal.html", {
        "deal": deal, "deal_id": deal_id, "deal_error": deal_error, "invoices": invoices,
        "failures": runtime.store.operations(states=("failed", "dead"), deal_id=deal_id),
        "deal_events": [e for e in runtime.store.audit_entries(deal_id=deal_id) if not e["invoice_id"]],
        "version": _deal_version(runtime.store, deal_id), "may_approve": may_approve, "capabilities": pipeline.capabilities(),
    })


def _deal_version(store, deal_id: str) -> str:
    parts = [f"{r.id}:{r.status.value}:{r.amount_paid}:{r.updated_at}" for r in store.invoices_for_deal(deal_id)]
    parts += [f"{o['key']}:{o['state']}" for o in store.operations(deal_id=deal_id, states=("pending", "in_flight", "failed", "dead", "done"))]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


async def open_from_crm(request: Request) -> Response:
    """Where a CRM link action lands (``/deals?selectedIds=42&token=<signed JWT>``). A valid token for the
    connected company opens a session for that CRM user which reaches only this deal (and others opened the same
    way), for a short time; it never makes anyone the admin. Without a token, sign in first and then continue to
    the deal."""
    raw = str(request.query_params.get("selectedIds") or request.query_params.get("deal") or "").split(",")[0].strip()
    if not raw.isalnum() or len(raw) > 64:
        return error_page(request, _("Open this page from a deal: the link carries no deal id."), 400)
    target = f"/deals/{raw}"
    runtime = state(request).runtime
    crm = runtime.maybe_connection(Role.CRM)
    if crm is not None and request.query_params.get("token"):
        from invoicebridge.core.errors import WebhookRejected

        try:
            who = await state(request).plugins.verify_page_token(runtime, connection=crm, params=dict(request.query_params))
        except WebhookRejected as exc:
            runtime.store.audit("page_token_rejected", exc.message)
            return error_page(request, exc.message, 401)
        if who and not is_admin(request):  # the admin stays the admin
            user = f"{crm.backend}:{who['user']}" if not str(who["user"]).startswith(f"{crm.backend}:") else str(who["user"])
            deals = list(request.session.get("deals") or []) if request.session.get("user") == user else []
            request.session.clear()
            request.session["user"] = user  # bound to that CRM user; another user's link starts a new session
            request.session["deals"] = [d for d in deals if d != raw][-19:] + [raw]
    if not is_logged_in(request):
        return RedirectResponse(f"/login?next={target}", status_code=303)
    return RedirectResponse(target, status_code=303)


@login_required
@crm_scope("deal")
async def deal_version(request: Request) -> Response:
    return JSONResponse({"version": _deal_version(state(request).runtime.store, _deal_id(request))})


@login_required
@crm_scope("invoice")
async def invoice_page(request: Request) -> Response:
    record = state(request).runtime.store.get_invoice(_int(request.path_params["invoice_id"]))
    return RedirectResponse(f"/deals/{record.deal_id}#invoice-{record.id}", status_code=303)


def _int(raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise NotFound(_("There is no invoice '%(invoice)s'") % {"invoice": raw[:32]}) from None


@form_post
@crm_scope("invoice")
async def invoice_command(request: Request) -> Response:
    invoice_id = _int(request.path_params["invoice_id"])
    pipeline = state(request).pipeline
    record = pipeline.store.get_invoice(invoice_id)
    try:
        command = Command.parse(request.path_params["command"])
        if command is Command.EMAIL and request.state.form.get("confirm") != "yes":
            # Emailing reaches the customer: it is sent only from the question that names the recipient
            return RedirectResponse(f"/invoices/{record.id}/email", status_code=303)
        updated = await pipeline.command(invoice_id, command)
    except (InvoiceBridgeError, ValueError) as exc:
        flash(request, str(getattr(exc, "message", exc)), "error")
    else:
        number = updated.number or updated.id
        flash(request, _("Invoice %(number)s is emailed to the customer.") % {"number": number} if command is Command.EMAIL else
              _("Invoice %(number)s is now %(status)s.") % {"number": number, "status": updated.status_label})
    return RedirectResponse(f"/deals/{record.deal_id}#invoice-{record.id}", status_code=303)


@login_required
@crm_scope("invoice")
async def invoice_email_confirm(request: Request) -> Response:
    """Ask before emailing an invoice, naming the address it goes to (works without JavaScript)."""
    record, address = await state(request).pipeline.email_recipient(_int(request.path_params["invoice_id"]))
    return render(request, "email_confirm.html", {"record": record, "address": address})


@login_required
@crm_scope("invoice")
async def invoice_pdf(request: Request) -> Response:
    record, pdf = await state(request).pipeline.pdf(_int(request.path_params["invoice_id"]))
    name = record.number or f"invoice-{record.id}"
    return Response(pdf, media_type="application/pdf", headers={"Content-Disposition": content_disposition(f"{name}.pdf")})


@login_required
@crm_scope("invoice")
async def invoice_share(request: Request) -> Response:
    invoice_id = _int(request.path_params["invoice_id"])
    record = state(request).runtime.store.get_invoice(invoice_id)
    try:
        link = await state(request).pipeline.share_link(invoice_id)
    except InvoiceBridgeError as exc:
        flash(request, exc.message, "error")
        return RedirectResponse(f"/deals/{record.deal_id}#invoice-{record.id}", status_code=303)
    return render(request, "share.html", {"record": record, "link": link})


@login_required
@crm_scope("invoice")
async def invoice_open(request: Request) -> Response:
    link = await state(request).pipeline.deep_link(_int(request.path_params["invoice_id"]))
    return RedirectResponse(link, status_code=303)


# ---- create invoice --------------------------------------------------------------------------------------


# Typed numbers on a line, read in the request's language (rendered with format_number, so they round-trip).
LINE_NUMBERS = {"quantity": lazy_("quantity"), "unit_amount": lazy_("unit price"), "discount_rate": lazy_("discount %"),
                "discount_amount": lazy_("discount amount")}
LINE_FIELDS = ("description", "quantity", "unit_amount", "discount_rate", "discount_amount", "item_code", "account_code", "tax_type")


def _form_overrides(form) -> tuple[dict[str, Any], list[dict[str, str]], list[str]]:
    """The form as pipeline overrides, the rows as typed (to show again), and every number it could not read,
    naming the line and the field."""
    overrides: dict[str, Any] = {}
    for name in ("date", "due_date", "currency", "tax_handling", "reference", "branding_theme_id"):
        value = str(form.get(name) or "").strip()
        if value:
            overrides[name] = value
    overrides["customer"] = {k: str(form.get(f"customer_{k}") or "").strip() for k in ("name", "email", "tax_number")}
    rows, lines, errors = [], [], []
    indexes = sorted({int(k.split("-")[1]) for k in form.keys() if k.startswith("line-") and k.split("-")[1].isdigit()})
    for i in indexes:
        row = {f: str(form.get(f"line-{i}-{f}") or "").strip() for f in LINE_FIELDS}
        if not any(row[f] for f in ("description", "item_code", "unit_amount")):
            continue
        rows.append(row)
        line = dict(row)
        for name, label in LINE_NUMBERS.items():
            try:
                value = parse_decimal(row[name], field=_("Line %(n)s, %(field)s") % {"n": i + 1, "field": label})
            except UnreadableNumber as exc:
                errors.append(str(exc))
                continue
            line[name] = "" if value is None else str(value)
        lines.append(line)
    overrides["line_items"] = lines
    return overrides, rows, errors


def _rows_from_draft(draft) -> list[dict[str, str]]:
    def num(value) -> str:
        return "" if value is None else format_number(value)

    return [{"description": l.description, "quantity": num(l.quantity), "unit_amount": num(l.unit_amount),
             "discount_rate": num(l.discount_rate), "discount_amount": num(l.discount_amount), "item_code": l.item_code,
             "account_code": l.account_code, "tax_type": l.tax_type} for l in draft.line_items]


def _create_context(deal_id: str, catalog, **extra: Any) -> dict[str, Any]:
    return {"deal_id": deal_id, "catalog": catalog, "errors": [], "preview": None, "rows": [], "amounts": [],
            "tax_handlings": [t.value for t in TaxHandling], "confirm_another": False, **extra}


def _with_preview(context: dict[str, Any], preview) -> dict[str, Any]:
    return dict(context, preview=preview, draft=preview.draft, rows=_rows_from_draft(preview.draft),
                amounts=[l.line_amount for l in preview.draft.line_items])


@login_required
@crm_scope("deal")
async def create_form(request: Request) -> Response:
    deal_id = _deal_id(request)
    pipeline = state(request).pipeline
    try:
        preview = await pipeline.preview(deal_id)
    except MappingError as exc:
        return render(request, "create.html", {"deal_id": deal_id, "mapping_error": exc, "preview": None}, status_code=422)
    catalog = await pipeline.catalog()
    return render(request, "create.html", _with_preview(_create_context(deal_id, catalog, nonce=secrets.token_urlsafe(16),
                                                                        capabilities=pipeline.capabilities()), preview))


@form_post
@crm_scope("deal")
async def create_submit(request: Request) -> Response:
    deal_id = _deal_id(request)
    pipeline = state(request).pipeline
    form = request.state.form
    action = str(form.get("action") or "preview")
    overrides, rows, unreadable = _form_overrides(form)
    if action == "submit":
        overrides["status"] = "AWAITING_APPROVAL"
    elif action == "draft":
        overrides["status"] = "DRAFT"
    elif action == "create":  # a backend without drafts: created ready for payment
        overrides["status"] = "AWAITING_PAYMENT"
    nonce = str(form.get("nonce") or "") or secrets.token_urlsafe(16)
    allow_another = form.get("allow_another") == "on"
    catalog = await pipeline.catalog()
    context = _create_context(deal_id, catalog, rows=rows, nonce=nonce, form=form, confirm_another=allow_another,
                              capabilities=pipeline.capabilities())
    try:
        if unreadable:
            raise ValidationProblem(unreadable, deal_id=deal_id)
        preview = await pipeline.preview(deal_id, overrides)
    except MappingError as exc:
        return render(request, "create.html", dict(context, mapping_error=exc), status_code=422)
    except ValidationProblem as exc:
        # Shown again as typed; the totals are not shown, since they would not be what gets stored.
        base = await pipeline.preview(deal_id)
        return render(request, "create.html", dict(context, errors=exc.problems, preview=base, draft=base.draft, stale=True),
                      status_code=422)
    context = _with_preview(context, preview)
    if action == "preview" or preview.problems:
        return render(request, "create.html", context, status_code=200 if action == "preview" else 422)
    try:
        record = await pipeline.create_invoice(deal_id, overrides=overrides, key=nonce, source="page",
                                               allow_another=allow_another)
    except AnotherInvoice as exc:
        message = _("%(message)s Tick \"Create another invoice anyway\" to save it.") % {"message": exc.message}
        return render(request, "create.html", dict(context, errors=[message]), status_code=409)
    except InvoiceBridgeError as exc:
        return render(request, "create.html", dict(context, errors=[exc.message]), status_code=exc.status_code if exc.status_code < 500 else 502)
    flash(request, _("Invoice %(number)s created in %(backend)s as %(status)s.") % {
        "number": record.number or record.id, "backend": record.backend.title(), "status": record.status_label})
    return RedirectResponse(f"/deals/{deal_id}#invoice-{record.id}", status_code=303)


@form_post
async def create_preview(request: Request) -> Response:
    """The create form's live totals: the page sends the form as it stands and shows what this answers, which is
    what the accounting system will store (the same core computation as the create)."""
    deal_id = _deal_id(request)
    pipeline = state(request).pipeline
    overrides, _rows, unreadable = _form_overrides(request.state.form)
    answer: dict[str, Any] = {"ok": False, "errors": unreadable, "problems": [], "warnings": [], "live_invoices": [],
                              "totals": None, "display": None, "lines": []}
    if unreadable:
        return JSONResponse(answer)
    try:
        preview = await pipeline.preview(deal_id, overrides)
    except MappingError as exc:
        return JSONResponse(dict(answer, errors=[exc.message]), status_code=422)
    except ValidationProblem as exc:
        return JSONResponse(dict(answer, errors=exc.problems))
    draft = preview.draft
    totals = draft.totals
    taxes = line_taxes(draft)
    answer.update(ok=preview.ok, problems=list(preview.problems), warnings=list(preview.warnings),
                  live_invoices=[r.number or r.remote_id for r in preview.live_invoices], currency=draft.currency,
                  totals={"subtotal": str(totals.subtotal), "tax": str(totals.tax), "total": str(totals.total)},
                  display={k: format_number(v, places=2) for k, v in
                           (("subtotal", totals.subtotal), ("tax", totals.tax), ("total", totals.total))},
                  lines=[{"amount": str(l.line_amount), "tax": str(t), "tax_type": l.tax_type,
                          "display": format_number(l.line_amount, places=2)} for l, t in zip(draft.line_items, taxes)])
    return JSONResponse(answer)


async def health(request: Request) -> Response:
    return JSONResponse({"ok": True})


def routes() -> list:
    return [
        Route("/", dashboard, name="dashboard"),
        Route("/health", health),
        Route("/search", search_page),
        Route("/login", login, methods=["GET", "POST"], name="login"),
        Route("/logout", logout, methods=["POST"]),
        Route("/connections", connections),
        Route("/connections/{connection_id:int}/check", check_connection, methods=["POST"]),
        Route("/connections/{connection_id:int}/disconnect", disconnect, methods=["POST"]),
        Route("/connect/{backend}/credentials", save_credentials, methods=["POST"]),
        Route("/connect/{backend}/token", connect_token, methods=["POST"]),
        Route("/connect/{backend}/choose", connect_choose, methods=["POST"]),
        Route("/connect/{backend}/callback", connect_callback),
        Route("/connect/{backend}", connect_start),
        Route("/reconnect/{backend}", reconnect),
        Route("/settings", settings_page),
        Route("/settings", save_settings, methods=["POST"]),
        Route("/deals", open_from_crm),
        Route("/deals/{deal_id}", deal_page),
        Route("/deals/{deal_id}/version", deal_version),
        Route("/deals/{deal_id}/invoices/new", create_form),
        Route("/deals/{deal_id}/invoices", create_submit, methods=["POST"]),
        Route("/deals/{deal_id}/invoices/preview", create_preview, methods=["POST"]),
        Route("/invoices/{invoice_id}", invoice_page),
        Route("/invoices/{invoice_id}/pdf", invoice_pdf),
        Route("/invoices/{invoice_id}/share", invoice_share),
        Route("/invoices/{invoice_id}/open", invoice_open),
        Route("/invoices/{invoice_id}/email", invoice_email_confirm),
        Route("/invoices/{invoice_id}/{command}", invoice_command, methods=["POST"]),
        Route("/operations/{key}/retry", retry_operation, methods=["POST"]),
        *routes_bulk,
        Mount("/static", app=StaticFiles(directory=str(HERE / "static")), name="static"),
    ]


# ---- bulk ------------------------------------------------------------------------------------------------


@login_required
async def bulk_page(request: Request) -> Response:
    jobs = sorted(getattr(request.app.state, "bulk_jobs", {}).values(), key=lambda j: j.run_id, reverse=True)
    return render(request, "bulk.html", {"jobs": jobs[:20], "today": state(request).runtime.today()})


@form_post
async def bulk_start(request: Request) -> Response:
    from . import bulk_jobs

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
        jobs = sorted(getattr(request.app.state, "bulk_jobs", {}).values(), key=lambda j: j.run_id, reverse=True)
        return render(request, "bulk.html", {"jobs": jobs[:20], "today": state(request).runtime.today(), "form": form,
                                             "error": exc.message},
                      status_code=exc.status_code if exc.status_code < 500 else 502)
    return RedirectResponse(f"/bulk/{job.run_id}", status_code=303)


@login_required
async def bulk_run(request: Request) -> Response:
    from . import bulk_jobs

    job = bulk_jobs.get(request.app, request.path_params["run_id"])
    items = [bulk_jobs.item_json(i) for i in job.items] if job.state != "running" else []
    return render(request, "bulk_run.html", {"job": job, "items": items})


@login_required
async def bulk_run_status(request: Request) -> Response:
    from . import bulk_jobs

    return JSONResponse(bulk_jobs.get(request.app, request.path_params["run_id"]).as_json(with_items=False))


routes_bulk = [
    Route("/bulk", bulk_page),
    Route("/bulk", bulk_start, methods=["POST"]),
    Route("/bulk/{run_id}", bulk_run),
    Route("/bulk/{run_id}/status", bulk_run_status),
]
