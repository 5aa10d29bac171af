"""The QBO client of one connection, on core's connector kit (``invoicebridge.core.connector``).

Every call goes to ``{api_base}/v3/company/{realmId}/…`` with ``minorversion=75`` and ``Accept: application/json``
(fact sheet §2). Limits per company (§7): 10 in flight, 500 a minute and 10 a second (the connection's limiter),
and 40 batch calls a minute (a second limiter entered by batch calls only). A throttle answer (429, or the XML
3001 fault) pauses the whole connection for ``Retry-After`` or 60 s and is retried. Writes carry a ``requestid``
(≤ 50 characters; ≤ 36 for a batch), so a retried write is replayed by QBO, never done twice: only those are
retried after a server or network error. Tokens: Intuit's (1 hour, rotating refresh tokens whose predecessor keeps
working 24 hours), kept by the kit's :class:`TokenKeeper`; ``invalid_grant`` means reconnect.
"""

from __future__ import annotations

import datetime as dt
import uuid
import weakref
from typing import Any

import attrs
import httpx

from invoicebridge.core.connector import Connector, Dialect, Limiter, OAuthApp, RetryPolicy, TokenKeeper, connector_for
from .i18n import _

from .config import QboConfig
from .errors import BACKEND, error_for_response, loads
from .qbotime import pacific

CONCURRENT, PER_MINUTE, PER_SECOND, BATCH_PER_MINUTE = 10, 500, 10, 40
# one batch-call limiter per connector (per connection): QBO's 40 batch calls a minute, beside the kit's limits
BATCH_LIMITERS: weakref.WeakKeyDictionary[Connector, Limiter] = weakref.WeakKeyDictionary()
PAGE = 1000  # MAXRESULTS ceiling
ACCESS_LIFETIME, REFRESH_GRACE = 3600.0, 24 * 3600.0


class QboDialect(Dialect):
    backend = BACKEND

    def error_for(self, response: httpx.Response):
        return error_for_response(response)


def oauth_app(config: QboConfig) -> OAuthApp:
    return OAuthApp(client_id=config.client_id, client_secret=config.client_secret, token_url=config.token_url,
                    authorize_url=config.authorize_url, revoke_url=config.revoke_url,
                    auth_method="client_secret_basic")


def build_connector(runtime: Any, connection: Any, config: QboConfig) -> Connector:
    limiter = Limiter(now=runtime.now, sleep=runtime.sleep, concurrent=CONCURRENT,
                      windows=[(PER_MINUTE, 60.0), (PER_SECOND, 1.0)])
    connector = Connector(runtime, QboDialect(), limiter=limiter, retry=RetryPolicy(default_retry_after=60.0),
                          headers={"Accept": "application/json"})
    if connection is not None:
        connector.keeper = TokenKeeper(
            runtime, connection, connector, oauth_app(config), lifetime=ACCESS_LIFETIME, grace=REFRESH_GRACE,
            reconnect=_("QuickBooks refused the stored sign-in (%(error)s); reconnect QuickBooks"),
            keep=("x_refresh_token_expires_in",))
    BATCH_LIMITERS[connector] = Limiter(now=runtime.now, sleep=runtime.sleep, windows=[(BATCH_PER_MINUTE, 60.0)])
    return connector


async def first_reads(connector: Connector, config: QboConfig, realm_id: str, access_token: str) -> tuple[dict, dict]:
    """CompanyInfo and Preferences with a fresh access token, before the connection is stored."""
    headers = {"Authorization": f"Bearer {access_token}"}
    params = {"minorversion": config.minor_version}
    info = await connector.request("GET", config.company_url(realm_id, f"companyinfo/{realm_id}"), authorize=False,
                                   params=params, headers=headers)
    prefs = await connector.request("GET", config.company_url(realm_id, "preferences"), authorize=False,
                                    params=params, headers=headers)
    return loads(info.content)["CompanyInfo"], loads(prefs.content)["Preferences"]


