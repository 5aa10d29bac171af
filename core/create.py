"""Creating invoices, one or many.

Creation is exactly-once. Every create is an *operation* written to the store before any remote call, under a
stable key that is also the accounting API's idempotency key. The operation carries the draft itself, so a
retry sends the very same request. A crash at any point leaves the operation pending or in flight; the next
:meth:`Pipeline.recover` (at start-up and on every sync) asks the backend whether the invoice already exists
(``find_created``) before creating it, so the backend's idempotency window is not relied on.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Collection, Mapping, Sequence
from .host import UseCaseBase
from .errors import BackendError, DuplicateOperation, MappingError, NotFound, ValidationProblem
from .opkeys import LEGACY_SOURCES, legacy_operation_keys, operation_key
from .model import CreateRequest, CreateResult, Deal, Invoice, InvoiceDraft, InvoiceRecord
from . import workers
from .serde import dump_draft, load_draft
from .totals import live_invoice_warning, live_invoices
from .i18n import _, format_datetime, lazy_
from .status import LABELS
from .results import AnotherInvoice, BulkItem, CreateRefused, OperationInProgress, Preview, _error_for, _live_invoice, as_reported, request_hash, source_text

# How long a claimed create operation is ours. Renewed just before each batch is sent, so it must outlast one
# batch call with its retries (4 attempts, up to 3 waits of a Retry-After of at most 60 s); it stays under the
# shortest idempotency window a backend declares (Capabilities.idempotency_window, 6 minutes at the least we
# know), so a take-over after it ends replays rather than duplicates.
LEASE_SECONDS = 300
IN_DOUBT = "in-doubt"  # an operation's result while it waits for a person (see CreateMixin._set_aside)
BULK_CHUNK = 250  # deals per step of a bulk run (create calls of the backend's Capabilities.batch_size)


class CreateMixin(UseCaseBase):
    # ---- create --------------------------------------------------------------------------------------

    async def create_invoice(
        self,
        deal_id: str,
        *,
        overrides: Mapping[str, Any] | None = None,
        key: str | None = None,
        source: str = "api",
        allow_another: bool = True,
        shown: Preview | None = None,
    ) -> InvoiceRecord:
        """Create one invoice for a deal, exactly once per ``key`` within ``source`` (a new key when none is
        given). The stored operation key is :func:`operation_key` ``(source, key)``.

        ``shown`` is the preview the caller just made for these very overrides (the page's Save): its deal and
        draft are what gets created, so the deal is not read a second time.

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
        preview = shown if shown is not None and shown.deal.id == deal_id else await self.preview(deal_id, overrides)
        if preview.problems:
            raise ValidationProblem(list(preview.problems), deal_id=deal_id)
        op, created = await self.store.writes.put_operation(
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
        await self.store.writes.audit("create_requested", lazy_("Invoice requested from %(source)s", source=source_text(source)), deal_id=deal_id,
                         data={"operation": key})
        items = await self._run_creates([key], deals={deal_id: preview.deal})
        item = items[0]
        if item.record is None:
            raise _error_for(item)
        await self.drain_outbox([item.record.id])
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
            await self.store.writes.fail_operation(key, op["last_error"])  # back to retryable
        # one set aside because it may exist already (see _set_aside): the person's Retry says it does not
        items = await self._run_creates([key], confirmed={key} if op.get("result") == IN_DOUBT else frozenset())
        if items[0].record is not None:
            await self.drain_outbox([items[0].record.id])
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
            op, _created = await self.store.writes.put_operation(key, kind="create", deal_id=deal_id,
                                             payload={"draft": dump_draft(preview.draft), "source": source},
                                             request_hash=request_hash({"deal_id": deal_id, "overrides": {}}))
            if op["state"] == "dead":  # failed for good earlier in this run: a re-run is the person's Retry
                await self.store.writes.fail_operation(key, op["last_error"])
            todo.append((deal_id, key))
        if progress:
            progress(len(results), len(deal_ids))
        made: list[int] = []
        try:
            for start in range(0, len(todo), BULK_CHUNK):
                chunk = todo[start:start + BULK_CHUNK]
                done_items = await self._run_creates([k for _, k in chunk], deals=by_id)
                for (deal_id, _key), item in zip(chunk, done_items, strict=True):
                    results[deal_id] = item
                    if item.record is not None:
                        made.append(item.record.id)
                if progress:
                    progress(len(results), len(deal_ids))
        finally:  # the write-backs, in the outbox since each invoice was recorded, once all invoices exist
            await self.drain_outbox(made)
        return [results[d] for d in deal_ids]

    async def _run_creates(self, keys: Sequence[str], *, deals: Mapping[str, Deal] | None = None,
                           confirmed: Collection[str] = frozenset()) -> list[BulkItem]:
        """Claim, recover and create the operations ``keys``; return one item per key, in order. ``confirmed``:
        operations a person retried after being told they may exist already (sent again without looking)."""
        results: dict[str, BulkItem] = {}
        claimed: list[tuple[str, InvoiceDraft, int]] = []
        leases: dict[str, str] = {}  # key -> the lease_until we hold (our claim token)
        first_sent: dict[str, str] = {}  # key -> when an earlier attempt was first sent: this one is in doubt
        for key in keys:
            op = self.store.get_operation(key)
            record = self.store.invoice_by_operation(key)
            if record is not None:
                await self.store.writes.finish_operation(key, record_id=record.id)
                results[key] = BulkItem(deal_id=op["deal_id"], operation_key=key, record=record)
                continue
            if not await self.store.writes.claim_operation(key, lease_seconds=LEASE_SECONDS, now=self.runtime.now(), holder=workers.this_process()):
                results[key] = BulkItem(deal_id=op["deal_id"], operation_key=key, error="already being created by another worker", retryable=True)
                continue
            leases[key] = self.store.get_operation(key)["lease_until"]
            claimed.append((key, load_draft(op["payload"]["draft"]), op["attempts"] + 1))
            if op.get("sent_at") and key not in confirmed:
                first_sent[key] = op["sent_at"]
        # An earlier attempt was sent and may have reached the backend before a crash or a dropped answer.
        maybe_done = [(k, d) for k, d, _attempt in claimed if k in first_sent]
        if maybe_done and self.capabilities(self.accounting).find_created:  # look before creating
            try:
                await self._find_created(maybe_done, results, deals)
            except BackendError as exc:  # cannot tell whether they exist: create none of them now
                for key, draft in maybe_done:
                    await self._failed(key, draft.deal_id, str(exc), retryable=True)
                    results[key] = BulkItem(deal_id=draft.deal_id, operation_key=key, error=str(exc), retryable=True)
        elif maybe_done:
            await self._set_aside(maybe_done, first_sent, results)
        claimed = [c for c in claimed if c[0] not in results]
        if claimed:
            await self._create_claimed(claimed, results, deals, leases)
        return [results[k] for k in keys]

    async def _set_aside(self, ops: Sequence[tuple[str, InvoiceDraft]], first_sent: Mapping[str, str],
                   results: dict[str, BulkItem]) -> None:
        """Without ``find_created`` core cannot look: an operation whose first send is still inside the backend's
        idempotency window is sent again (the backend answers the repeat with the invoice it made); an older one
        (or any, for a backend that honours no key) is not, since it could make a second invoice. It is marked for
        a person instead (failed for good, listed on the dashboard), whose Retry then sends it."""
        caps, now = self.capabilities(self.accounting), self.runtime.now()
        label = self._label(self.accounting)
        for key, draft in ops:
            sent = dt.datetime.fromisoformat(first_sent[key])
            sent = sent if sent.tzinfo else sent.replace(tzinfo=dt.timezone.utc)
            if caps.idempotency and (caps.idempotency_window is None or now - sent < caps.idempotency_window):
                continue  # replayed, not made twice
            error = _("It may already exist in %(backend)s: it was first sent at %(time)s, too long ago for %(backend)s to "
                      "recognise it as a repeat, and invoicebridge cannot look it up there. Check %(backend)s; if the "
                      "invoice is not there, Retry sends it.") % {"backend": label, "time": format_datetime(sent)}
            await self.store.writes.set_result(key, IN_DOUBT)
            await self._failed(key, draft.deal_id, error, retryable=False)
            results[key] = BulkItem(deal_id=draft.deal_id, operation_key=key, error=error, retryable=False)

    async def _find_created(self, ops: Sequence[tuple[str, InvoiceDraft]], results: dict[str, BulkItem], deals) -> None:
        """Record the invoices the backend already has for ``ops`` (a request of an earlier attempt may have
        been committed remotely just before a crash or a dropped connection). Matching needs the customer's
        remote id, so it is looked up first (``find_or_create_customers``, as creating would)."""
        conn = self.accounting
        customers = list(dict.fromkeys(d.customer for _, d in ops))
        contact_ids = await self.plugins.find_or_create_customers(self.runtime, connection=conn, customers=customers)
        contact_for = dict(zip(customers, contact_ids, strict=True))
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
            await self._fail_all(claimed, str(exc), exc.retryable, results)
            return
        contact_for = dict(zip(customers, contact_ids, strict=True))
        batch = self.capabilities(conn).batch_size
        for start in range(0, len(claimed), batch):
            # Renew each lease just before sending: one still ours cannot run out before this batch's call
            # (with its retries) is over; one that ran out meanwhile may be another worker's now, and sending
            # it too (under a different batch key) would make a second invoice.
            chunk = []
            for key, draft, attempt in claimed[start:start + batch]:
                until = await self.store.writes.renew_lease(key, held_until=leases.get(key, ""), lease_seconds=LEASE_SECONDS, now=self.runtime.now())
                if until:
                    leases[key] = until
                    chunk.append((key, draft, attempt))
                else:
                    results[key] = BulkItem(deal_id=draft.deal_id, operation_key=key, retryable=True,
                                            error="its lease ran out and another worker took it over")
            if not chunk:
                continue
            await self.store.writes.mark_sent([k for k, _, _ in chunk], now=self.runtime.now())  # a later attempt is in doubt
            requests = [CreateRequest(operation_key=k, draft=d, contact_id=contact_for.get(d.customer, "")) for k, d, _ in chunk]
            try:
                created: list[CreateResult] = await self.plugins.create_invoices(self.runtime, connection=conn, requests=requests)
            except BackendError as exc:
                await self._fail_all([c for c in claimed[start:] if c[0] not in results], str(exc), exc.retryable, results)
                return
            by_key = {r.operation_key: r for r in created}
            for key, draft, _deal in chunk:
                result = by_key.get(key)
                if result is None or result.invoice is None:  # not result.ok
                    error = (result.error or "; ".join(result.errors)) if result else _("the backend returned no result")
                    retryable = bool(result and result.retryable)
                    await self._failed(key, draft.deal_id, error, retryable=retryable)
                    results[key] = BulkItem(deal_id=draft.deal_id, operation_key=key, error=error, retryable=retryable)
                    continue
                record = await self._record_created(key, draft, result.invoice, deals)
                results[key] = BulkItem(deal_id=draft.deal_id, operation_key=key, record=record)

    async def _fail_all(self, claimed, error: str, retryable: bool, results: dict[str, BulkItem]) -> None:
        for key, draft, _deal in claimed:
            await self._failed(key, draft.deal_id, error, retryable=retryable)
            results[key] = BulkItem(deal_id=draft.deal_id, operation_key=key, error=error, retryable=retryable)

    async def _failed(self, key: str, deal_id: str, error: str, *, retryable: bool) -> None:
        await self.store.writes.run(self._record_failure, key, deal_id, error, retryable=retryable)

    def _record_failure(self, key: str, deal_id: str, error: str, *, retryable: bool) -> None:
        self.store.fail_operation(key, error, final=not retryable)
        self.store.audit("create_failed", lazy_("Creating the invoice failed: %(error)s", error=error), deal_id=deal_id,
                         data={"operation": key, "retryable": retryable})

    async def _record_created(self, key: str, draft: InvoiceDraft, invoice: Invoice, deals, *, recovered: bool = False) -> InvoiceRecord:
        deal = (deals or {}).get(draft.deal_id)
        record = await self.store.writes.run(self._store_created, key, draft, invoice, deal, recovered)  # writer thread
        await self._notify("invoice_created", record=record, deal=deal, invoice=invoice)
        return record

    def _store_created(self, key: str, draft: InvoiceDraft, invoice: Invoice, deal, recovered: bool) -> InvoiceRecord:
        conn = self.accounting
        # The record and its write-backs (outbox rows) commit together: a crash after this line still gets the
        # reminder and note written by the next drain; a crash before it leaves the operation to recover.
        with self.store.transaction():
            record = self._insert_record(key, draft, invoice, conn)
            if record.operation_key == key:
                self._enqueue_created(record, deal)
        message = lazy_("Invoice %(number)s found after a restart in %(backend)s as %(status)s") if recovered else \
            lazy_("Invoice %(number)s created in %(backend)s as %(status)s")
        message.params.update(number=record.number or record.remote_id, backend=self._label(conn), status=LABELS[record.status])
        self.store.audit("invoice_created", message,
                         invoice_id=record.id, deal_id=record.deal_id, data={"operation": key, "total": str(record.total)})
        self.store.finish_operation(key, record_id=record.id)
        return record

    def _insert_record(self, key: str, draft: InvoiceDraft, invoice: Invoice, conn) -> InvoiceRecord:
        invoice = as_reported(invoice, self.capabilities(conn))
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

