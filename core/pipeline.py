"""The use cases, written once against the plugin facade: preview, create (one or many), status commands,
sync (webhooks and reconciliation) and the automation on won deals.

Creation is exactly-once. Every create is an *operation* written to the store before any remote call, under a
stable key that is also the accounting API's idempotency key. The operation carries the draft itself, so a
retry sends the very same request. A crash at any point leaves the operation pending or in flight; the next
:meth:`Pipeline.recover` (at start-up and on every sync) asks the backend whether the invoice already exists
(``accounting_find_created``) before creating it, so the backend's idempotency window is not relied on.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import hashlib
import json
import logging
import re
from decimal import Decimal
from typing import Any, Iterable, Mapping, Sequence

import attrs

from . import i18n
from . import money as m
from .errors import (
    BackendError,
    DuplicateOperation,
    IllegalTransition,
    InvoiceBridgeError,
    MappingError,
    NotConnected,
    NotFound,
    ValidationProblem,
)
from .i18n import _
from .mapping import MappingConfig, empty_optional_fields, map_deal
from .opkeys import LEGACY_SOURCES, legacy_operation_keys, operation_key
from .model import (
    Capabilities,
    Catalog,
    CreateRequest,
    CreateResult,
    CrmField,
    Deal,
    DealQuery,
    Invoice,
    InvoiceDraft,
    InvoiceRecord,
    LineItem,
    Role,
    TaxHandling,
    WebhookRequest,
)
from .model import WebhookEvent
from .payloads import MalformedPayload, is_ident
from . import workers
from .plugins import Plugins
from .runtime import Runtime
from .serde import dump_draft, load_draft
from .totals import live_invoice_warning, live_invoices, settle, tax_rate_changes, value_difference
from .i18n import _, format_money, format_number, lazy_, lazy_money, use_locale
from .status import COMMAND_LABELS, LABELS, Command, InvoiceStatus, allowed_commands, apply_command, apply_observed_status

log = logging.getLogger("invoicebridge.pipeline")
CATALOG_TTL = dt.timedelta(minutes=5)
DEAL_VIEW_TTL = dt.timedelta(seconds=30)
SEARCH_LIMIT = 50
_LINK = re.compile(r"^(?:[a-z][a-z0-9+.-]*://|www\.|[a-z0-9-]+(?:\.[a-z0-9-]+)+/)", re.I)  # a pasted address
# How long a claimed create operation is ours. Renewed just before each batch is sent, so it must outlast one
# batch call with its retries (4 attempts, up to 3 waits of a Retry-After of at most 60 s); it stays under the
# shortest idempotency window a backend declares (Capabilities.idempotency_window, 6 minutes at the least we
# know), so a take-over after it ends replays rather than duplicates.
LEASE_SECONDS = 300
BULK_CHUNK = 250  # deals per step of a bulk run (create calls of the backend's Capabilities.batch_size)
SETTLE_PENDING = "settle-pending"  # kv: invoice id -> why it needs no more sending, until the CRM was told
SETTLED_REASONS = {InvoiceStatus.PAID: "paid", InvoiceStatus.VOIDED: "voided", InvoiceStatus.DELETED: "deleted"}
OWNER_NAMESPACE = "operation-holder"  # kv: operation key -> the process that claimed it last (core.workers)
# Set by create_many: invoices recorded in its task queue their CRM write-back here instead of doing it at once.
_DEFERRED_WRITEBACKS: contextvars.ContextVar[list | None] = contextvars.ContextVar("deferred_writebacks", default=None)


@attrs.frozen
class Preview:
    deal: Deal
    draft: InvoiceDraft
    problems: tuple[str, ...] = ()  # block sending
    warnings: tuple[str, ...] = ()  # worth knowing
    live_invoices: tuple[InvoiceRecord, ...] = ()  # the deal's invoices that still count (not voided or deleted)

    @property
    def ok(self) -> bool:
        return not self.problems


@attrs.frozen
class DealSearch:
    """What a search for a deal found: the matching deals, or the one deal a link or number names (``open_id``),
    or what is wrong with the query (``problem``, said for a person)."""

    query: str
    deals: tuple = ()
    open_id: str = ""
    problem: str = ""


@attrs.frozen
class BulkItem:
    deal_id: str
    operation_key: str
    record: InvoiceRecord | None = None
    error: str = ""
    problems: tuple[str, ...] = ()
    retryable: bool = False
    draft: InvoiceDraft | None = None  # a dry run's preview


@attrs.frozen
class SyncReport:
    checked: int = 0
    changed: int = 0
    rejected: int = 0
    recovered: int = 0


def request_hash(payload: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


SOURCES = {  # where a create or a status came from, as the audit timeline says it
    "page": lazy_("the web page"), "api": lazy_("the API"), "cli": lazy_("the command line"), "bulk": lazy_("a bulk run"),
    "automation": lazy_("the automation"), "webhook": lazy_("a webhook"), "sync": lazy_("a sync"),
    "reconcile": lazy_("the regular sync"), "reconciliation": lazy_("the regular sync"), "recovery": lazy_("a restart"),
}


def source_text(source: str) -> Any:
    """A source as a lazy text (``command:void`` is "Void in invoicebridge"); unknown sources as they are."""
    if source.startswith("command:"):
        try:
            return lazy_("%(command)s in invoicebridge", command=COMMAND_LABELS[Command(source.split(":", 1)[1])])
        except ValueError:
            return source
    return SOURCES.get(source, source)


def status_text(record: InvoiceRecord) -> Any:
    """The record's label as a lazy text ("Partly paid" for an approved invoice with a payment)."""
    from .status import PARTLY_PAID_LABEL, _positive

    if record.status is InvoiceStatus.AWAITING_PAYMENT and _positive(record.amount_paid):
        return PARTLY_PAID_LABEL
    return LABELS[record.status]


class OperationInProgress(InvoiceBridgeError):
    status_code = 409


class AnotherInvoice(InvoiceBridgeError):
    """The deal already has a live invoice and the caller did not say another one is intended."""

    status_code = 409


class CreateRefused(InvoiceBridgeError):
    """The backend refused the invoice for good (retrying the same request cannot help): the caller's to fix."""

    status_code = 422


