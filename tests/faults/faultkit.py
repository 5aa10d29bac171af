"""Fault injection for the exactly-once checks: the real Xero and Pipedrive plugins against their sandboxes
(in-process through ``httpx.ASGITransport``), with faults switched on at random and the worker "killed" at
random points, then restarted over the same store file.

Used by ``tests/faults`` (a small seeded run inside ``make test``) and ``bench/faults_soak.py`` (the big run).

* :class:`FaultyTransport` sits in front of a sandbox and, per request, may answer 500, time out (before or
  after the sandbox handled the request), drop the connection after the sandbox committed, answer 429, or
  (Xero) 401 ``TokenExpired`` so the real refresh-token rotation runs mid-call.
* :class:`Crash` is a ``BaseException``: raised from the transport (before sending, after the remote
  committed), from a hook between the invoice and its reminder, or from the store right after a write, it
  unwinds everything as a kill would (nothing catches it). A "restart" then opens a new Store, Runtime and
  Pipeline over the same SQLite file, like a new process, and runs :meth:`Pipeline.recover`.
* :func:`run_soak` drives the workload (single creates, repeated keys, two workers racing one key, bulk
  runs, remote status changes delivered by webhooks that are duplicated, delayed, reordered or forged, and
  reconciliations) and :func:`check_world` compares the sandboxes' truth with our records.

Everything is seeded: the same seed gives the same run.
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import json
import random
from pathlib import Path
from typing import Any

import attrs
import httpx

from invoicebridge.core import hookimpl
from invoicebridge.core.errors import InvoiceBridgeError, WebhookRejected
from invoicebridge.core.mapping import DueDateRule, MappingConfig
from invoicebridge.core.model import Role, WebhookRequest
from invoicebridge.core.pipeline import Pipeline, operation_key
from invoicebridge.core.plugins import Plugins
from invoicebridge.core.runtime import Runtime
from invoicebridge.core.status import InvoiceStatus, display_label
from invoicebridge.core.store import Store
from invoicebridge.plugins.pipedrive.sandbox import create_sandbox as pipedrive_sandbox
from invoicebridge.plugins.pipedrive.writeback import marker
from invoicebridge.plugins.xero.config import sandbox_config
from invoicebridge.plugins.xero.sandbox import create_sandbox as xero_sandbox

START = dt.datetime(2026, 11, 20, 9, 30, tzinfo=dt.timezone.utc)
CLIENT_ID, CLIENT_SECRET, WEBHOOK_KEY = "fault-client", "fault-secret", "fault-webhook-key"
XERO_BASE = "http://xero.test"
FAULT_KINDS = ("http_500", "timeout_before", "timeout_after_commit", "drop_after_commit", "rate_limit_429",
               "token_expired")
CRASH_POINTS = ("transport_before_send", "transport_after_commit", "store_after_record", "store_after_finish",
                "hook_before_reminder")


class Crash(BaseException):
    """A simulated kill of the worker: a BaseException, so no ``except Exception`` in the code swallows it."""


class Clock:
    """One fake time for the app and both sandboxes; ``sleep`` moves it instead of waiting."""

    def __init__(self, start: dt.datetime = START) -> None:
        self.t = start
        self.slept = 0.0

    def now(self) -> dt.datetime:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += dt.timedelta(seconds=seconds)

    async def sleep(self, seconds: float) -> None:
        self.slept += seconds
        self.advance(seconds)
        await asyncio.sleep(0)  # let a racing task run, as a real wait would


@attrs.define
class FaultPlan:
    """What to break, how often, and the tally of what was broken."""

    rng: random.Random
    fault_rate: float = 0.12  # per HTTP request
    crash_rate: float = 0.015  # per crash point reached
    enabled: bool = True
    faults: collections.Counter = attrs.field(factory=collections.Counter)
    crashes: collections.Counter = attrs.field(factory=collections.Counter)
    # scripted kills for targeted tests: each rule(point, request) -> True kills there (once per rule)
    rules: list = attrs.field(factory=list)
    # scripted faults: each fault_rule(backend, request) -> a kind from FAULT_KINDS or None (once per rule)
    fault_rules: list = attrs.field(factory=list)

    def fault(self, backend: str, request: httpx.Request) -> str | None:
        for rule in list(self.fault_rules):
            kind = rule(backend, request)
            if kind:
                self.fault_rules.remove(rule)
                self.faults[f"{backend}:{kind}"] += 1
                return kind
        if not self.enabled or self.rng.random() >= self.fault_rate:
            return None
        kinds = list(FAULT_KINDS)
        if backend != "xero" or "/api.xro/" not in request.url.path:
            kinds.remove("token_expired")  # only Xero API calls carry the access token we expire
        kind = self.rng.choice(kinds)
        self.faults[f"{backend}:{kind}"] += 1
        return kind

    def crash(self, point: str, request: httpx.Request | None = None) -> None:
        for rule in list(self.rules):
            if rule(point, request):
                self.rules.remove(rule)
                self.crashes[point] += 1
                raise Crash(point)
        if self.enabled and self.rng.random() < self.crash_rate:
            self.crashes[point] += 1
            raise Crash(point)


class FaultyTransport(httpx.AsyncBaseTransport):
    """A sandbox behind an unreliable network and an unreliable server."""

    def __init__(self, app: Any, plan: FaultPlan, backend: str) -> None:
        self.inner = httpx.ASGITransport(app=app)
        self.plan = plan
        self.backend = backend

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        self.plan.crash("transport_before_send", request)
        kind = self.plan.fault(self.backend, request)
        if kind == "http_500":
            return httpx.Response(500, json={"Title": "An error occurred", "Status": 500}, request=request)
        if kind == "rate_limit_429":
            wait = self.plan.rng.choice([1, 2, 5, 30, 60])
            return httpx.Response(429, headers={"Retry-After": str(wait), "X-Rate-Limit-Problem": "minute",
                                                "x-ratelimit-reset": str(wait)}, request=request)
        if kind == "token_expired":
            return httpx.Response(401, json={"Type": None, "Title": "Unauthorized", "Status": 401,
                                             "Detail": "TokenExpired: token expired"},
                                  headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}, request=request)
        if kind == "timeout_before":
            raise httpx.ConnectTimeout("injected: connect timed out", request=request)
        response = await self.inner.handle_async_request(request)
        await response.aread()
        if kind == "timeout_after_commit":
            raise httpx.ReadTimeout("injected: the server handled the request, the answer timed out", request=request)
        if kind == "drop_after_commit":
            raise httpx.RemoteProtocolError("injected: server disconnected after handling the request",
                                            request=request)
        self.plan.crash("transport_after_commit", request)
        return response


class CrashingHooks:
    """A plugin whose ``on_invoice_created`` runs first and may kill the worker before the reminder."""

    def __init__(self, plan: FaultPlan) -> None:
        self.plan = plan

    @hookimpl(tryfirst=True)
    def on_invoice_created(self, runtime, record, deal, invoice):
        self.plan.crash("hook_before_reminder")


def crashing_store(store: Store, plan: FaultPlan) -> Store:
    """Kill the worker right after chosen writes committed (the record, the finished operation)."""
    insert, finish = store.insert_invoice, store.finish_operation

    def insert_invoice(**fields):
        record = insert(**fields)
        plan.crash("store_after_record")
        return record

    def finish_operation(key, **kwargs):
        finish(key, **kwargs)
        plan.crash("store_after_finish")

    store.insert_invoice = insert_invoice  # type: ignore[method-assign]
    store.finish_operation = finish_operation  # type: ignore[method-assign]
    return store


@attrs.define
class World:
    """Both sandboxes (they outlive our restarts, as remote services do), the clock, the plan and a store path."""

    seed: int
    workdir: Path
    clock: Clock = attrs.field(factory=Clock)
    plan: FaultPlan = attrs.field(default=None)
    xero: Any = None
    pipedrive_app: Any = None
    deals: list[str] = attrs.field(factory=list)
    restarts: int = 0
    workers: list[Any] = attrs.field(factory=list)
    db_path: Path = attrs.field(init=False, default=None)
    jitter: random.Random = attrs.field(init=False, default=None)  # the Xero client's backoff jitter, seeded too

    def __attrs_post_init__(self) -> None:
        rng = random.Random(self.seed)
        self.jitter = random.Random(self.seed + 1)
        self.plan = self.plan or FaultPlan(rng=rng)
        self.xero = xero_sandbox(clock=self.clock.now, client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
                                 webhook_key=WEBHOOK_KEY)
        self.pipedrive_app = pipedrive_sandbox(clock=self.clock.now, seed=True)
        state = self.pipedrive
        self.deals = [str(d) for d in sorted(state.deals) if state.lines_of(d) and state.deals[d].get("org_id")]
        self.db_path = self.workdir / "invoicebridge.db"
        store = Store.open(self.db_path)
        tokens = self.xero.issue_tokens(user_id=self.xero.state.users[0]["UserID"])
        store.add_connection(
            backend="xero", role=Role.ACCOUNTING, label="Xero: Demo",
            settings={"tenant_id": self.xero.tenant_id, "tenant_name": "Demo", "user_id": self.xero.state.users[0]["UserID"]},
            secrets={"access_token": tokens["access_token"], "refresh_token": tokens["refresh_token"],
                     "expires_at": self.clock.now().timestamp() + tokens["expires_in"]})
        store.add_connection(backend="pipedrive", role=Role.CRM, label="Pipedrive",
                             settings={"api_domain": "https://acme-sandbox.pipedrive.com",
                                       "company_domain": "acme-sandbox", "company_id": 7001},
                             secrets={"api_token": "sandbox-token"})
        store.set_mapping_data(MappingConfig(tax_number="organization.custom:VAT number", due_date=DueDateRule(days=14),
                                             account_code="200").to_dict())
        store.update_settings({"deal_field_invoice_status": self.status_field})  # the deal-field write-back too
        store.close()

    @property
    def status_field(self) -> str:
        return self.pipedrive.field_key("deal", "Invoice status")

    @property
    def pipedrive(self) -> Any:
        return self.pipedrive_app.state.sandbox

    def start_worker(self, *, faults: bool = True) -> Pipeline:
        """A new "process": its own store connection, runtime (empty caches: no limiter, no token lock) and
        plugins."""
        store = Store.open(self.db_path)
        if faults:
            crashing_store(store, self.plan)
        transports = {"xero": FaultyTransport(self.xero, self.plan, "xero"),
                      "pipedrive": FaultyTransport(self.pipedrive_app, self.plan, "pipedrive")}
        runtime = Runtime(store=store, transports=transports, sleep=self.clock.sleep, now=self.clock.now,
                          public_url="http://app.test",
                          config={"xero": sandbox_config(XERO_BASE, client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
                                                         webhook_key=WEBHOOK_KEY),
                                  "pipedrive": {"webhook_user": "hook", "webhook_password": "hook-pass",
                                                "jwt_secret": "j" * 32}},
                          cache={"pipedrive.jitter": lambda delay: 0.0, "xero.jitter": self.jitter.random})
        plugins = Plugins()
        if faults:
            plugins.register(CrashingHooks(self.plan), name="crashing-hooks")
        pipeline = Pipeline(runtime, plugins)
        self.workers.append(pipeline)
        return pipeline

    def stop_worker(self, pipeline: Pipeline) -> None:
        pipeline.store.close()


@attrs.define
class Report:
    seed: int
    operations: int = 0  # distinct operation keys asked for
    requests: int = 0  # calls made (repeats and races included)
    surfaced: list[tuple[str, str, bool]] = attrs.field(factory=list)  # (operation key, message, written) told to the caller
    crashes: int = 0
    restarts: int = 0
    webhooks_forged: int = 0
    webhooks_replayed: int = 0
    webhooks_reordered: int = 0
    forged_accepted: int = 0
    remote_changes: int = 0
    resent: int = 0  # requests refused before their operation existed, sent again by the client
    already_invoiced: int = 0  # deals a bulk run answered with the invoice they already had (no operation)
    faults: dict[str, int] = attrs.field(factory=dict)
    crash_points: dict[str, int] = attrs.field(factory=dict)
    findings: dict[str, Any] = attrs.field(factory=dict)

    def lines(self) -> list[str]:
        f = self.findings
        by_kind = collections.Counter()
        for name, n in self.faults.items():
            by_kind[name.split(":", 1)[1]] += n
        return [
            f"seed {self.seed}: {self.operations} operations asked for ({self.requests} requests incl. repeats/races; "
            f"{self.already_invoiced} bulk deals already invoiced)",
            f"faults injected: {sum(self.faults.values())} " + ", ".join(f"{k}={v}" for k, v in sorted(by_kind.items())),
            "  by backend: " + ", ".join(f"{k}={v}" for k, v in sorted(self.faults.items())),
            f"crashes: {self.crashes} (" + ", ".join(f"{k}={v}" for k, v in sorted(self.crash_points.items())) + f"), restarts: {self.restarts}",
            f"webhooks: forged={self.webhooks_forged} (accepted {self.forged_accepted}), replayed={self.webhooks_replayed}, "
            f"reordered={self.webhooks_reordered}; remote status changes: {self.remote_changes}",
            f"failures surfaced to callers: {len(self.surfaced)}",
            f"xero invoices by us: {f.get('xero_invoices')}, our records: {f.get('records')}, operations done: {f.get('done')}",
            f"duplicates found: {f.get('duplicates')}, orphans in Xero: {f.get('orphans')}, missing: {f.get('missing')}",
            f"status mismatches: {f.get('status_mismatches')}, reminders: {f.get('reminders')} "
            f"(records without exactly one: {f.get('reminder_problems')}), invisible failures: {f.get('invisible_failures')}",
        ]


async def _guard(world: World, worker: Pipeline, report: Report, action, retry=None) -> Pipeline:
    """Run ``action(worker)``. On a simulated crash: restart the worker, recover (which may crash too), then
    run ``retry`` (default: the action again), as a client whose request died sends it again."""
    pending = [action]
    while pending:
        step = pending[0]
        try:
            await step(worker)
            pending.pop(0)
        except Crash:
            report.crashes += 1
            world.stop_worker(worker)
            worker = world.start_worker()
            report.restarts += 1
            pending = [_recover, retry or action]
    return worker


async def _recover(worker: Pipeline) -> None:
    await worker.recover()


def _remember_failure(report: Report, key: str, exc: Exception, worker: Pipeline, *, existed: bool = False) -> None:
    """What the caller was told, and whether this call wrote the operation: if it did, the operation's
    timeline must say why it failed too; if not, the answer itself is where the failure shows."""
    report.surfaced.append((key, f"{type(exc).__name__}: {exc}", not existed and _has_op(worker, key)))


async def _create(worker: Pipeline, report: Report, deal_id: str, key: str, source: str, *, racing: bool = False) -> None:
    # In a race the other call may write the operation while this one fails before writing anything (say,
    # reading the deal): that failure shows in this call's answer, not in the operation's timeline.
    existed = racing or _has_op(worker, operation_key(source, key))
    try:
        await worker.create_invoice(deal_id, key=key, source=source)
    except InvoiceBridgeError as exc:
        _remember_failure(report, operation_key(source, key), exc, worker, existed=existed)


async def _remote_changes(world: World, report: Report, rng: random.Random) -> None:
    """What people do in Xero: approve drafts, record payments, void. Each queues a webhook event."""
    state = world.xero.state
    ours = [i for i in state.invoices.values() if i.created_by_app == CLIENT_ID]
    for invoice in rng.sample(ours, min(len(ours), rng.randint(1, 3))):
        try:
            if invoice.status == "DRAFT":
                state.set_status(invoice.invoice_id, rng.choice(["AUTHORISED", "SUBMITTED", "DELETED"]))
            elif invoice.status == "SUBMITTED":
                state.set_status(invoice.invoice_id, "AUTHORISED")
            elif invoice.status == "AUTHORISED":
                if rng.random() < 0.8:
                    state.add_payment(invoice.invoice_id, None if rng.random() < 0.6 else invoice.amount_due / 2)
                else:
                    state.set_status(invoice.invoice_id, "VOIDED")
            else:
                continue
            report.remote_changes += 1
        except Exception:  # a change Xero refuses (e.g. approving without a due date) is simply not made
            continue


async def _deliver_webhooks(world: World, worker: Pipeline, report: Report, rng: random.Random) -> None:
    """Deliver what Xero queued, sometimes duplicated, reordered, delayed, and with a forged one beside."""
    sandbox = world.xero
    received: list[tuple[bytes, str]] = []

    async def receiver(request: httpx.Request) -> httpx.Response:
        received.append((request.content, request.headers.get("x-xero-signature", "")))
        return httpx.Response(200)

    if rng.random() < 0.3:
        return  # delayed: the events stay queued until a later delivery (or the reconciliation sees them)
    sandbox.webhook_url = "http://app.test/webhooks/xero"
    sandbox.webhook_transport = httpx.MockTransport(receiver)
    await sandbox.deliver_webhooks()
    bodies = list(received)
    if bodies and rng.random() < 0.3:
        bodies = bodies + bodies  # duplicated delivery
        report.webhooks_replayed += 1
    if len(bodies) > 1 and rng.random() < 0.5:
        bodies.reverse()
        report.webhooks_reordered += 1
    if rng.random() < 0.4:
        forged = json.dumps({"events": [{"resourceId": i.invoice_id, "eventCategory": "INVOICE", "eventType": "UPDATE",
                                         "tenantId": sandbox.tenant_id, "eventDateUtc": "2026-11-20T10:00:00.000"}
                                        for i in list(sandbox.state.invoices.values())[:3]],
                             "firstEventSequence": 1, "lastEventSequence": 1, "entropy": "x"}).encode()
        bodies.insert(rng.randrange(len(bodies) + 1), (forged, "Zm9yZ2Vk"))
        report.webhooks_forged += 1
    for body, signature in bodies:
        try:
            ids = await worker.accounting_webhook(WebhookRequest(body=body, headers={"x-xero-signature": signature}))
        except WebhookRejected:
            continue
        if signature == "Zm9yZ2Vk":
            report.forged_accepted += 1
        try:
            await worker.sync_invoices(ids, source="webhook")
        except InvoiceBridgeError:
            pass  # lost in processing: the reconciliation catches it (checked at the end)


async def run_soak(seed: int, operations: int, workdir: Path, *, deals_per_bulk: int = 4) -> tuple[World, Report]:
    """Drive ``operations`` distinct create operations (plus repeats, races, webhooks, reconciliations)
    through the faulty world, then heal it and return it with the report (see :func:`check_world`)."""
    world = World(seed=seed, workdir=workdir)
    rng = random.Random(seed * 7919 + 1)
    report = Report(seed=seed)
    keys: list[tuple[str, str, str]] = []  # (source, the client's key or a bulk run id, deal id)
    worker = world.start_worker()
    n = 0
    while report.operations < operations:
        n += 1
        roll = rng.random()
        deal_id = rng.choice(world.deals)
        singles = [k for k in keys if k[0] != "bulk"]
        if roll < 0.55 or not singles:
            key = f"api-{seed}-{n}"
            source = rng.choice(["api", "page"])
            keys.append((source, key, deal_id))
            report.operations += 1
            report.requests += 1
            worker = await _guard(world, worker, report, lambda w: _create(w, report, deal_id, key, source))
        elif roll < 0.65:  # the same key again (from the same source): a double click, a client retrying
            source, key, deal_id = rng.choice(singles)
            report.requests += 1
            worker = await _guard(world, worker, report, lambda w: _create(w, report, deal_id, key, source))
        elif roll < 0.72:  # two server processes on one database, the same key at the same moment
            key = f"race-{seed}-{n}"
            keys.append(("api", key, deal_id))
            report.operations += 1
            report.requests += 2
            other = world.start_worker()

            async def race(w: Pipeline) -> None:
                results = await asyncio.gather(_create(w, report, deal_id, key, "api", racing=True),
                                               _create(other, report, deal_id, key, "api", racing=True),
                                               return_exceptions=True)
                for result in results:
                    if isinstance(result, BaseException):
                        raise result

            try:
                worker = await _guard(world, worker, report, race,
                                      retry=lambda w: _create(w, report, deal_id, key, "api"))
            finally:
                world.stop_worker(other)
        elif roll < 0.80:  # a bulk run
            chosen = rng.sample(world.deals, min(deals_per_bulk, len(world.deals)))
            run_id = f"bulk-{seed}-{n}"
            for d in chosen:
                keys.append(("bulk", run_id, d))
            report.operations += len(chosen)
            report.requests += 1

            async def bulk(w: Pipeline) -> None:
                try:
                    items = await w.create_many(chosen, run_id=run_id)
                except InvoiceBridgeError as exc:  # e.g. the deals could not be read: the run says why
                    for d in chosen:
                        _remember_failure(report, operation_key("bulk", run_id, d), exc, w)
                    return
                for item in items:
                    if item.error:
                        report.surfaced.append((item.operation_key, item.error, _has_op(w, item.operation_key)))

            worker = await _guard(world, worker, report, bulk)
        elif roll < 0.90:
            await _remote_changes(world, report, rng)
            worker = await _guard(world, worker, report, lambda w: _deliver_webhooks(world, w, report, rng))
        else:
            async def reconcile(w: Pipeline) -> None:
                try:
                    await w.reconcile()
                except InvoiceBridgeError:
                    pass  # shown on the connection; the next pass tries again

            worker = await _guard(world, worker, report, reconcile)
        world.clock.advance(rng.choice([1, 2, 5, 10, 30, 60, 200, 400]))
    # heal: faults off, a fresh process, recovery, a person pressing Retry on what is left, reconciliation
    world.plan.enabled = False
    world.stop_worker(worker)
    world.clock.advance(600)
    worker = world.start_worker(faults=False)
    await worker.recover()
    for op in worker.store.operations(states=("failed", "dead", "pending", "in_flight"), limit=100000):
        await worker.retry_operation(op["key"])
    # a request refused before its operation was written (e.g. the deal could not be read) was answered
    # with an error; the client sends it again
    wanted = []
    for source, key, deal_id in keys:
        stored = operation_key(source, key, deal_id) if source == "bulk" else operation_key(source, key)
        if not _has_op(worker, stored):
            report.resent += 1
            if source == "bulk":
                await worker.create_many([deal_id], run_id=key)
            else:
                await worker.create_invoice(deal_id, key=key, source=source)
        if source == "bulk" and not _has_op(worker, stored) and worker.store.invoices_for_deal(deal_id):
            report.already_invoiced += 1  # the run answered with the deal's invoice, and asked for none
            continue
        wanted.append(stored)
    await worker.recover()
    await world.xero.deliver_webhooks()
    await worker.reconcile()
    report.faults = dict(world.plan.faults)
    report.crash_points = dict(world.plan.crashes)
    report.findings = check_world(world, worker, wanted, report)
    world.stop_worker(worker)
    return world, report


STATUS = {"DRAFT": InvoiceStatus.DRAFT, "SUBMITTED": InvoiceStatus.AWAITING_APPROVAL, "AUTHORISED": InvoiceStatus.AWAITING_PAYMENT,
          "PAID": InvoiceStatus.PAID, "VOIDED": InvoiceStatus.VOIDED, "DELETED": InvoiceStatus.DELETED}


def _has_op(worker: Pipeline, key: str) -> bool:
    try:
        worker.store.get_operation(key)
    except InvoiceBridgeError:
        return False
    return True


SIDE_EFFECTS = ("crm_activity", "crm_complete_activity", "crm_note", "crm_deal_field", "command", "automation")


def unfinished_side_effects(worker: Pipeline) -> list[tuple[str, str, str]]:
    """Outbox rows of the kinds that retry by themselves still not ended (done, cancelled, or dead with its
    error shown) after a healed recovery: each would be a side effect lost."""
    return [(op["kind"], op["key"], op["state"]) for op in worker.store.operations(
        states=("pending", "in_flight", "failed"), limit=1_000_000, kinds=SIDE_EFFECTS)]


def check_world(world: World, worker: Pipeline, keys: list[str], report: Report) -> dict[str, Any]:
    """Compare the sandboxes' truth with our records."""
    store = worker.store
    xero_ours = {i.invoice_id: i for i in world.xero.state.invoices.values() if i.created_by_app == CLIENT_ID}
    records = list(store.all_invoices())
    by_remote = {r.remote_id: r for r in records}
    wanted = set(keys)
    done = [op for op in store.operations(states=("done",), limit=1_000_000)]
    recorded_keys = {r.operation_key for r in records}
    status_mismatches = [(r.id, r.status.value, xero_ours[r.remote_id].status) for r in records
                         if r.remote_id in xero_ours and (STATUS[xero_ours[r.remote_id].status] is not r.status
                                                          or xero_ours[r.remote_id].amount_paid != r.amount_paid)]
    reminders = [a for a in world.pipedrive.activities.values() if (a.get("subject") or "").startswith("Send invoice")]
    reminder_problems = []
    rows = {op["key"]: op["state"] for op in store.operations(states=("pending", "in_flight", "done", "failed", "dead", "cancelled"),
                                                              limit=1_000_000, kinds=("crm_activity",))}
    made = 0
    for r in records:
        tag = marker(f"invoice:xero:{r.remote_id}:reminder")
        found = [a for a in reminders if tag in (a.get("note") or "") and str(a.get("deal_id")) == r.deal_id]
        # one reminder per invoice that could be sent (awaiting payment, not sent yet) once it was seen so; none for
        # one that never could (cancelled when it was settled first); closed once emailed, paid, voided or deleted
        expected = 1 if rows.get(f"crm:invoice:xero:{r.remote_id}:reminder") == "done" else 0
        made += expected
        must = r.status is InvoiceStatus.AWAITING_PAYMENT and not r.sent
        still_open = [a for a in found if not a.get("done")]
        if len(found) != expected or (must and len(found) != 1) or (not must and r.status is not InvoiceStatus.AWAITING_PAYMENT and still_open):
            reminder_problems.append((r.id, len(found)))
    # the deal field ends equal to the current status of the deal's invoice (of one of them, when it has several)
    by_deal: dict[str, list[Any]] = {}
    for r in records:
        by_deal.setdefault(r.deal_id, []).append(r)
    deal_field_mismatches = []
    for deal_id, invoices in by_deal.items():
        value = (world.pipedrive.deals[int(deal_id)].get("custom_fields") or {}).get(world.status_field)
        labels = {str(display_label(r.status, amount_paid=r.amount_paid)) for r in invoices}
        if value not in labels:
            deal_field_mismatches.append((deal_id, value, sorted(labels)))
    audit = store.audit_entries(limit=1_000_000)
    failed_ops = {e["data"].get("operation") for e in audit if e["kind"] == "create_failed"}
    # visible = the caller got a message with a cause, and an operation that existed has it in its timeline
    # (an in-progress answer is not a failure: the first request is still running)
    invisible = [(k, m) for k, m, written in report.surfaced
                 if len(m.split(":", 1)[-1].strip()) < 10
                 or (written and k not in failed_ops and not any(
                     s in m for s in ("already being created", "OperationInProgress", "another worker took it over")))]
    return {
        "xero_invoices": len(xero_ours),
        "records": len(records),
        "done": len(done),
        "duplicates": len(xero_ours) - len(by_remote.keys() & xero_ours.keys()),
        "orphans": sorted(xero_ours.keys() - by_remote.keys()),
        "missing": sorted(wanted - recorded_keys),
        "unasked": sorted(recorded_keys - wanted),
        "status_mismatches": status_mismatches,
        "reminders": len(reminders),
        "reminder_problems": reminder_problems,
        "reminders_made": made,
        "invisible_failures": invisible,
        "unfinished_side_effects": unfinished_side_effects(worker),
        "deal_field_mismatches": deal_field_mismatches,
    }