class QboClient:
    def __init__(self, runtime: Any, connection: Any) -> None:
        self.runtime = runtime
        self.connection = connection
        self.config = QboConfig.from_runtime(runtime)
        self.realm_id = str(connection.settings.get("realm_id", ""))
        self.connector = connector_for(runtime, BACKEND, connection.id,
                                       lambda: build_connector(runtime, connection, self.config))

    async def __aenter__(self) -> "QboClient":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        return None  # the connector (and its HTTP client) is kept for the connection

    @property
    def keeper(self) -> TokenKeeper:
        return self.connector.keeper

    # ---- plumbing -----------------------------------------------------------------------------------------

    async def request(self, method: str, path: str, *, params: dict[str, str] | None = None, json_body: Any = None,
                      content: bytes | None = None, headers: dict[str, str] | None = None,
                      request_id: str = "") -> httpx.Response:
        query = {"minorversion": self.config.minor_version, **(params or {})}
        hdrs = dict(headers or {})
        if request_id:
            query["requestid"] = request_id
        if json_body is not None:
            content = dumps(json_body)
            hdrs["Content-Type"] = "application/json"
        # a write is safe to send again only with a requestid (QBO replays the first answer)
        retry = attrs.evolve(self.connector.retry, retry_methods=None) if request_id else None
        url = self.config.company_url(self.realm_id, path)
        if path == "batch":
            async with BATCH_LIMITERS[self.connector]:
                return await self.connector.request(method, url, params=query, content=content, headers=hdrs,
                                                    retry=retry)
        return await self.connector.request(method, url, params=query, content=content, headers=hdrs, retry=retry)

    async def json(self, method: str, path: str, **kw: Any) -> dict[str, Any]:
        return loads((await self.request(method, path, **kw)).content)

    # ---- reads ----------------------------------------------------------------------------------------------

    async def company_info(self) -> dict[str, Any]:
        return (await self.json("GET", f"companyinfo/{self.realm_id}"))["CompanyInfo"]

    async def preferences(self) -> dict[str, Any]:
        return (await self.json("GET", "preferences"))["Preferences"]

    async def read(self, entity: str, entity_id: str, *, include: str = "") -> dict[str, Any]:
        params = {"include": include} if include else None
        return (await self.json("GET", f"{entity.lower()}/{entity_id}", params=params))[entity]

    async def query(self, statement: str, entity: str, *, post: bool = False) -> list[dict[str, Any]]:
        """Every row of ``statement`` (without STARTPOSITION/MAXRESULTS), read in pages of 1,000. ``post``: send
        the statement as the body (``application/text``), for long ones."""
        rows: list[dict[str, Any]] = []
        start = 1
        while True:
            text = f"{statement} STARTPOSITION {start} MAXRESULTS {PAGE}"
            if post:  # a read: a fresh requestid makes it safe to send again after a server error
                answer = await self.json("POST", "query", content=text.encode(), request_id=str(uuid.uuid4()),
                                         headers={"Content-Type": "application/text"})
            else:
                answer = await self.json("GET", "query", params={"query": text})
            page = answer.get("QueryResponse", {}).get(entity, [])
            rows.extend(page)
            if len(page) < PAGE:
                return rows
            start += PAGE

    async def cdc(self, entities: str, since: dt.datetime) -> dict[str, list[dict[str, Any]]]:
        answer = await self.json("GET", "cdc", params={"entities": entities, "changedSince": pacific(since)})
        out: dict[str, list[dict[str, Any]]] = {}
        for block in answer.get("CDCResponse", []):
            for response in block.get("QueryResponse", []):
                for key, value in response.items():
                    if isinstance(value, list):
                        out.setdefault(key, []).extend(value)
        return out

    async def pdf(self, invoice_id: str) -> bytes:
        return (await self.request("GET", f"invoice/{invoice_id}/pdf", headers={"Accept": "application/pdf"})).content

    # ---- writes ----------------------------------------------------------------------------------------------

    async def write(self, entity: str, body: dict[str, Any], *, request_id: str, operation: str = "",
                    include: str = "") -> dict[str, Any]:
        params = {k: v for k, v in (("operation", operation), ("include", include)) if v}
        return (await self.json("POST", entity.lower(), params=params, json_body=body, request_id=request_id))[entity]

    async def batch(self, items: list[dict[str, Any]], *, request_id: str) -> list[dict[str, Any]]:
        answer = await self.json("POST", "batch", json_body={"BatchItemRequest": items}, request_id=request_id)
        return list(answer.get("BatchItemResponse", []))

    async def send(self, invoice_id: str, *, request_id: str, send_to: str = "") -> dict[str, Any]:
        params = {"sendTo": send_to} if send_to else None
        answer = await self.json("POST", f"invoice/{invoice_id}/send", params=params, request_id=request_id,
                                 headers={"Content-Type": "application/octet-stream"})
        return answer["Invoice"]


def _number(value: Any) -> Any:
    from decimal import Decimal

    if isinstance(value, Decimal):
        return float(value)  # amounts are quantised first, so the float written is the decimal exactly
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def dumps(payload: Any) -> bytes:
    import json

    return json.dumps(payload, default=_number, separators=(",", ":"), ensure_ascii=False).encode()