class Pipeline:
    def __init__(self, runtime: Runtime, plugins: Plugins) -> None:
        self.runtime = runtime
        self.plugins = plugins
        self.store = runtime.store
        runtime.plugins = plugins

    # ---- configuration and catalog -------------------------------------------------------------------

    def mapping(self) -> MappingConfig:
        return MappingConfig.from_dict(self.store.get_mapping_data())

    def save_mapping(self, config: MappingConfig) -> None:
        self.store.set_mapping_data(config.to_dict())
        self.store.audit("settings", lazy_("Mapping saved"), data=config.to_dict())

    def _crm_language(self):
        """What plugins write into the CRM (reminders, notes) is in the default language of the settings."""
        return use_locale(self.store.get_settings().get("language"))

    def _label(self, connection) -> str:
        try:
            return self.plugins.backend(connection.backend).label or connection.backend
        except InvoiceBridgeError:
            return connection.backend

    @property
    def crm(self):
        return self.runtime.connection(Role.CRM)

    @property
    def accounting(self):
        return self.runtime.connection(Role.ACCOUNTING)

    def capabilities(self, connection=None) -> Capabilities:
        """What the (accounting) backend can do; the defaults when no plugin provides it any more."""
        connection = connection or self.runtime.maybe_connection(Role.ACCOUNTING)
        try:
            return self.plugins.backend(connection.backend).capabilities if connection else Capabilities()
        except InvoiceBridgeError:
            return Capabilities()

    async def catalog(self, *, refresh: bool = False) -> Catalog:
        conn = self.accounting
        cached = self.runtime.cache.get(("catalog", conn.id))
        now = self.runtime.now()
        if cached and not refresh and now - cached[0] < CATALOG_TTL:
            return cached[1]
        catalog = await self.plugins.catalog(self.runtime, connection=conn)
        self.runtime.cache[("catalog", conn.id)] = (now, catalog)
        return catalog

    async def fields(self, *, refresh: bool = False) -> list[CrmField]:
        conn = self.crm
        cached = self.runtime.cache.get(("fields", conn.id))
        now = self.runtime.now()
        if cached and not refresh and now - cached[0] < CATALOG_TTL:
            return cached[1]
        fields = list(await self.plugins.list_fields(self.runtime, connection=conn))
        self.runtime.cache[("fields", conn.id)] = (now, fields)
        return fields

    # ---- preview -------------------------------------------------------------------------------------

    async def get_deal(self, deal_id: str) -> Deal:
        """The deal as the CRM has it now (what previews and creates use)."""
        deal = await self.plugins.get_deal(self.runtime, connection=self.crm, deal_id=str(deal_id))
        self.runtime.cache[("deal-view", str(deal_id))] = (self.runtime.now(), deal)
        return deal

    async def deal_for_display(self, deal_id: str) -> Deal:
        """The deal for a page view: a snapshot up to DEAL_VIEW_TTL old, dropped whenever a CRM webhook
        says the deal changed, so a busy deal page does not spend the CRM's rate limit on every view."""
        cached = self.runtime.cache.get(("deal-view", str(deal_id)))
        if cached and self.runtime.now() - cached[0] < DEAL_VIEW_TTL:
            return cached[1]
        return await self.get_deal(deal_id)

    def forget_deal(self, deal_id: str) -> None:
        self.runtime.cache.pop(("deal-view", str(deal_id)), None)
        self.runtime.cache.pop("recent-deals", None)

    async def recent_deals(self, limit: int = 25) -> list[Deal]:
        """The CRM's latest deals for the dashboard: a snapshot kept like the deal page's, so every dashboard
        view does not spend CRM calls (any CRM webhook drops it)."""
        cached = self.runtime.cache.get("recent-deals")
        if cached and self.runtime.now() - cached[0] < DEAL_VIEW_TTL:
            return cached[1][:limit]
        conn = self.crm
        ids = await self.plugins.find_deals(self.runtime, connection=conn, query=DealQuery(status="", limit=limit))
        deals = list(await self.plugins.get_deals(self.runtime, connection=conn, deal_ids=[str(i) for i in ids][:limit]))
        self.runtime.cache["recent-deals"] = (self.runtime.now(), deals)
        return deals

    async def search_deals(self, text: str, limit: int = SEARCH_LIMIT) -> DealSearch:
        """Find a deal as a person asks for it: part of its title or organization's name, its number, or a link
        to it copied from the CRM (which names one deal: ``open_id``)."""
        query = " ".join(str(text or "").split())[:300]
        if not query:
            return DealSearch(query, problem=_("Type part of a deal's title or organization name, its number, or paste its link."))
        conn = self.crm
        if _LINK.match(query):
            try:
                deal_id = await self.plugins.deal_id_from_url(self.runtime, connection=conn, url=query)
            except NotFound as exc:
                return DealSearch(query, problem=exc.message)
            if deal_id is None:
                return DealSearch(query, problem=_("That is not a link to a deal in %(crm)s: open the deal there and copy "
                                                   "the address from the browser.") % {"crm": self._label(conn)})
            return DealSearch(query, open_id=str(deal_id))
        if query.isdigit() and query.isascii():
            return DealSearch(query, open_id=query)
        if len(query) < 2:
            return DealSearch(query, problem=_("Type at least two letters to search."))
        found = await self.plugins.search_deals(self.runtime, connection=conn, term=query, limit=limit)
        return DealSearch(query, deals=tuple(found)[:limit])

    async def preview(self, deal_id: str, overrides: Mapping[str, Any] | None = None, *, deal: Deal | None = None) -> Preview:
        """Read, map and validate; raise :class:`MappingError` when the deal cannot be mapped at all."""
        deal = deal or await self.get_deal(deal_id)
        catalog = await self.catalog()
        fields = await self.fields()
        config = self._for_backend(self.mapping())
        mapped = settle(map_deal(deal, config, catalog, self.runtime.today(), fields), catalog)
        # Settled: every line carries the tax the accounting system will apply (an item's or account's default
        # when it names none), so draft.totals is what will be stored, to the cent.
        draft = settle(apply_overrides(mapped, overrides, catalog), catalog) if overrides else mapped
        problems = validate_against_catalog(draft, catalog)
        problems.extend(self._status_problems(draft.status))
        warnings = empty_optional_fields(deal, config, fields)
        for line in draft.line_items:
            if not line.item_code and any(p.code and p.name == line.description for p in deal.products):
                warnings.append(_("Line '%(description)s': no accounting item has the product's code; it is sent as free text")
                                % {"description": line.description})
        if config.use_products:
            warnings.extend(tax_rate_changes(deal, mapped, catalog))
        difference = value_difference(deal, draft, edited=draft.line_items != mapped.line_items)
        if difference:
            warnings.append(difference)
        live = live_invoices(self.store.invoices_for_deal(deal.id))
        if live:
            warnings.append(live_invoice_warning(live))
        return Preview(deal=deal, draft=draft, problems=tuple(problems), warnings=tuple(warnings), live_invoices=tuple(live))

    # ---- create --------------------------------------------------------------------------------------

    def _for_backend(self, config: MappingConfig) -> MappingConfig:
        """The mapping as the connected backend can take it: its default revenue account when the mapping names
        none, and a status it has (no drafts: created awaiting payment; no approval step: never awaiting it)."""
        caps = self.capabilities()
        changes: dict[str, Any] = {}
        if not config.account_code and caps.default_account_code:
            changes["account_code"] = caps.default_account_code
        if (config.status is InvoiceStatus.DRAFT and not caps.drafts) or \
                (config.status is InvoiceStatus.AWAITING_APPROVAL and not caps.approval_step):
            changes["status"] = InvoiceStatus.DRAFT if caps.drafts else InvoiceStatus.AWAITING_PAYMENT
        return attrs.evolve(config, **changes) if changes else config

    def _status_problems(self, status: InvoiceStatus) -> list[str]:
        caps = self.capabilities()
        if status is InvoiceStatus.DRAFT and not caps.drafts:
            return [_("The connected accounting system keeps no drafts: create the invoice as %(status)s") % {
                "status": InvoiceStatus.AWAITING_PAYMENT.label}]
        if status is InvoiceStatus.AWAITING_APPROVAL and not caps.approval_step:
            return [_("The connected accounting system has no approval step: create the invoice as %(status)s") % {
                "status": InvoiceStatus.AWAITING_PAYMENT.label if not caps.drafts else InvoiceStatus.DRAFT.label}]
        return []

    async def create_invoice(
        self,
        deal_id: str,
        *,
        overrides: Mapping[str, Any] | None = None,
        key: str | None = None,
        source: str = "api",
        allow_another: bool = True,
    ) -> InvoiceRecord:
        """Create one invoice for a deal, exactly once per ``key`` within ``source`` (a new key when none is
        given). The stored operation key is :func:`operation_key` ``(source, key)``.

        With ``allow_another=False`` a deal that already has a live invoice raises :class:`AnotherInvoice`
        naming it (a replay of an earlier create with the same key still answers that create)."""
        deal_id = str(deal_id)
        request = {"deal_id": deal_id, "overrides": dict(overrides or {})}
        # the caller's key is compared exactly, within its source's namespace (see core.opkeys)
        key = self.stored_key(source, key, deal_id=deal_id) if key is not None else \
            operation_key(source, "", deal_id, self.runtime.now().strftime('%Y%m%d%H%M%S%f'))
        existing = self._existing_operation(key, request)
        if existing is not None:
            return existing
        if not allow_another:
            live = live_invoices(self.store.invoices_for_deal(deal_id))
            if live:
                raise AnotherInvoice(live_invoice_warning(live), deal_id=deal_id,
                                     live_invoices=[r.number or r.remote_id for r in live])
        preview = await self.preview(deal_id, overrides)
        if preview.problems:
            raise ValidationProblem(list(preview.problems), deal_id=deal_id)
        op, created = self.store.put_operation(
            key,
            kind="create",
            deal_id=deal_id,
            payload={"draft": dump_draft(preview.draft), "source": source},
            request_hash=request_hash(request),
        )
        if not created:  # lost a race with the same key
            existing = self._existing_operation(key, request)
            if existing is not None:
                return existing
        self.store.audit("create_requested", lazy_("Invoice requested from %(source)s", source=source_text(source)), deal_id=deal_id,
                         data={"operation": key})
        items = await self._run_creates([key], deals={deal_id: preview.deal})
        item = items[0]
        if item.record is None:
            raise _error_for(item)
        return item.record

    def stored_key(self, source: str, *parts: object, deal_id: str) -> str:
        """The operation key for ``parts`` within ``source``; an operation an earlier version stored for the
        same request (folded keys, see :func:`legacy_operation_keys`) is kept when it is the same source's and
        the same deal's, so a request replayed across an upgrade is not created twice."""
        key = operation_key(source, *parts)
        legacy = legacy_operation_keys(source, *parts)
        if not legacy or self._operation_or_none(key) is not None:
            return key
        for old in legacy:
            op = self._operation_or_none(old)
            if op is not None and op["deal_id"] == str(deal_id) and (op["payload"] or {}).get("source") in LEGACY_SOURCES.get(source, ()):
                return old
        return key

    def _operation_or_none(self, key: str) -> dict[str, Any] | None:
        try:
            return self.store.get_operation(key)
        except NotFound:
            return None

    def _existing_operation(self, key: str, request: Mapping[str, Any]) -> InvoiceRecord | None:
        try:
            op = self.store.get_operation(key)
        except NotFound:
            return None
        if op["request_hash"] and op["request_hash"] != request_hash(request):
            raise DuplicateOperation(
                _("The idempotency key '%(key)s' was already used for a different request; use a new key") % {"key": key},
                operation=key,
            )
        record = self.store.invoice_by_operation(key)
        if record is not None:
            return record
        if op["state"] == "in_flight" and not self._lease_expired(op):
            raise OperationInProgress(
                _("This invoice is already being created (operation %(key)s); refresh in a moment") % {"key": key}, operation=key
            )
        if op["state"] == "dead":
            raise CreateRefused(_("Creating this invoice failed: %(error)s; use Retry on the dashboard") % {"error": op["last_error"]},
                                operation=key)
        return None

    def _lease_expired(self, op: Mapping[str, Any]) -> bool:
        until = op.get("lease_until") or ""
        return not until or dt.datetime.fromisoformat(until) < self.runtime.now()

    async def retry_operation(self, key: str) -> BulkItem:
        op = self.store.get_operation(key)
        if op["state"] == "done":
            return BulkItem(deal_id=op["deal_id"], operation_key=key, record=self.store.invoice_by_operation(key))
        if op["state"] == "dead":
            self.store.fail_operation(key, op["last_error"])  # back to retryable
        items = await self._run_creates([key])
        return items[0]

    async def create_many(
        self,
        deal_ids: Sequence[str],
        *,
        run_id: str,
        source: str = "bulk",
        dry_run: bool = False,
        progress=None,
    ) -> list[BulkItem]:
        """Invoice many deals: read them in batches, map and check each, then create in chunks of
        :data:`BULK_CHUNK` (batches of 50 at the backend) with one result per deal, in the order asked.

        Exactly once: a deal that already has a live invoice is reported with it, not invoiced again; a deal
        with an unfinished create (this run's or an earlier one's) has that operation finished instead of a
        new one. Re-running a run id retries its retryable failures. The CRM write-backs (reminder activity,
        note) are made after every invoice of the run exists, so they never hold back the accounting API.
        ``progress(done, total)`` is called after each chunk; a dry run creates nothing and returns each
        deal's draft and problems."""
        deal_ids = list(dict.fromkeys(str(d) for d in deal_ids))
        deals = await self.plugins.get_deals(self.runtime, connection=self.crm, deal_ids=deal_ids)
        by_id = {d.id: d for d in deals}
        results: dict[str, BulkItem] = {}
        todo: list[tuple[str, str]] = []  # (deal id, operation key)
        for deal_id in deal_ids:
            key = self.stored_key(source, run_id, deal_id, deal_id=deal_id)
            done = self.store.invoice_by_operation(key) or _live_invoice(self.store.invoices_for_deal(deal_id))
            if done is not None:
                results[deal_id] = BulkItem(deal_id=deal_id, operation_key=done.operation_key or key, record=done,
                                            problems=() if done.operation_key == key else (
                                                _("already invoiced (%(number)s)") % {"number": done.number or done.remote_id},))
                continue
            unfinished = [op for op in self.store.operations(states=("pending", "in_flight", "failed"), deal_id=deal_id)
                          if op["kind"] == "create"]
            if unfinished and not dry_run:
                todo.append((deal_id, unfinished[0]["key"]))  # finish that one; never start a second
                continue
            deal = by_id.get(deal_id)
            if deal is None:
                results[deal_id] = BulkItem(deal_id=deal_id, operation_key=key, error=_("Deal %(deal)s was not found in the CRM") % {"deal": deal_id})
                continue
            try:
                preview = await self.preview(deal_id, deal=deal)
            except MappingError as exc:
                results[deal_id] = BulkItem(deal_id=deal_id, operation_key=key, error=str(exc))
                continue
            if preview.problems:
                results[deal_id] = BulkItem(deal_id=deal_id, operation_key=key, error="; ".join(preview.problems),
                                            problems=preview.problems)
                continue
            if dry_run:
                results[deal_id] = BulkItem(deal_id=deal_id, operation_key=key, problems=preview.warnings, draft=preview.draft)
                continue
            op, _created = self.store.put_operation(key, kind="create", deal_id=deal_id,
                                             payload={"draft": dump_draft(preview.draft), "source": source},
                                             request_hash=request_hash({"deal_id": deal_id, "overrides": {}}))
            if op["state"] == "dead":  # failed for good earlier in this run: a re-run is the person's Retry
                self.store.fail_operation(key, op["last_error"])
            todo.append((deal_id, key))
        if progress:
            progress(len(results), len(deal_ids))
        writebacks: list[tuple[InvoiceRecord, Deal | None, Invoice]] = []
        token = _DEFERRED_WRITEBACKS.set(writebacks)
        try:
            for start in range(0, len(todo), BULK_CHUNK):
                chunk = todo[start:start + BULK_CHUNK]
                done_items = await self._run_creates([k for _, k in chunk], deals=by_id)
                for (deal_id, _key), item in zip(chunk, done_items):
                    results[deal_id] = item
                if progress:
                    progress(len(results), len(deal_ids))
        finally:
            _DEFERRED_WRITEBACKS.reset(token)
            for record, deal, invoice in writebacks:
                await self._fire_created(record, deal, invoice)
        return [results[d] for d in deal_ids]

    async def _run_creates(self, keys: Sequence[str], *, deals: Mapping[str, Deal] | None = None) -> list[BulkItem]:
        """Claim, recover and create the operations ``keys``; return one item per key, in order."""
        results: dict[str, BulkItem] = {}
        claimed: list[tuple[str, InvoiceDraft, int]] = []
        leases: dict[str, str] = {}  # key -> the lease_until we hold (our claim token)
        for key in keys:
            op = self.store.get_operation(key)
            record = self.store.invoice_by_operation(key)
            if record is not None:
                self.store.finish_operation(key, record_id=record.id)
                results[key] = BulkItem(deal_id=op["deal_id"], operation_key=key, record=record)
                continue
            if not self.store.claim_operation(key, lease_seconds=LEASE_SECONDS, now=self.runtime.now()):
                results[key] = BulkItem(deal_id=op["deal_id"], operation_key=key, error="already being created by another worker", retryable=True)
                continue
            self.store.kv_set(OWNER_NAMESPACE, key, workers.this_process())  # lets a restart see this holder died
            leases[key] = self.store.get_operation(key)["lease_until"]
            claimed.append((key, load_draft(op["payload"]["draft"]), op["attempts"] + 1))
        # Attempts after the first may have reached the backend before a crash: look before creating.
        maybe_done = [(k, d) for k, d, attempt in claimed if attempt > 1]
        if maybe_done:
            try:
                await self._find_created(maybe_done, results, deals)
            except BackendError as exc:  # cannot tell whether they exist: create none of them now
                for key, draft in maybe_done:
                    self._failed(key, draft.deal_id, str(exc), retryable=True)
                    results[key] = BulkItem(deal_id=draft.deal_id, operation_key=key, error=str(exc), retryable=True)
            claimed = [c for c in claimed if c[0] not in results]
        if claimed:
            await self._create_claimed(claimed, results, deals, leases)
        return [results[k] for k in keys]

    async def _find_created(self, ops: Sequence[tuple[str, InvoiceDraft]], results: dict[str, BulkItem], deals) -> None:
        """Record the invoices the backend already has for ``ops`` (a request of an earlier attempt may have
        been committed remotely just before a crash or a dropped connection). Matching needs the customer's
        remote id, so it is looked up first (``find_or_create_customers``, as creating would)."""
        conn = self.accounting
        customers = list(dict.fromkeys(d.customer for _, d in ops))
        contact_ids = await self.plugins.find_or_create_customers(self.runtime, connection=conn, customers=customers)
        contact_for = dict(zip(customers, contact_ids))
        requests = [CreateRequest(operation_key=k, draft=d, contact_id=contact_for.get(d.customer, "")) for k, d in ops]
        found = await self.plugins.find_created(self.runtime, connection=conn, requests=requests)
        for key, invoice in (found or {}).items():
            owner = self.store.invoice_by_remote(conn.backend, invoice.remote_id)
            if owner is not None and owner.operation_key != key:
                continue  # another operation's invoice (a plugin matching too loosely): never adopt it
            draft = next(d for k, d in ops if k == key)
            record = await self._record_created(key, draft, invoice, deals, recovered=True)
            results[key] = BulkItem(deal_id=draft.deal_id, operation_key=key, record=record)

    async def _create_claimed(self, claimed, results, deals, leases: dict[str, str]) -> None:
        conn = self.accounting
        customers = list(dict.fromkeys(draft.customer for _, draft, _ in claimed))
        try:
            contact_ids = await self.plugins.find_or_create_customers(self.runtime, connection=conn, customers=customers)
        except BackendError as exc:
            self._fail_all(claimed, str(exc), exc.retryable, results)
            return
        contact_for = dict(zip(customers, contact_ids))
        batch = self.capabilities(conn).batch_size
        for start in range(0, len(claimed), batch):
            # Renew each lease just before sending: one still ours cannot run out before this batch's call
            # (with its retries) is over; one that ran out meanwhile may be another worker's now, and sending
            # it too (under a different batch key) would make a second invoice.
            chunk = []
            for key, draft, attempt in claimed[start:start + batch]:
                until = self.store.renew_lease(key, held_until=leases.get(key, ""), lease_seconds=LEASE_SECONDS, now=self.runtime.now())
                if until:
                    leases[key] = until
                    chunk.append((key, draft, attempt))
                else:
                    results[key] = BulkItem(deal_id=draft.deal_id, operation_key=key, retryable=True,
                                            error="its lease ran out and another worker took it over")
            if not chunk:
                continue
            requests = [CreateRequest(operation_key=k, draft=d, contact_id=contact_for.get(d.customer, "")) for k, d, _ in chunk]
            try:
                created: list[CreateResult] = await self.plugins.create_invoices(self.runtime, connection=conn, requests=requests)
            except BackendError as exc:
                self._fail_all([c for c in claimed[start:] if c[0] not in results], str(exc), exc.retryable, results)
                return
            by_key = {r.operation_key: r for r in created}
            for key, draft, _deal in chunk:
                result = by_key.get(key)
                if result is None or not result.ok:
                    error = (result.error or "; ".join(result.errors)) if result else _("the backend returned no result")
                    retryable = bool(result and result.retryable)
                    self._failed(key, draft.deal_id, error, retryable=retryable)
                    results[key] = BulkItem(deal_id=draft.deal_id, operation_key=key, error=error, retryable=retryable)
                    continue
                record = await self._record_created(key, draft, result.invoice, deals)
                results[key] = BulkItem(deal_id=draft.deal_id, operation_key=key, record=record)

    def _fail_all(self, claimed, error: str, retryable: bool, results: dict[str, BulkItem]) -> None:
        for key, draft, _deal in claimed:
            self._failed(key, draft.deal_id, error, retryable=retryable)
            results[key] = BulkItem(deal_id=draft.deal_id, operation_key=key, error=error, retryable=retryable)

    def _failed(self, key: str, deal_id: str, error: str, *, retryable: bool) -> None:
        self.store.fail_operation(key, error, final=not retryable)
        self.store.audit("create_failed", lazy_("Creating the invoice failed: %(error)s", error=error), deal_id=deal_id,
                         data={"operation": key, "retryable": retryable})

    async def _record_created(self, key: str, draft: InvoiceDraft, invoice: Invoice, deals, *, recovered: bool = False) -> InvoiceRecord:
        conn = self.accounting
        # The record and its pending write-back commit together: a crash after this line still gets the
        # reminder and note written by the next recover(); a crash before it leaves the operation to recover.
        with self.store.transaction():
            record = self._insert_record(key, draft, invoice, conn)
            if record.operation_key == key:
                self.store.kv_put_if_absent("writeback-pending", str(record.id), {"kind": "created"})
        message = lazy_("Invoice %(number)s found after a restart in %(backend)s as %(status)s") if recovered else \
            lazy_("Invoice %(number)s created in %(backend)s as %(status)s")
        message.params.update(number=record.number or record.remote_id, backend=self._label(conn), status=LABELS[record.status])
        self.store.audit("invoice_created", message,
                         invoice_id=record.id, deal_id=record.deal_id, data={"operation": key, "total": str(record.total)})
        self.store.finish_operation(key, record_id=record.id)
        deal = (deals or {}).get(draft.deal_id)
        deferred = _DEFERRED_WRITEBACKS.get()
        if deferred is not None:  # a bulk run writes back once all its invoices exist (still pending above)
            deferred.append((record, deal, invoice))
        else:
            await self._fire_created(record, deal, invoice)
        return record

    def _insert_record(self, key: str, draft: InvoiceDraft, invoice: Invoice, conn) -> InvoiceRecord:
        return self.store.insert_invoice(
            deal_id=draft.deal_id,
            backend=conn.backend,
            remote_id=invoice.remote_id,
            number=invoice.number,
            status=invoice.status.value,
            currency=invoice.currency,
            total=invoice.total,
            amount_paid=invoice.amount_paid,
            amount_due=invoice.amount_due,
            date=invoice.date or draft.date,
            due_date=invoice.due_date or draft.due_date,
            contact_name=invoice.contact_name or draft.customer.name,
            reference=invoice.reference or draft.reference,
            operation_key=key,
        )

    async def _fire_created(self, record: InvoiceRecord, deal: Deal | None, invoice: Invoice) -> None:
        # One write-back per record at a time: a sync pass finishing pending write-backs must not run one that
        # a create (or a bulk run) is writing right now, or the deal gets the reminder and note twice.
        running: set = self.runtime.cache.setdefault("writebacks-running", set())
        if record.id in running:
            return
        running.add(record.id)
        try:
            if deal is None:
                deal = await self.get_deal(record.deal_id)
            with self._crm_language():  # the reminder and note are read by the whole team
                await self.plugins.invoice_created(self.runtime, record=record, deal=deal, invoice=invoice)
        except Exception as exc:  # the invoice exists; a failed write-back is shown, and retried by sync
            self.store.kv_set("writeback-pending", str(record.id), {"kind": "created"})
            self.store.audit("writeback_failed", lazy_("Could not update the deal in the CRM: %(error)s", error=exc), invoice_id=record.id, deal_id=record.deal_id)
            log.warning("write-back for invoice %s failed: %s", record.id, type(exc).__name__)
        else:
            self.store.kv_set("writeback-pending", str(record.id), None)
        finally:
            running.discard(record.id)

    async def recover(self) -> int:
        """Finish operations a crash or failure left behind (pending, retryable failed, in flight whose lease ran
        out or whose holder process is gone)."""
        keys = [op["key"] for op in self.store.operations(states=("pending", "in_flight", "failed"), limit=1000)
                if op["kind"] == "create" and (op["state"] != "in_flight" or self._lease_expired(op) or self._holder_died(op))]
        items = await self._run_creates(keys) if keys else []
        found = await self._adopt_dead()
        # write-backs left pending by a failure or a crash, whether or not any operation was left over
        for record_id, pending in list(self._pending_writebacks()):
            record = self.store.get_invoice(int(record_id))
            await self._fire_created(record, None, _invoice_from_record(record))
        # then invoices emailed, paid, voided or deleted whose reminder was not closed yet (after the above: a
        # reminder made late is closed in the same pass)
        for record_id, reason in list(self.store.kv_items(SETTLE_PENDING).items()):
            await self._fire_settled(self.store.get_invoice(int(record_id)), str(reason))
        await self._retry_automation()
        return sum(1 for i in items if i.record is not None) + found

    def _holder_died(self, op: Mapping[str, Any]) -> bool:
        """An in-flight operation whose holder process is certainly gone (killed mid-run, then restarted): end its
        lease now instead of waiting minutes. Only the one caller whose compare-and-set on the lease wins takes it;
        being a later attempt, it looks for the invoice at the backend before creating it."""
        owner = self.store.kv_get(OWNER_NAMESPACE, op["key"])
        if not owner or not workers.is_dead(owner):
            return False
        ended = self.store.renew_lease(op["key"], held_until=op["lease_until"], lease_seconds=-1, now=self.runtime.now())
        if ended:
            log.info("operation %s was held by a process that is gone; taking it over", op["key"])
        return bool(ended)

    async def _adopt_dead(self) -> int:
        """Look once (never create) for the invoice of each operation that failed for good: a final error on
        a later attempt does not prove an earlier attempt's request was not committed remotely (a dropped
        connection, then an expired token). Found ones are recorded; the rest stay dead for a person's Retry."""
        ops = [op for op in self.store.operations(states=("dead",), limit=1000)
               if op["kind"] == "create" and not self.store.kv_get("dead-checked", op["key"])]
        if not ops:
            return 0
        results: dict[str, BulkItem] = {}
        try:
            await self._find_created([(op["key"], load_draft(op["payload"]["draft"])) for op in ops], results, None)
        except BackendError:
            return 0  # try again on the next pass
        for op in ops:
            self.store.kv_set("dead-checked", op["key"], True)
        return len(results)

    async def _fire_settled(self, record: InvoiceRecord, reason: str) -> None:
        """Tell the CRM the invoice needs no more sending (its reminder is marked done). The reason was stored
        pending together with the change that caused it, and is cleared only once the plugins are done, so a
        crash or failure in between is finished by the next :meth:`recover`; the plugin never completes twice."""
        if self.store.kv_get("writeback-pending", str(record.id)):
            return  # its reminder is not made yet: recover() makes it, then closes it
        running: set = self.runtime.cache.setdefault("settles-running", set())
        if record.id in running:
            return
        running.add(record.id)
        try:
            await self.plugins.invoice_settled(self.runtime, record=record, reason=reason)
        except Exception as exc:
            self.store.audit("writeback_failed", i18n._("Could not mark the reminder done in the CRM: %(error)s") % {"error": exc},
                             invoice_id=record.id, deal_id=record.deal_id)
            log.warning("closing the reminder of invoice %s failed: %s", record.id, type(exc).__name__)
        else:
            self.store.kv_set(SETTLE_PENDING, str(record.id), None)
        finally:
            running.discard(record.id)

    def _pending_writebacks(self):
        return list(self.store.kv_items("writeback-pending").items())

    # ---- status commands ----------------------------------------------------------------------------

    async def command(self, invoice_id: int, command: Command | str) -> InvoiceRecord:
        record = self.store.get_invoice(int(invoice_id))
        command = Command.parse(command)
        conn = self.accounting
        may_approve = True
        if command is Command.APPROVE:
            user = await self.plugins.current_user(self.runtime, connection=conn)
            may_approve = user.may_approve
        name = record.number or _("invoice %(id)s") % {"id": record.id}
        # raises IllegalTransition before anything is sent; the new status comes from the backend's answer
        apply_command(record.status, command, invoice=name, amount_paid=record.amount_paid, may_approve=may_approve,
                      capabilities=self.capabilities(conn))
        key = operation_key("command", command.value, record.id, record.status.value, record.updated_at)
        invoice = await self.plugins.change_status(self.runtime, connection=conn, remote_id=record.remote_id, command=command, operation_key=key)
        if command is Command.EMAIL:
            with self.store.transaction():  # sent: its reminder is closed, now or by the next recover()
                self.store.audit("emailed", lazy_("%(invoice)s emailed to the customer from %(backend)s", invoice=name, backend=self._label(conn)),
                                 invoice_id=record.id, deal_id=record.deal_id)
                self.store.kv_put_if_absent(SETTLE_PENDING, str(record.id), "emailed")
        updated = await self.apply_remote(record, invoice, source=f"command:{command.value}")
        if command is Command.EMAIL and self.store.kv_get(SETTLE_PENDING, str(record.id)):
            await self._fire_settled(updated, "emailed")
        return updated

    async def email_recipient(self, invoice_id: int) -> tuple[InvoiceRecord, str]:
        """The invoice and the address emailing it would reach (asked before a person confirms); raises
        :class:`IllegalTransition` when it cannot be emailed in its status."""
        record = self.store.get_invoice(int(invoice_id))
        apply_command(record.status, Command.EMAIL, invoice=record.number or f"invoice {record.id}", amount_paid=record.amount_paid,
                      capabilities=self.capabilities())
        address = await self.plugins.email_recipient(self.runtime, connection=self.accounting, remote_id=record.remote_id)
        return record, str(address or "")

    def commands_for(self, record: InvoiceRecord, *, may_approve: bool = True) -> list[Command]:
        return allowed_commands(record.status, amount_paid=record.amount_paid, may_approve=may_approve,
                                capabilities=self.capabilities())

    # ---- sync ---------------------------------------------------------------------------------------

    async def apply_remote(self, record: InvoiceRecord, invoice: Invoice, *, source: str = "sync") -> InvoiceRecord:
        """Bring our record in line with what the backend says, through the status machine. An observation
        older than one already applied (a reconciliation's read finishing after a webhook's) is ignored:
        PAID -> AWAITING_PAYMENT is legal (a payment removed), so a stale read would otherwise undo a payment."""
        given, record = record, self.store.get_invoice(record.id)  # another task may have moved it since it was read
        seen = self.store.kv_get("remote-updated", str(record.id))
        if invoice.updated_at is not None and seen and invoice.updated_at < dt.datetime.fromisoformat(seen):
            if invoice.status is not record.status or invoice.amount_paid != record.amount_paid:
                self.store.audit("status_stale", lazy_("Ignored %(status)s from %(source)s: it is older than the %(current)s already applied",
                                                       status=LABELS[invoice.status], source=source_text(source), current=record.status_label),
                                 invoice_id=record.id, deal_id=record.deal_id,
                                 data={"observed": invoice.status.value, "observed_at": invoice.updated_at.isoformat(), "seen": seen})
            return given if given == record else record
        if invoice.updated_at is not None:
            self.store.kv_set("remote-updated", str(record.id), invoice.updated_at.isoformat())
        previous = record.status
        try:
            status = apply_observed_status(previous, invoice.status, invoice=record.number or _("invoice %(id)s") % {"id": record.id})
        except IllegalTransition as exc:
            self.store.audit("status_rejected", lazy_("Ignored %(status)s from %(source)s: %(reason)s", status=LABELS[invoice.status],
                                                      source=source_text(source), reason=exc.reason), invoice_id=record.id,
                             deal_id=record.deal_id, data={"observed": invoice.status.value})
            return given if given == record else record
        changes: dict[str, Any] = {}
        if status is not previous:
            changes["status"] = status.value
        for name in ("total", "amount_paid", "amount_due"):
            if getattr(invoice, name) != getattr(record, name):
                changes[name] = getattr(invoice, name)
        if invoice.number and invoice.number != record.number:
            changes["number"] = invoice.number
        if invoice.due_date and invoice.due_date != record.due_date:
            changes["due_date"] = invoice.due_date
        if not changes:
            return given if given == record else record
        settled = SETTLED_REASONS.get(status) if status is not previous else None
        with self.store.transaction():  # the change and "close its reminder" commit together
            updated = self.store.update_invoice(record.id, **changes)
            if settled:
                self.store.kv_put_if_absent(SETTLE_PENDING, str(record.id), settled)
        if status is not previous:
            self.store.audit("status_changed", lazy_("%(previous)s → %(current)s (%(source)s)", previous=LABELS[previous],
                                                     current=status_text(updated), source=source_text(source)), invoice_id=record.id,
                             deal_id=record.deal_id, data={"from": previous.value, "to": status.value})
            try:
                with self._crm_language():
                    await self.plugins.invoice_status_changed(self.runtime, record=updated, previous=previous, current=status)
            except Exception as exc:
                self.store.audit("writeback_failed", lazy_("Could not update the deal in the CRM: %(error)s", error=exc), invoice_id=record.id, deal_id=record.deal_id)
            if settled:
                await self._fire_settled(updated, settled)
        elif "amount_paid" in changes:
            self.store.audit("payment", lazy_("Paid %(paid)s of %(total)s", paid=lazy_money(updated.amount_paid, updated.currency),
                                              total=lazy_money(updated.total, updated.currency)), invoice_id=record.id,
                             deal_id=record.deal_id)
        return updated

    async def sync_invoices(self, remote_ids: Iterable[str], *, source: str = "webhook") -> SyncReport:
        conn = self.accounting
        ours = {}
        for rid in dict.fromkeys(remote_ids):
            record = self.store.invoice_by_remote(conn.backend, rid)
            if record is not None:
                ours[rid] = record
        if not ours:
            return SyncReport()
        invoices = await self.plugins.get_invoices(self.runtime, connection=conn, remote_ids=list(ours))
        return await self._apply_all(ours, invoices, source)

    async def _apply_all(self, ours: Mapping[str, InvoiceRecord], invoices: Iterable[Invoice], source: str) -> SyncReport:
        checked = changed = rejected = 0
        for invoice in invoices:
            record = ours.get(invoice.remote_id)
            if record is None:
                continue  # only invoices created through invoicebridge are followed
            checked += 1
            updated = await self.apply_remote(record, invoice, source=source)
            if updated is not record:
                changed += 1
            elif invoice.status is not record.status:
                rejected += 1
        return SyncReport(checked=checked, changed=changed, rejected=rejected)

    async def reconcile(self) -> SyncReport:
        """Finish left-over operations, then fetch everything modified since the last pass."""
        recovered = await self.recover()
        conn = self.accounting
        state_key = f"last-sync-{conn.id}"
        last = self.store.kv_get("sync", state_key)
        since = dt.datetime.fromisoformat(last) if last else None
        started = self.runtime.now()
        try:
            invoices = await self.plugins.modified_since(self.runtime, connection=conn, since=since)
        except BackendError as exc:
            self.store.update_connection(conn.id, last_error=str(exc))
            raise
        ours = {}
        for inv in invoices:
            record = self.store.invoice_by_remote(conn.backend, inv.remote_id)
            if record is not None:
                ours[inv.remote_id] = record
        report = await self._apply_all(ours, invoices, "reconciliation")
        # Overlap by a minute so a change written while we read is seen next time.
        self.store.kv_set("sync", state_key, (started - dt.timedelta(minutes=1)).isoformat())
        self.store.update_connection(conn.id, last_sync_at=started.isoformat(), last_error="")
        return attrs.evolve(report, recovered=recovered)

    # ---- webhooks -----------------------------------------------------------------------------------

    async def accounting_webhook(self, request: WebhookRequest) -> list[str]:
        """Verify (raises WebhookRejected) and return the new remote invoice ids to sync."""
        conn = self.accounting
        events = _checked_events(await self.plugins.accounting_verify_webhook(self.runtime, connection=conn, request=request))
        ids = []
        for event in events:
            if event.kind != "invoice_changed":
                continue
            if event.event_id and not self.store.first_receipt(conn.backend, event.event_id):
                continue
            ids.append(event.object_id)
        return ids

    async def crm_webhook(self, request: WebhookRequest) -> list[str]:
        """Verify (raises WebhookRejected) and return the ids of deals newly won."""
        conn = self.crm
        events = _checked_events(await self.plugins.crm_verify_webhook(self.runtime, connection=conn, request=request))
        won = []
        for event in events:
            self.forget_deal(event.object_id)  # even for a replay: the snapshot may predate it
            if event.event_id and not self.store.first_receipt(conn.backend, event.event_id):
                continue
            if event.kind == "deal_won":
                won.append(event.object_id)
                if self.store.get_settings().get("automation_draft_when_won"):
                    # Remembered before the webhook is answered: if making the draft fails or the process dies,
                    # recover() tries again (the CRM will not resend an event it saw answered).
                    self.store.kv_set("automation-pending", str(event.object_id), True)
        return won

    async def deal_won(self, deal_id: str, *, fire: bool = True) -> InvoiceRecord | None:
        """Fire *deal won*; create a draft when the automation is on (once per deal). A failure that may pass
        (the accounting or CRM API down, rate limits) leaves the deal marked for :meth:`recover`."""
        deal_id = str(deal_id)
        if fire:
            await self.plugins.deal_won(self.runtime, deal_id=deal_id)
        if not self.store.get_settings().get("automation_draft_when_won"):
            self.store.kv_set("automation-pending", deal_id, None)
            return None
        if self.store.invoices_for_deal(deal_id):
            self.store.kv_set("automation-pending", deal_id, None)
            self.store.audit("automation", lazy_("Deal won; it already has an invoice, so no draft was made"), deal_id=deal_id)
            return None
        try:
            record = await self.create_invoice(deal_id, key=deal_id, source="automation", overrides={"status": "DRAFT"})
        except (BackendError, NotConnected, OperationInProgress) as exc:
            retry = getattr(exc, "retryable", True)
            self.store.kv_set("automation-pending", deal_id, True if retry else None)
            self.store.audit("automation_failed", lazy_("Deal won, but no draft was made yet: %(error)s; it will be retried", error=exc)
                             if retry else lazy_("Deal won, but no draft was made yet: %(error)s", error=exc), deal_id=deal_id)
            return None
        except InvoiceBridgeError as exc:  # the deal cannot be invoiced as it is: a person must act
            self.store.kv_set("automation-pending", deal_id, None)
            self.store.audit("automation_failed", lazy_("Deal won, but no draft was made: %(error)s", error=exc), deal_id=deal_id)
            return None
        self.store.kv_set("automation-pending", deal_id, None)
        return record

    async def _retry_automation(self) -> None:
        for deal_id, pending in self.store.kv_items("automation-pending").items():
            if pending is not True:
                continue
            await self.deal_won(deal_id, fire=False)

    # ---- connections ---------------------------------------------------------------------------------

    async def check_connection(self, connection):
        """Ask the plugin whether a connection works; remember the remote user and role, or the error."""
        try:
            health = await self.plugins.check(self.runtime, connection=connection)
        except InvoiceBridgeError as exc:
            self.store.update_connection(connection.id, last_error=exc.message, status="error")
            raise
        settings = {"user_name": health.user.name, "user_role": health.user.role} if health.user else None
        self.store.update_connection(connection.id, settings=settings, last_error="" if health.ok else health.detail,
                                     status="active" if health.ok else "error")
        return health

    # ---- links ---------------------------------------------------------------------------------------

    async def pdf(self, invoice_id: int) -> tuple[InvoiceRecord, bytes]:
        record = self.store.get_invoice(int(invoice_id))
        return record, await self.plugins.invoice_pdf(self.runtime, connection=self.accounting, remote_id=record.remote_id)

    async def share_link(self, invoice_id: int) -> str:
        record = self.store.get_invoice(int(invoice_id))
        if record.status not in self.capabilities().share_link_statuses:
            raise IllegalTransition(invoice=record.number or str(record.id), status=record.status, command="share",
                                    reason=_("only approved invoices have an online link"))
        return await self.plugins.share_link(self.runtime, connection=self.accounting, remote_id=record.remote_id)

    async def deep_link(self, invoice_id: int) -> str:
        record = self.store.get_invoice(int(invoice_id))
        return await self.plugins.deep_link(self.runtime, connection=self.accounting, remote_id=record.remote_id)


