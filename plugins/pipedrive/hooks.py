"""Hook implementations of the Pipedrive plugin (backend name ``pipedrive``, role CRM).

Every backend hook answers only for ``pipedrive`` and returns None otherwise, as the hook specs require.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from invoicebridge.core.i18n import format_date, format_money, use_locale
from invoicebridge.core import BackendInfo, Role, hookimpl
from invoicebridge.core.connector import close_connectors
from invoicebridge.core.errors import BackendError
from invoicebridge.core.model import ConnectResult, Health, RemoteUser

from .i18n import _, lazy_
from . import auth, deals, panel, search, webhooks, writeback
from .client import PipedriveClient
from .config import PipedriveConfig, base_url
from .deals import deal_url, load_fields

NAME = "pipedrive"


def _mine(connection: Any = None, backend: str | None = None) -> bool:
    return (backend if backend is not None else getattr(connection, "backend", None)) == NAME


@hookimpl
def invoicebridge_backends():
    # Pipedrive's ids are positive integers (no leading zero: "07" would be deal 7 under another name)
    return [BackendInfo(name=NAME, role=Role.CRM, label="Pipedrive", auth_methods=("oauth", "token"),
                        id_pattern=r"[1-9][0-9]{0,17}", id_description=lazy_("positive whole numbers"))]


@hookimpl
def invoicebridge_web_routes(runtime):
    return panel.routes(runtime)


@hookimpl
def invoicebridge_frame_ancestors(runtime):
    # Pipedrive shows app extensions from its own domain (company subdomains of pipedrive.com).
    return [(panel.PANEL_PATH, ["https://*.pipedrive.com"])]


@hookimpl
def invoicebridge_sandboxes(runtime):
    """The Pipedrive sandbox (the ``invoicebridge[sandbox]`` extra), one per runtime, seeded with demo deals."""
    key = ("pipedrive", "sandbox")
    sandbox = runtime.cache.get(key)
    if sandbox is None:
        from .sandbox_frame import PipedriveSandbox

        sandbox = runtime.cache[key] = PipedriveSandbox(clock=runtime.now)
        sandbox.seed()
    return [sandbox]


# ---- connecting ------------------------------------------------------------------------------------


def _connect_settings(me: dict[str, Any], api_domain: str, method: str) -> dict[str, Any]:
    return {"api_domain": api_domain, "company_name": me.get("company_name", ""),
            "company_domain": me.get("company_domain", ""), "company_id": me.get("company_id"),
            "user_name": me.get("name", ""), "user_email": me.get("email", ""), "auth": method}


@hookimpl
def backend_authorize_url(runtime, backend, redirect_uri, state, code_challenge, settings):
    if not _mine(backend=backend):
        return None
    return auth.authorize_url(PipedriveConfig.from_runtime(runtime), redirect_uri, state)


@hookimpl
async def backend_complete_oauth(runtime, backend, code, redirect_uri, code_verifier, settings):
    if not _mine(backend=backend):
        return None
    cfg = PipedriveConfig.from_runtime(runtime)
    async with PipedriveClient(runtime, secrets={}) as bare:
        payload = await auth.exchange_code(bare.connector, cfg, code, redirect_uri)
    secrets = auth.token_secrets(payload, runtime.now())
    api_domain = payload.get("api_domain") or ""
    async with PipedriveClient(runtime, secrets=secrets, settings={"api_domain": api_domain}) as client:
        me = await client.me()
    result = _connect_settings(me, api_domain, "oauth")
    return ConnectResult(secrets=secrets, settings=result, label=result["company_name"] or "Pipedrive")


@hookimpl
async def backend_connect_with_token(runtime, backend, token, settings):
    if not _mine(backend=backend):
        return None
    settings = dict(settings or {})
    async with PipedriveClient(runtime, secrets={"api_token": token.strip()}, settings=settings) as client:
        me = await client.me()  # a 401 here raises AuthError: the token is wrong
    domain = me.get("company_domain") or ""
    api_domain = settings.get("api_domain") or (f"https://{domain}.pipedrive.com" if domain else client.base_url)
    result = _connect_settings(me, api_domain, "token")
    return ConnectResult(secrets={"api_token": token.strip()}, settings=result,
                         label=result["company_name"] or "Pipedrive")


@hookimpl
async def backend_check(runtime, connection):
    if not _mine(connection):
        return None
    try:
        async with PipedriveClient(runtime, connection) as client:
            me = await client.me()
    except BackendError as exc:
        return Health(ok=False, detail=str(exc))
    user = RemoteUser(name=me.get("name", ""), email=me.get("email", ""),
                      role="admin" if any(a.get("admin") for a in me.get("access") or []) else "user")
    return Health(ok=True, detail=f"Connected to {me.get('company_name', 'Pipedrive')} as {user.name}", user=user)


@hookimpl
async def backend_disconnect(runtime, connection):
    if not _mine(connection):
        return None
    secrets = runtime.secrets(connection)
    try:
        async with PipedriveClient(runtime, connection) as client:
            for hook in await client.webhooks():
                if hook.get("name") == webhooks.WEBHOOK_NAME:
                    await client.delete_webhook(hook["id"])
    except BackendError:
        pass  # the token may already be revoked; disconnecting must still succeed locally
    if secrets.get("refresh_token"):
        async with PipedriveClient(runtime, secrets={}) as bare:
            await auth.revoke(bare.connector, PipedriveConfig.from_runtime(runtime), secrets["refresh_token"])
    runtime.save_secrets(connection, {})
    await close_connectors(runtime, backend=NAME, key=connection.id)
    return True


# ---- CRM source ------------------------------------------------------------------------------------


@hookimpl
async def crm_get_deal(runtime, connection, deal_id):
    """Concurrent reads of the same deal share one read (50 people opening a deal page cost one deal's calls,
    not 50 against the burst limit); a read that starts later is a new read."""
    if not _mine(connection):
        return None
    flights = runtime.cache.setdefault(("pipedrive", "deal-reads"), {})
    key = (connection.id, str(deal_id))
    flight = flights.get(key)
    if flight is None:
        flight = flights[key] = asyncio.ensure_future(_read_deal(runtime, connection, str(deal_id)))
        flight.add_done_callback(lambda _: flights.pop(key, None))
    return await asyncio.shield(flight)


async def _read_deal(runtime, connection, deal_id: str):
    async with PipedriveClient(runtime, connection) as client:
        return await deals.read_deal(client, deal_id)


@hookimpl
async def crm_get_deals(runtime, connection, deal_ids):
    if not _mine(connection):
        return None
    async with PipedriveClient(runtime, connection) as client:
        return await deals.read_deals(client, [str(i) for i in deal_ids])


@hookimpl
async def crm_find_deals(runtime, connection, query):
    if not _mine(connection):
        return None
    async with PipedriveClient(runtime, connection) as client:
        return await deals.find_deal_ids(client, query)


@hookimpl
async def crm_search_deals(runtime, connection, term, limit):
    if not _mine(connection):
        return None
    async with PipedriveClient(runtime, connection) as client:
        return await search.search_deals(client, str(term), int(limit))


@hookimpl
def crm_deal_id_from_url(runtime, connection, url):
    if not _mine(connection):
        return None
    return search.deal_id_from_url(connection.settings, str(url))


@hookimpl
async def crm_list_fields(runtime, connection):
    if not _mine(connection):
        return None
    async with PipedriveClient(runtime, connection) as client:
        fields = await load_fields(client, refresh=True)
    return [f.to_crm_field() for f in fields.all()]


@hookimpl
async def crm_add_activity(runtime, connection, deal_id, subject, due_date, note, dedupe_key):
    if not _mine(connection):
        return None
    async with PipedriveClient(runtime, connection) as client:
        return await writeback.add_activity_once(client, str(deal_id), subject, due_date, note, dedupe_key)


@hookimpl
async def crm_add_note(runtime, connection, deal_id, content, dedupe_key):
    if not _mine(connection):
        return None
    async with PipedriveClient(runtime, connection) as client:
        return await writeback.add_note_once(client, str(deal_id), content, dedupe_key)


@hookimpl
def crm_deal_url(runtime, connection, deal_id):
    if not _mine(connection):
        return None
    return deal_url(connection.settings, deal_id) or f"{base_url(PipedriveConfig.from_runtime(runtime), connection.settings)}/deal/{deal_id}"


@hookimpl
def crm_verify_webhook(runtime, connection, request):
    if not _mine(connection):
        return None
    return webhooks.verify(runtime, connection, request)


# ---- events ----------------------------------------------------------------------------------------


def _crm(runtime: Any) -> Any:
    connection = runtime.maybe_connection("crm")
    return connection if connection is not None and _mine(connection) else None


def _writeback_language(runtime: Any):
    """Texts written into Pipedrive are read by the whole team: they follow the default language in settings,
    not the language of whoever happened to cause them."""
    return use_locale(runtime.store.get_settings().get("language"))


@hookimpl
async def on_invoice_created(runtime, record, deal, invoice):
    connection = _crm(runtime)
    if connection is None:
        return None
    settings = runtime.store.get_settings()
    with _writeback_language(runtime):
        number = invoice.number or record.number or _("draft invoice")
        customer = invoice.contact_name or record.contact_name or (deal.organization.name if deal.organization else "") \
            or (deal.person.name if deal.person else _("the customer"))
        values = {"number": number, "customer": customer, "total": format_money(invoice.total, invoice.currency),
                  "status": invoice.status.label, "due": format_date(invoice.due_date)}
        subject = _("Send invoice %(number)s to %(customer)s") % values
        reminder = _("Invoice %(number)s for %(total)s was created as %(status)s. It is not sent automatically: "
                     "send it to %(customer)s.") % values
        note = (_("Invoice %(number)s created (%(status)s), total %(total)s, due %(due)s.") if invoice.due_date else
                _("Invoice %(number)s created (%(status)s), total %(total)s.")) % values
    base_key = f"invoice:{record.backend}:{record.remote_id or record.id}"
    async with PipedriveClient(runtime, connection) as client:
        # no reminder to send an invoice that is already paid or dead (a write-back finished late, after a crash)
        if settings.get("reminder_enabled", True) and invoice.status.value not in ("PAID", "VOIDED", "DELETED"):
            due = runtime.today() + dt.timedelta(days=int(settings.get("reminder_due_days", 3)))
            await writeback.add_activity_once(client, str(record.deal_id), subject, due, reminder, f"{base_key}:reminder")
        if settings.get("note_on_create", True):
            await writeback.add_note_once(client, str(record.deal_id), note, f"{base_key}:created")
    return True


@hookimpl
async def on_invoice_status_changed(runtime, record, previous, current):
    connection = _crm(runtime)
    if connection is None or not runtime.store.get_settings().get("note_on_status_change", True):
        return None
    from invoicebridge.core.status import display_label

    with _writeback_language(runtime):
        values = {"number": record.number or _("draft"), "status": display_label(current, amount_paid=record.amount_paid),
                  "previous": previous.label, "total": format_money(record.total, record.currency),
                  "due": format_money(record.amount_due, record.currency)}
        text = (_("Invoice %(number)s is now %(status)s (was %(previous)s). Total %(total)s, nothing is due.") if current.is_terminal
                else _("Invoice %(number)s is now %(status)s (was %(previous)s). Total %(total)s, amount due %(due)s.")) % values
    key = f"status:{record.backend}:{record.remote_id or record.id}:{previous.value}->{current.value}:{record.updated_at}"
    async with PipedriveClient(runtime, connection) as client:
        await writeback.add_note_once(client, str(record.deal_id), text, key)
    return True


@hookimpl
async def on_invoice_settled(runtime, record, reason):
    """The invoice was emailed, paid, voided or deleted: mark its "Send invoice" reminder done (once)."""
    connection = _crm(runtime)
    if connection is None:
        return None
    key = f"invoice:{record.backend}:{record.remote_id or record.id}:reminder"
    async with PipedriveClient(runtime, connection) as client:
        await writeback.complete_activity_once(client, str(record.deal_id), key)
    return True


@hookimpl
async def backend_connected(runtime, connection, public_url):
    """Subscribe our webhook receiver to deal changes as soon as Pipedrive is connected."""
    if not _mine(connection):
        return None
    return await webhooks.register_webhooks(runtime, connection, f"{public_url.rstrip('/')}/webhooks/pipedrive")


@hookimpl
def crm_verify_page_token(runtime, connection, params):
    """Link actions and panels opened from Pipedrive carry a JWT in ``token`` (HS256, the app's JWT secret). It
    must name the connected company (``companyId``) and a user (``userId``), with integer claims."""
    if not _mine(connection) or not params.get("token"):
        return None
    import jwt as pyjwt

    from invoicebridge.core.errors import WebhookRejected

    company = (connection.settings or {}).get("company_id")
    if not company:
        raise WebhookRejected(_("The Pipedrive connection does not know its company; reconnect Pipedrive, then open "
                                "the deal from Pipedrive again"))
    try:
        claims = panel.verify_jwt(str(params["token"]), PipedriveConfig.from_runtime(runtime).panel_secret, runtime.now(),
                                  company_id=company)
    except pyjwt.InvalidTokenError as exc:
        raise WebhookRejected(_("The Pipedrive link's token is not valid (%(error)s); open the deal from Pipedrive again") % {"error": exc}) from None
    return {"user": f"pipedrive:{claims['userId']}", "company": str(claims["companyId"]),
            "expires_at": int(claims["exp"])}
