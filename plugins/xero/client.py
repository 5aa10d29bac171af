"""The Xero Accounting API client for one connection (one tenant).

Every call carries ``xero-tenant-id`` and goes through the connection's connector (the kit in
:mod:`invoicebridge.core.connector`): the limiter (fact sheet §10: 5 in flight, 60 a rolling minute, 5,000 a day,
and pacing by Xero's remaining-budget headers), the token keeper, error mapping at one boundary (:mod:`.errors`)
and the retry policy. Creates and updates carry an ``Idempotency-Key``, so every method is safe to retry.
Use it as ``async with XeroClient(runtime, connection) as xero: ...``; the HTTP client stays open between uses.
"""

from __future__ import annotations

import random
from typing import Any, Callable, TypeVar

import httpx

from invoicebridge.core.connector import Connector, Limiter, RetryPolicy, connector_for
from invoicebridge.core.errors import AuthError

from .i18n import _
from . import auth
from . import converter as w
from .config import XeroConfig
from .errors import XeroDialect, daily_limit_reached

T = TypeVar("T")
BATCH_SIZE = 50  # "a ceiling of about 50 nodes per request is practical" (fact sheet §2)
PAGE_SIZE = 1000  # the largest page Xero serves, reportedly (fact sheet §5.1): we ask for it, and follow Xero's count
CONCURRENT, PER_MINUTE, PER_DAY, WINDOW = 5, 60, 5000, 60.0  # per organisation (fact sheet §10)
BASE_DELAY = 0.5  # backoff after 5xx and network errors: 0.5, 1, 2 s ... plus up to BASE_DELAY of jitter
DEFAULT_RETRY_AFTER = 60.0  # a 429 without Retry-After (the concurrent limit) waits a minute


def retry_policy(fraction: Callable[[], float] = random.random) -> RetryPolicy:
    """Every method is retried (creates and updates carry an Idempotency-Key); a 429 waits exactly what Xero said."""
    return RetryPolicy(max_attempts=4, base=BASE_DELAY, cap=30.0, default_retry_after=DEFAULT_RETRY_AFTER,
                       retry_methods=None, jitter=lambda delay: fraction() * BASE_DELAY)


def connector(runtime: Any, connection: Any, config: XeroConfig) -> Connector:
    """The connection's one connector, kept in ``runtime.cache`` until disconnect or shutdown."""

    def build() -> Connector:
        limiter = Limiter(now=runtime.now, sleep=runtime.sleep, concurrent=CONCURRENT, windows=[(PER_MINUTE, WINDOW)],
                          per_day=PER_DAY, exhausted=daily_limit_reached)
        built = Connector(runtime, XeroDialect(), limiter=limiter,
                          retry=retry_policy(runtime.cache.get("xero.jitter", random.random)))
        built.keeper = auth.keeper(runtime, connection, built, config)
        return built

    return connector_for(runtime, "xero", connection.id, build)


def identity_connector(runtime: Any) -> Connector:
    """For the identity endpoints (token, connections, revocation), which no organisation's limits cover."""
    return connector_for(runtime, "xero", "identity", lambda: Connector(
        runtime, XeroDialect(), retry=retry_policy(runtime.cache.get("xero.jitter", random.random))))


def last_page(data: dict[str, Any], page: int, got: int) -> bool:
    """Whether ``page`` was the last: by Xero's ``pagination.pageCount`` when it sends one, else by a page
    shorter than the page size Xero says it used (or than we asked for)."""
    pagination = data.get("pagination") or {}
    if pagination.get("pageCount") is not None:
        return page >= int(pagination["pageCount"])
    return got < int(pagination.get("pageSize") or PAGE_SIZE)