# ---- pure helpers ---------------------------------------------------------------------------------------


def _checked_events(events: Any) -> list[WebhookEvent]:
    """A plugin's webhook events, refused whole (400, before any is acted on) when one names no proper id."""
    out = list(events or [])
    for event in out:
        if not isinstance(event, WebhookEvent) or not is_ident(event.object_id) \
                or not isinstance(event.event_id, str) or len(event.event_id) > 1000:
            raise MalformedPayload("The webhook names an object that is not a proper id; nothing was processed")
    return out


def _live_invoice(records: Sequence[InvoiceRecord]) -> InvoiceRecord | None:
    """The deal's invoice that still counts (not deleted or voided), newest first; the same rule as the preview's
    and the single create's check (:func:`invoicebridge.core.totals.live_invoices`)."""
    return next(iter(live_invoices(records)), None)


def _invoice_from_record(record: InvoiceRecord) -> Invoice:
    return Invoice(remote_id=record.remote_id, number=record.number, status=record.status, currency=record.currency,
                   total=record.total, amount_paid=record.amount_paid, amount_due=record.amount_due, date=record.date,
                   due_date=record.due_date, reference=record.reference, contact_name=record.contact_name)


def _error_for(item: BulkItem) -> InvoiceBridgeError:
    if item.retryable:
        return BackendError(_("The invoice could not be created yet: %(error)s. It will be retried; you can also retry from the dashboard")
                            % {"error": item.error}, operation=item.operation_key)
    return CreateRefused(_("The invoice was not created: %(error)s") % {"error": item.error}, operation=item.operation_key)


