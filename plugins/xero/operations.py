"""What each hook does for Xero, written against :class:`XeroClient` and :mod:`.translate`."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any, Iterable, Sequence, TypeVar

import jwt

from invoicebridge.core.errors import (
    AuthError,
    BackendError,
    DailyLimitReached,
    DuplicateOperation,
    IllegalTransition,
    RemoteNotFound,
    RemoteValidationError,
)
from invoicebridge.core.model import (
    AccountChoice,
    Catalog,
    ConnectResult,
    CreateRequest,
    CreateResult,
    Customer,
    Health,
    Invoice,
    RemoteUser,
)
from invoicebridge.core.status import Command, InvoiceStatus

from .i18n import _
from . import converter as w
from . import translate as t
from .auth import exchange_code, token_secrets
from .client import BATCH_SIZE, XeroClient, identity_connector, list_connections
from .config import XeroConfig
from .contacts import ContactCache, norm
from . import inline_contacts as inline

T = TypeVar("T")
STATUS_FOR = {
    Command.SUBMIT: "SUBMITTED",
    Command.APPROVE: "AUTHORISED",
    Command.DELETE: "DELETED",
    Command.VOID: "VOIDED",
}
NAME_TAKEN = "is already assigned to another contact"


def chunks(items: Sequence[T], size: int = BATCH_SIZE) -> Iterable[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def token_claims(access_token: str) -> dict[str, Any]:
    """Claims of Xero's JWT access token, read only to learn which Xero user connected (``xero_userid``);
    it is not trusted for anything else, so the signature is not checked here."""
    try:
        return jwt.decode(access_token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return {}


# ---- connecting ---------------------------------------------------------------------------------------


async def complete_oauth(runtime: Any, config: XeroConfig, *, code: str, redirect_uri: str, code_verifier: str,
                         settings: dict) -> ConnectResult:
    tokens = await exchange_code(identity_connector(runtime), config, code=code, redirect_uri=redirect_uri, code_verifier=code_verifier)
    secrets = token_secrets(tokens, runtime)
    tenants = [c for c in await list_connections(runtime, config, tokens.access_token or "")
               if (c.tenant_type or "ORGANISATION") == "ORGANISATION" and c.tenant_id]
    if not tenants:
        raise AuthError(_("Xero authorised no organisation; connect again and tick an organisation"), backend="xero")
    claims = token_claims(tokens.access_token or "")
    event = claims.get("authentication_event_id")
    wanted = (settings or {}).get("tenant_id")
    chosen = (next((c for c in tenants if c.tenant_id == wanted), None)
              or next((c for c in tenants if event and c.auth_event_id == event), None)
              or tenants[0])
    out = {
        **(settings or {}),
        "tenant_id": chosen.tenant_id,
        "tenant_name": chosen.tenant_name or "",
        "user_id": claims.get("xero_userid", ""),
        "scopes": tokens.scope or config.scopes,
    }
    choices = [AccountChoice(c.tenant_id, c.tenant_name or c.tenant_id,
                             {"tenant_id": c.tenant_id, "tenant_name": c.tenant_name or ""}) for c in tenants]
    return ConnectResult(secrets=secrets, settings=out, label=f"Xero: {chosen.tenant_name or chosen.tenant_id}",
                         choices=choices, account=next(c for c in choices if c.id == chosen.tenant_id))


async def current_user(xero: XeroClient) -> RemoteUser | None:
    users = await xero.users()
    settings = xero.connection.settings
    user_id = settings.get("user_id") or token_claims(xero.runtime.secrets(xero.connection).get("access_token", "")).get("xero_userid")
    email = str(settings.get("user_email") or "").lower()
    match = (next((u for u in users if user_id and u.user_id == user_id), None)
             or next((u for u in users if email and (u.email_address or "").lower() == email), None)
             or (users[0] if len(users) == 1 else None))
    return t.remote_user(match) if match else None


async def check(xero: XeroClient) -> Health:
    try:
        user = await current_user(xero)
    except BackendError as exc:
        return Health(ok=False, detail=str(exc.message))
    tenant = xero.connection.settings.get("tenant_name") or xero.tenant_id
    if user is None:
        return Health(ok=False, detail=f"Connected to {tenant}, but the Xero user who connected could not be found "
                                       "in its user list; reconnect Xero")
    role = t.ROLE_LABELS.get(user.role, user.role)
    if not user.may_create:
        return Health(ok=False, user=user,
                      detail=f"{user.name} has the {role} role in {tenant}; only Standard and Adviser users may create "
                             "invoices: ask a Xero admin to change the role, or connect as another user")
    return Health(ok=True, user=user, detail=f"Connected to {tenant} as {user.name} ({role})")


async def together(*calls: Any) -> list[Any]:
    """Run calls side by side (the limiter keeps the tenant's five in flight); when one fails, cancel the rest
    and raise its error. ``asyncio.gather`` would leave the others running unobserved, their answers lost."""
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(call) for call in calls]
    except BaseExceptionGroup as failed:
        first: BaseException = failed
        while isinstance(first, BaseExceptionGroup):
            first = first.exceptions[0]
        raise first from None
    return [task.result() for task in tasks]


# ---- catalog ------------------------------------------------------------------------------------------


async def catalog(xero: XeroClient) -> Catalog:
    org, items, rates, accounts, currencies, themes = await together(
        xero.organisation(),
        xero.get_list("Items", "Items", w.Item, params={"unitdp": 4}),
        xero.get_list("TaxRates", "TaxRates", w.TaxRate),
        xero.get_list("Accounts", "Accounts", w.Account),
        xero.get_list("Currencies", "Currencies", w.Currency),
        xero.get_list("BrandingThemes", "BrandingThemes", w.BrandingTheme),
    )
    await remember_organisation(xero, org)
    return t.catalog_from_wire(org, items, rates, accounts, currencies, themes)


async def remember_organisation(xero: XeroClient, org: w.Organisation) -> None:
    settings = xero.connection.settings
    if org.short_code and (settings.get("short_code") != org.short_code or settings.get("base_currency") != org.base_currency):
        xero.connection = await xero.runtime.update_settings(
            xero.connection, {**settings, "short_code": org.short_code, "base_currency": org.base_currency or ""}
        ) or xero.connection


# ---- customers ----------------------------------------------------------------------------------------


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def best_contact(customer: Customer, found: list[w.Contact]) -> w.Contact | None:
    """By priority: our external key (ContactNumber), tax number, email, then name."""
    active = [c for c in found if (c.contact_status or "ACTIVE") == "ACTIVE" and c.contact_id]
    tests = []
    if customer.external_key:
        tests.append(lambda c: c.contact_number == customer.external_key[:50])
    if customer.tax_number:
        tests.append(lambda c: norm(c.tax_number) == norm(customer.tax_number))
    if customer.email:
        tests.append(lambda c: norm(c.email_address) == norm(customer.email))
    tests.append(lambda c: norm(c.name) == norm(customer.name))
    for test in tests:
        match = next((c for c in active if test(c)), None)
        if match:
            return match
    return None


async def find_or_create_customers(xero: XeroClient, customers: Sequence[Customer]) -> list[str]:
    """Match each customer in the tenant's local contact copy (refreshed with ``If-Modified-Since``), then
    create the missing ones in batches of 50, up to five batches at once. Calls: the changed-contacts pages
    (usually one) plus one per 50 new customers, however many customers there are. More new customers than one
    batch holds (a bulk run) are left to the invoice requests, which create them (``inline_contacts``): their
    id is ``inline.NEW``."""
    cache = ContactCache.for_tenant(xero.runtime, xero.tenant_id)
    await cache.refresh(xero)
    ids: list[str | None] = [None] * len(customers)
    for index, customer in enumerate(customers):
        match = best_contact(customer, cache.candidates(customer))
        if match:
            ids[index] = match.contact_id
    # create the missing ones once each (two deals of the same organisation share a contact)
    pending: dict[str, list[int]] = {}
    for index, customer in enumerate(customers):
        if ids[index] is None:
            pending.setdefault(customer.external_key or norm(customer.name), []).append(index)
    if len(pending) > BATCH_SIZE:
        return [str(i) if i is not None else inline.NEW for i in ids]
    batches = list(chunks(list(pending.values())))
    created = await together(*(_create_contact_batch(xero, cache, customers, batch) for batch in batches))
    for batch, contact_ids in zip(batches, created, strict=True):
        for group, contact_id in zip(batch, contact_ids, strict=True):
            for index in group:
                ids[index] = contact_id
    if batches:
        await cache.save()
    return [str(i) for i in ids]


async def _create_contact_batch(xero: XeroClient, cache: ContactCache, customers: Sequence[Customer],
                                batch: Sequence[list[int]]) -> list[str]:
    wires = [t.customer_to_wire(customers[group[0]]) for group in batch]
    key = t.idempotency_key("contacts", w.dumps([w.unstructure(c) for c in wires]).decode())
    created = await xero.create_contacts(wires, key)
    if len(created) != len(batch):  # else a customer would be left without a contact (its id "None")
        raise RemoteValidationError(_("Xero answered %(got)s contacts for %(sent)s sent") % {"got": len(created), "sent": len(batch)}, backend="xero")
    out: list[str] = []
    for group, element in zip(batch, created, strict=True):
        customer = customers[group[0]]
        contact_id = element.contact_id if not t.element_failed(element) else None
        if contact_id is not None:
            cache.add([element])
        else:
            messages = t.element_errors(element)
            if any(NAME_TAKEN in msg for msg in messages):
                # Xero says the name is taken: that contact is this customer
                taken = await xero.find_contacts(f"Name=={_quote(customer.name)}")
                cache.add(taken)
                contact_id = next((c.contact_id for c in taken if c.contact_id), None)
            if contact_id is None:
                raise RemoteValidationError(
                    f"Xero could not create the contact {customer.name!r}: {'; '.join(messages) or 'unknown error'}",
                    messages=messages, backend="xero",
                )
        out.append(contact_id)
    return out


# ---- invoices -----------------------------------------------------------------------------------------


def _result(request: CreateRequest, element: w.Invoice) -> CreateResult:
    if t.element_failed(element) or not element.invoice_id or element.invoice_id.startswith("00000000-"):
        messages = t.element_errors(element) or ["Xero did not create the invoice and gave no reason"]
        return CreateResult(operation_key=request.operation_key, error="; ".join(messages), errors=messages)
    return CreateResult(operation_key=request.operation_key, invoice=t.invoice_from_wire(element))


REFUSED_KV = "xero.refused"  # operation key -> how many of its creates Xero refused outright


def _attempt_key(xero: XeroClient, operation_key: str) -> str:
    """The operation key, plus a count of Xero's earlier outright refusals of it. Xero replays the first answer
    to an Idempotency-Key for 6 minutes, refusals included, and refuses the key with a changed body (fact sheet
    §2): after a refusal (nothing was created) the next attempt must be a new request to Xero."""
    refused = int(xero.runtime.kv_get(REFUSED_KV, operation_key) or 0)
    return f"{operation_key}~{refused}" if refused else operation_key


async def _note_refused(xero: XeroClient, operation_key: str) -> None:
    await xero.runtime.kv_set(REFUSED_KV, operation_key, int(xero.runtime.kv_get(REFUSED_KV, operation_key) or 0) + 1)


async def _create_batch(xero: XeroClient, batch: Sequence[CreateRequest]) -> list[CreateResult]:
    wires = [inline.invoice_wire(r) if r.contact_id == inline.NEW else t.draft_to_wire(r.draft, r.contact_id)
             for r in batch]
    key = t.idempotency_key(*[_attempt_key(xero, r.operation_key) for r in batch])
    try:
        created = await xero.create_invoices(wires, key)
    except (RemoteNotFound, RemoteValidationError):
        if len(batch) == 1:  # the whole request was refused (e.g. an unknown ContactID): nothing was created
            await _note_refused(xero, batch[0].operation_key)
        raise
    if len(created) != len(batch):
        raise RemoteValidationError(_("Xero answered %(got)s invoices for %(sent)s sent") % {"got": len(created), "sent": len(batch)}, backend="xero")
    if any(r.contact_id == inline.NEW for r in batch):
        await inline.learn(ContactCache.for_tenant(xero.runtime, xero.tenant_id), created)
    results = [_result(r, el) for r, el in zip(batch, created, strict=True)]
    for result in results:
        if not result.ok:  # an ERROR element: Xero created nothing for it
            await _note_refused(xero, result.operation_key)
    return results


async def create_invoices(xero: XeroClient, requests: Sequence[CreateRequest]) -> list[CreateResult]:
    """Batches of 50, sent together (the tenant's limiter keeps five in flight and 60 a minute); one result
    per request, in order."""
    now, later = inline.waves(requests, BATCH_SIZE)
    answers = await together(*(_create_isolating(xero, batch) for batch in chunks(now)))
    results = {r.operation_key: r for answer in answers for r in answer}
    if later:  # their new customer rode in a batch above: name the contact Xero made for it
        cache = ContactCache.for_tenant(xero.runtime, xero.tenant_id)
        for result in await create_invoices(xero, inline.resolve(cache, later, best_contact)):
            results[result.operation_key] = result
    return [results[r.operation_key] for r in requests]


async def _create_isolating(xero: XeroClient, batch: Sequence[CreateRequest]) -> list[CreateResult]:
    results: list[CreateResult] = []
    try:
        results.extend(await _create_batch(xero, batch))
    except (AuthError, DailyLimitReached, DuplicateOperation):
        raise  # nothing in this run can succeed; the caller stops and tells the user
    except (RemoteNotFound, RemoteValidationError) as exc:
        if len(batch) == 1:  # e.g. an unknown ContactID fails the whole request with 404
            return [CreateResult(operation_key=batch[0].operation_key, error=exc.message,
                                 errors=getattr(exc, "messages", ()) or (exc.message,))]
        # isolate the bad one so the others still get created; some may have been saved before Xero
        # failed the request, so look for those first instead of creating them twice
        already = await find_created(xero, batch)
        for request in batch:
            if request.operation_key in already:
                results.append(CreateResult(operation_key=request.operation_key,
                                            invoice=already[request.operation_key]))
                continue
            try:
                results.extend(await _create_batch(xero, [request]))
            except (RemoteNotFound, RemoteValidationError) as one:
                results.append(CreateResult(operation_key=request.operation_key, error=one.message,
                                            errors=getattr(one, "messages", ()) or (one.message,)))
    except BackendError as exc:
        answered = {r.operation_key for r in results}
        results.extend(CreateResult(operation_key=r.operation_key, error=exc.message, retryable=exc.retryable)
                       for r in batch if r.operation_key not in answered)
    return results


def _fingerprint_draft(request: CreateRequest) -> tuple:
    d = request.draft
    return (request.contact_id, d.reference, d.url, d.date, d.currency, d.totals.total)


def _fingerprint_wire(x: w.Invoice) -> tuple:
    return (x.contact.contact_id if x.contact else "", x.reference or "", x.url or "", x.date, x.currency_code,
            t.m.money(x.total or 0))


async def find_created(xero: XeroClient, requests: Sequence[CreateRequest]) -> dict[str, Invoice]:
    """Invoices this app already created for ``requests`` (after a crash, once idempotency keys expired).

    Our choice: ask Xero for invoices of the requests' contacts created by this app (``ContactIDs`` and
    ``createdByMyApp``, both indexed filters) and match each request on its invoice number when the draft has
    one, else on (contact, Reference, Url (the deal link), date, currency, total). Each remote invoice answers
    at most one request, oldest first, so two identical drafts of two operations map to two invoices, and an
    invoice already recorded for another operation (``context.recorded_operation``) answers none: without that, a second
    deal invoice with the same lines would adopt the first one and the second would never be made. A deleted
    invoice counts (the operation did create it; someone deleted it since), so it is not made twice."""
    if any(r.contact_id == inline.NEW for r in requests):  # a new customer: made already if any invoice was
        cache = ContactCache.for_tenant(xero.runtime, xero.tenant_id)
        await cache.refresh(xero, force=True)
        requests = inline.resolve(cache, requests, best_contact)
    contact_ids = sorted({r.contact_id for r in requests if r.contact_id})
    if not contact_ids:
        return {}
    found: list[w.Invoice] = []
    for group in chunks(contact_ids, 40):
        found.extend(await xero.invoices(params={"ContactIDs": ",".join(group), "createdByMyApp": "true"}))
    owner: dict[str | None, str | None] = {x.invoice_id: xero.runtime.recorded_operation("xero", x.invoice_id) for x in found if x.invoice_id}
    candidates = [x for x in found if x.invoice_id]
    candidates.sort(key=lambda x: (x.updated_date_utc or dt.datetime.min.replace(tzinfo=dt.timezone.utc)))
    used: set[str | None] = set()
    out: dict[str, Invoice] = {}
    for request in requests:
        number = request.draft.number
        wanted = None if number else _fingerprint_draft(request)
        match = next((x for x in candidates if x.invoice_id not in used and owner.get(x.invoice_id) in (None, request.operation_key)
                      and (x.invoice_number == number if number else _fingerprint_wire(x) == wanted)), None)
        if match:
            used.add(match.invoice_id)
            out[request.operation_key] = t.invoice_from_wire(match)
    return out


async def change_status(xero: XeroClient, remote_id: str, command: Any, operation_key: str) -> Invoice:
    cmd = Command.parse(command)
    key = t.idempotency_key(operation_key)
    if cmd is Command.EMAIL:
        await xero.email_invoice(remote_id, key)
        return t.invoice_from_wire(await xero.invoice(remote_id))
    return t.invoice_from_wire(await xero.update_invoice(remote_id, {"Status": STATUS_FOR[cmd]}, key))


SYNC_KV = "xero.sync"  # per tenant: the If-Modified-Since of the next changed-invoices read
ID_CHUNK = 40  # invoice ids per GET /Invoices?IDs= (keeps the URL short)


async def get_invoices(xero: XeroClient, remote_ids: Sequence[str]) -> list[Invoice]:
    """Invoices by id. More than one ``IDs`` request's worth (a burst of webhooks) is read instead as the
    invoices this app created that changed since the last such read (one page per 1,000), and only ids that
    read did not return are asked for by id."""
    wanted = list(dict.fromkeys(remote_ids))
    found: dict[str, Invoice] = {}
    if len(wanted) > ID_CHUNK and xero.runtime.kv_get(SYNC_KV, xero.tenant_id):
        keep = {i.lower() for i in wanted}
        for invoice in await _changed(xero, xero.runtime.kv_get(SYNC_KV, xero.tenant_id)):
            if invoice.remote_id.lower() in keep:
                found[invoice.remote_id.lower()] = invoice
    for group in chunks([i for i in wanted if i.lower() not in found], ID_CHUNK):
        for x in await xero.invoices(params={"IDs": ",".join(group)}):
            found[(x.invoice_id or "").lower()] = t.invoice_from_wire(x)
    return [found[i.lower()] for i in wanted if i.lower() in found]


async def modified_since(xero: XeroClient, since: dt.datetime | None) -> list[Invoice]:
    return await _changed(xero, t.http_date(since) if since else None)


async def _changed(xero: XeroClient, stamp: str | None) -> list[Invoice]:
    """Invoices created by this app and modified since ``stamp`` (all pages of 1,000); remembers when this
    read started (less a minute of overlap) for the next burst of webhooks."""
    started = xero.runtime.now()
    invoices = [t.invoice_from_wire(x) for x in await xero.invoices(params={"createdByMyApp": "true"},
                                                                    modified_since=stamp)]
    await xero.runtime.kv_set(SYNC_KV, xero.tenant_id, t.http_date(started - dt.timedelta(minutes=1)))
    return invoices


async def invoice_pdf(xero: XeroClient, remote_id: str) -> bytes:
    content = await xero.invoice_pdf(remote_id)
    if not content.startswith(b"%PDF"):
        raise BackendError(_("Xero did not send a PDF for this invoice; try again or open it in Xero"), backend="xero")
    return content


NOT_SHAREABLE = {
    InvoiceStatus.DRAFT: "Xero has no online invoice for drafts; approve it first",
    InvoiceStatus.AWAITING_APPROVAL: "Xero has no online invoice until it is approved; approve it first",
    InvoiceStatus.DELETED: "a deleted invoice cannot be shared",
}


async def share_link(xero: XeroClient, remote_id: str) -> str:
    invoice = t.invoice_from_wire(await xero.invoice(remote_id))
    if invoice.status in NOT_SHAREABLE:
        raise IllegalTransition(invoice=f"invoice {invoice.number or remote_id}", status=invoice.status,
                                command="share", reason=NOT_SHAREABLE[invoice.status])
    url = await xero.online_invoice_url(remote_id)
    if not url:
        raise BackendError(_("Xero returned no online invoice link; open the invoice in Xero to share it"), backend="xero")
    return url


async def deep_link(xero: XeroClient, remote_id: str) -> str:
    short_code = xero.connection.settings.get("short_code")
    if not short_code:
        org = await xero.organisation()
        await remember_organisation(xero, org)
        short_code = org.short_code or ""
    base = xero.config.deep_link_base
    return (f"{base}/organisationlogin/default.aspx?shortcode={short_code}"
            f"&redirecturl=/AccountsReceivable/View.aspx?InvoiceID={remote_id}")