class XeroClient:
    def __init__(
        self,
        runtime: Any,
        connection: Any,
        config: XeroConfig | None = None,
        *,
        jitter: Callable[[], float] | None = None,
    ) -> None:
        self.runtime = runtime
        self.connection = connection
        self.config = config or XeroConfig.from_runtime(runtime)
        self.tenant_id = str(connection.settings.get("tenant_id") or "")
        if not self.tenant_id:
            raise AuthError(_("The Xero connection has no organisation selected; reconnect Xero and pick one"),
                            backend="xero")
        # Backoff jitter: injectable per runtime ("xero.jitter" in runtime.cache), so seeded runs repeat.
        self.retry = retry_policy(jitter or runtime.cache.get("xero.jitter", random.random))
        self.connector = connector(runtime, connection, self.config)
        self.keeper = self.connector.keeper
        self.limiter = self.connector.limiter

    async def __aenter__(self) -> "XeroClient":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        pass  # the connection's HTTP client stays open for the next use (closed on disconnect and shutdown)

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
        idempotency_key: str | None = None,
        accept: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        sent = {"xero-tenant-id": self.tenant_id, "Accept": accept, **(headers or {})}
        kwargs: dict[str, Any] = {}
        if body is not None:
            sent["Content-Type"] = "application/json"
            kwargs["content"] = w.dumps(body)
        if idempotency_key:
            sent["Idempotency-Key"] = idempotency_key
        params = {k: v for k, v in (params or {}).items() if v is not None}
        return await self.connector.request(method, f"{self.config.api_base}/{path.lstrip('/')}", params=params,
                                            headers=sent, retry=self.retry, **kwargs)

    async def get_json(self, path: str, **kwargs: Any) -> Any:
        response = await self.request("GET", path, **kwargs)
        return w.loads(response.content)

    async def get_list(self, path: str, key: str, cls: type[T], **kwargs: Any) -> list[T]:
        return w.structure_list((await self.get_json(path, **kwargs)).get(key), cls)

    # -- settings and lists
    async def organisation(self) -> w.Organisation:
        orgs = await self.get_list("Organisation", "Organisations", w.Organisation)
        if not orgs:
            raise AuthError(_("Xero returned no organisation for this connection; reconnect Xero"), backend="xero")
        return orgs[0]

    async def users(self) -> list[w.User]:
        return await self.get_list("Users", "Users", w.User)

    # -- contacts
    async def find_contacts(self, where: str) -> list[w.Contact]:
        return await self.get_list("Contacts", "Contacts", w.Contact, params={"where": where})

    async def contacts_page(self, page: int, *, modified_since: str | None = None) -> tuple[list[w.Contact], Any, bool]:
        """One page (of ``PAGE_SIZE``) of every contact, archived ones included, modified since a moment;
        returns the contacts, the response's ``DateTimeUTC`` (Xero's clock, for the next ``If-Modified-Since``)
        and whether this was the last page."""
        headers = {"If-Modified-Since": modified_since} if modified_since else None
        data = await self.get_json("Contacts", params={"page": page, "pageSize": PAGE_SIZE, "includeArchived": "true"},
                                   headers=headers)
        contacts = w.structure_list(data.get("Contacts"), w.Contact)
        return contacts, data.get("DateTimeUTC"), last_page(data, page, len(contacts))

    async def create_contacts(self, contacts: list[w.Contact], key: str) -> list[w.Contact]:
        data = await self._send_elements("PUT", "Contacts", "Contacts", [w.unstructure(c) for c in contacts], key)
        return w.structure_list(data, w.Contact)

    # -- invoices
    async def create_invoices(self, invoices: list[w.Invoice], key: str) -> list[w.Invoice]:
        data = await self._send_elements("PUT", "Invoices", "Invoices", [w.unstructure(i) for i in invoices], key,
                                         unitdp=True)
        return w.structure_list(data, w.Invoice)

    async def update_invoice(self, invoice_id: str, changes: dict[str, Any], key: str) -> w.Invoice:
        body = {"Invoices": [{"InvoiceID": invoice_id, **changes}]}
        response = await self.request("POST", f"Invoices/{invoice_id}", params={"unitdp": 4}, body=body,
                                      idempotency_key=key)
        return w.structure_list(w.loads(response.content).get("Invoices"), w.Invoice)[0]

    async def email_invoice(self, invoice_id: str, key: str) -> None:
        await self.request("POST", f"Invoices/{invoice_id}/Email", body={}, idempotency_key=key)

    async def invoices(self, *, params: dict[str, Any] | None = None, modified_since: str | None = None) -> list[w.Invoice]:
        """All pages of ``GET /Invoices`` (page size 1000) with these filters."""
        headers = {"If-Modified-Since": modified_since} if modified_since else None
        out: list[w.Invoice] = []
        page = 1
        while True:
            query = {**(params or {}), "page": page, "pageSize": PAGE_SIZE, "unitdp": 4}
            data = await self.get_json("Invoices", params=query, headers=headers)
            batch = w.structure_list(data.get("Invoices"), w.Invoice)
            out.extend(batch)
            if not batch or last_page(data, page, len(batch)):
                return out
            page += 1

    async def invoice(self, invoice_id: str) -> w.Invoice:
        found = await self.get_list(f"Invoices/{invoice_id}", "Invoices", w.Invoice, params={"unitdp": 4})
        return found[0]

    async def invoice_pdf(self, invoice_id: str) -> bytes:
        response = await self.request("GET", f"Invoices/{invoice_id}", accept="application/pdf")
        return response.content

    async def online_invoice_url(self, invoice_id: str) -> str:
        found = await self.get_list(f"Invoices/{invoice_id}/OnlineInvoice", "OnlineInvoices", w.OnlineInvoice)
        return (found[0].online_invoice_url or "") if found else ""

    async def _send_elements(
        self, method: str, path: str, key: str, elements: list[dict[str, Any]], idem: str, *, unitdp: bool = False
    ) -> list[Any]:
        params: dict[str, Any] = {"summarizeErrors": "false"}
        if unitdp:
            params["unitdp"] = 4
        response = await self.request(method, path, params=params, body={key: elements}, idempotency_key=idem)
        return w.loads(response.content).get(key) or []


# ---- identity endpoints (no tenant) ------------------------------------------------------------------


async def list_connections(runtime: Any, config: XeroConfig, access_token: str) -> list[w.TenantConnection]:
    response = await identity_connector(runtime).request(
        "GET", config.connections_url, authorize=False, limited=False,
        headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"})
    return w.structure_list(w.loads(response.content), w.TenantConnection)


async def delete_connection(runtime: Any, config: XeroConfig, access_token: str, connection_id: str) -> None:
    await identity_connector(runtime).request("DELETE", f"{config.connections_url}/{connection_id}", authorize=False,
                                              limited=False, headers={"Authorization": f"Bearer {access_token}"})