def apply_overrides(draft: InvoiceDraft, overrides: Mapping[str, Any], catalog: Catalog) -> InvoiceDraft:
    """Apply what a person changed on the create form or in an API call. Raises ValidationProblem on bad values."""
    problems: list[str] = []
    changes: dict[str, Any] = {}

    def take(name: str, conv, label: str) -> None:
        if name in overrides and overrides[name] not in (None, ""):
            try:
                changes[name] = conv(overrides[name])
            except (ValueError, TypeError, ArithmeticError) as exc:
                problems.append(_("%(field)s: %(problem)s") % {"field": label, "problem": exc})

    take("date", _as_date, _("Invoice date"))
    take("due_date", _as_date, _("Due date"))
    take("currency", m.currency_code, _("Currency"))
    take("tax_handling", TaxHandling.parse, _("Tax handling"))
    take("reference", lambda v: str(v)[:255], _("Reference"))
    take("status", _creatable_status, _("Status"))
    take("branding_theme_id", str, _("Branding theme"))
    customer = overrides.get("customer")
    if customer is not None and (not isinstance(customer, Mapping) or set(customer) - {"name", "email", "tax_number"}):
        problems.append(_("Customer: expected an object with only name, email and tax_number"))
    elif isinstance(customer, Mapping):
        try:
            cust_changes = {k: str(v) for k, v in customer.items() if k in ("name", "email", "tax_number") and v is not None}
            changes["customer"] = attrs.evolve(draft.customer, **cust_changes)
        except (ValueError, TypeError) as exc:
            problems.append(_("Customer: %(problem)s") % {"problem": exc})
    lines = overrides.get("line_items")
    if lines is not None:
        if not isinstance(lines, (list, tuple)):
            problems.append(_("Line items: expected a list"))
        else:
            parsed = []
            for n, raw in enumerate(lines, start=1):
                try:
                    parsed.append(line_from_input(raw, catalog))
                except (ValueError, TypeError, ArithmeticError) as exc:
                    problems.append(_("Line %(n)s: %(problem)s") % {"n": n, "problem": exc})
            if not parsed and not problems:
                problems.append(_("Line items: an invoice needs at least one line"))
            changes["line_items"] = tuple(parsed)
    if problems:
        raise ValidationProblem(problems, deal_id=draft.deal_id)
    try:
        return attrs.evolve(draft, **changes)
    except (ValueError, TypeError) as exc:
        raise ValidationProblem([_sentence(str(exc))], deal_id=draft.deal_id) from None


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _as_date(value: Any) -> dt.date:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError:
        raise ValueError(_("'%(value)s' is not a date (use YYYY-MM-DD)") % {"value": str(value)[:40]}) from None


def _creatable_status(value: Any) -> InvoiceStatus:
    status = InvoiceStatus.parse(value)
    if status not in (InvoiceStatus.DRAFT, InvoiceStatus.AWAITING_APPROVAL, InvoiceStatus.AWAITING_PAYMENT):
        raise ValueError(_("a new invoice can be %(draft)s, %(submitted)s or %(authorised)s, not %(status)s") % {
            "draft": LABELS[InvoiceStatus.DRAFT], "submitted": LABELS[InvoiceStatus.AWAITING_APPROVAL],
            "authorised": LABELS[InvoiceStatus.AWAITING_PAYMENT], "status": status.label})
    return status


def line_from_input(raw: Any, catalog: Catalog) -> LineItem:
    """A line item from form or JSON input; an item code fills what is left empty from the catalog."""
    if not isinstance(raw, Mapping):
        raise TypeError(_("a line item is an object with description, quantity, unit_amount…"))
    code = str(raw.get("item_code") or "").strip()
    item = catalog.item(code) if code else None
    description = str(raw.get("description") or "").strip() or (item.description or item.name if item else "")
    if not description:
        raise ValueError(_("a description is required"))
    quantity = _number(raw.get("quantity", 1), _("quantity"))
    if quantity <= 0:
        raise ValueError(_("quantity must be more than 0, got %(quantity)s") % {"quantity": format_number(quantity)})
    unit = raw.get("unit_amount")
    if unit in (None, "") and item and item.unit_price is not None:
        unit = item.unit_price
    unit_amount = _number(unit if unit not in (None, "") else 0, _("unit price"))
    discount = raw.get("discount_rate")
    discount_rate = _number(discount, _("discount")) if discount not in (None, "") else None
    if discount_rate is not None and not (0 <= discount_rate <= 100):
        raise ValueError(_("discount is a percentage between 0 and 100, got %(discount)s") % {"discount": format_number(discount_rate)})
    off = raw.get("discount_amount")
    discount_amount = _number(off, _("discount amount")) if off not in (None, "") else None
    discount_rate = discount_rate or None  # a zero discount is no discount
    discount_amount = discount_amount or None
    if discount_rate is not None and discount_amount is not None:
        raise ValueError(i18n._("give a discount as a percentage or as an amount, not both"))
    if discount_amount is not None and discount_amount < 0:
        raise ValueError(i18n._("a discount amount cannot be negative, got %(amount)s") % {"amount": i18n.format_number(discount_amount)})
    tax_type = str(raw.get("tax_type") or (item.tax_type if item else "") or "").strip()
    rate = catalog.tax_rate(tax_type) if tax_type else None
    return LineItem(
        description=description,
        quantity=quantity,
        unit_amount=unit_amount,
        discount_rate=discount_rate,
        discount_amount=discount_amount,
        item_code=item.code if item else code,
        account_code=str(raw.get("account_code") or (item.account_code if item else "") or "").strip(),
        tax_type=tax_type,
        tax_percent=rate.rate if rate else _number(raw.get("tax_percent") or 0, _("tax percent")),
    )


def _number(value: Any, label: str) -> Decimal:
    """A number from JSON (or a form already read in the person's locale): a number or a plain decimal string.
    A comma is never guessed at (``"1,5"`` is refused, not read as 15)."""
    try:
        result = m.to_decimal(value if not isinstance(value, str) else value.strip() or "0")
    except (ValueError, TypeError):
        raise ValueError(_("%(field)s must be a number written with a decimal point, got %(value)r")
                         % {"field": label, "value": value}) from None
    if abs(result) >= Decimal("1e12"):
        raise ValueError(_("%(field)s is too large") % {"field": label})
    return result


def validate_against_catalog(draft: InvoiceDraft, catalog: Catalog) -> list[str]:
    """Every problem that would make the accounting system refuse the invoice, found before sending."""
    problems: list[str] = []
    enabled = set(catalog.currencies) | {catalog.base_currency}
    if catalog.currencies and draft.currency not in enabled:
        problems.append(_("Currency %(currency)s is not enabled in %(organisation)s; enable it there or invoice in one of %(enabled)s") % {
            "currency": draft.currency, "organisation": catalog.organisation_name or _("the accounting organisation"),
            "enabled": ", ".join(sorted(enabled))})
    account_codes = {a.code for a in catalog.accounts}
    tax_types = {t.tax_type for t in catalog.tax_rates}
    for n, line in enumerate(draft.line_items, start=1):
        where = {"where": _("Line %(n)s (%(description)s)") % {"n": n, "description": line.description[:40]}}
        if line.item_code and catalog.items and catalog.item(line.item_code) is None:
            problems.append(_("%(where)s: item code '%(code)s' is not in the accounting system's products and services")
                            % dict(where, code=line.item_code))
        if line.tax_type and tax_types and line.tax_type not in tax_types:
            problems.append(_("%(where)s: tax type '%(tax_type)s' is not one of the organisation's revenue tax rates")
                            % dict(where, tax_type=line.tax_type))
        if not line.tax_type and line.tax_percent and draft.tax_handling is not TaxHandling.NO_TAX:
            problems.append(_("%(where)s: no tax rate of %(percent)s%% exists in the accounting system; pick a tax type")
                            % dict(where, percent=format_number(line.tax_percent)))
        if line.account_code and account_codes and line.account_code not in account_codes:
            problems.append(_("%(where)s: account '%(account)s' is not a revenue account") % dict(where, account=line.account_code))
        if not line.account_code and not line.item_code:
            problems.append(_("%(where)s: pick an account (or set a default account in Settings)") % where)
    if draft.totals.total < 0:
        problems.append(_("The total would be %(total)s; an invoice cannot be negative")
                        % {"total": format_money(draft.totals.total, draft.currency)})
    return problems
