"""The Pipedrive HTTP client: v2 for entities, v1 for notes, webhooks, users/me and currencies.

Every request goes through :meth:`PipedriveClient.request`, which waits on the connection's rate-limit
:class:`~.ratelimit.Gate`, maps httpx exceptions and HTTP statuses to our errors (the one boundary), and
retries by the pure :func:`~.ratelimit.retry_decision`. Paging: v2 follows ``additional_data.next_cursor``,
v1 follows ``additional_data.pagination.next_start``.
"""

from __future__ import annotations

import hashlib
import random
from typing import Any, Iterable

import httpx

from invoicebridge.core.i18n import _
from invoicebridge.core.errors import BackendError, DailyLimitReached, RateLimited, RemoteNotFound, TransportError

from . import auth
from .config import PipedriveConfig, base_url
from .errors import error_for_response, header_float, reset_seconds
from .ratelimit import Gate, retry_decision

BLOCK_PAUSE_S = 300.0  # after Cloudflare's HTML 403 (sent to clients that kept firing after a 429)

PAGE_LIMIT = 500
BATCH = 100  # ids= and deal_ids= take at most 100


def chunks(items: list, size: int = BATCH) -> Iterable[list]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def default_jitter(delay: float) -> float:
    return random.uniform(0, min(1.0, delay * 0.1))


class PipedriveClient:
    """One logical client for one connection (or a bare token during connect). Use as ``async with``."""

    def __init__(self, runtime: Any, connection: Any = None, *, secrets: dict | None = None,
                 settings: dict | None = None) -> None:
        self.runtime = runtime
        self.connection = connection
        self.cfg = PipedriveConfig.from_runtime(runtime)
        self.settings = dict(settings if settings is not None else (connection.settings if connection else {}))
        self.secrets = dict(secrets if secrets is not None else runtime.secrets(connection))
        self.base_url = base_url(self.cfg, self.settings)
        self.auth = auth.PipedriveAuth(self.secrets, now=runtime.now, refresher=self._refresh_tokens)
        gate_key = ("pipedrive", "gate", connection.id if connection is not None else
                    hashlib.sha256(repr(sorted(self.secrets.items())).encode()).hexdigest()[:16])
        self.gate: Gate = runtime.cache.setdefault(gate_key, Gate())
        self.jitter = runtime.cache.get("pipedrive.jitter", default_jitter)
        self._http: httpx.AsyncClient | None = None

    async def __aenter__(self) -> "PipedriveClient":
        self._http = self.runtime.http_client("pipedrive", base_url=self.base_url, auth=self.auth,
                                              headers={"Accept": "application/json"})
        return self

    async def __aexit__(self, *exc: Any) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def _refresh_tokens(self, secrets: dict[str, Any]) -> dict[str, Any]:
        async with self.runtime.http_client("pipedrive") as token_client:
            payload = await auth.refresh(token_client, self.cfg, secrets.get("refresh_token", ""))
        new = {**secrets, **auth.token_secrets(payload, self.runtime.now(), secrets)}
        if self.connection is not None:
            self.runtime.save_secrets(self.connection, new)
            if payload.get("api_domain") and payload["api_domain"] != self.settings.get("api_domain"):
                self.runtime.update_settings(self.connection, {**self.settings, "api_domain": payload["api_domain"]})
        self.secrets = new
        return new

    # ---- the one request path ------------------------------------------------------------------------

    async def request(self, method: str, path: str, *, params: dict | None = None, json: Any = None,
                      what: str = "") -> dict[str, Any]:
        assert self._http is not None, "use PipedriveClient as an async context manager"
        attempt = 0
        while True:
            attempt += 1
            await self.gate.wait(self.runtime.now, self.runtime.sleep)
            try:
                response = await self._http.request(method, path, params=params, json=json)
            except httpx.HTTPError as exc:
                error: BackendError = TransportError(
                    f"Could not reach Pipedrive ({type(exc).__name__}); check the network and try again",
                    backend="pipedrive", method=method, url=self.base_url + path)
            else:
                self.gate.observe(header_float(response.headers, "x-ratelimit-remaining"),
                                  reset_seconds(response.headers, self.runtime.now()), self.runtime.now())
                if response.status_code < 400:
                    return self._json(response)
                error = error_for_response(response, what=what, now=self.runtime.now())
            if isinstance(error, DailyLimitReached):
                self.gate.spend_day(error.retry_after, self.runtime.now())
                raise error
            if isinstance(error, RateLimited) and error.problem == "blocked":
                self.gate.close_for(BLOCK_PAUSE_S, self.runtime.now())  # nothing from this connection for a while
            decision = retry_decision(error, attempt, method, jitter=self.jitter(
                error.retry_after if isinstance(error, RateLimited) and error.retry_after else 1.0))
            if not decision.retry:
                raise error
            if isinstance(error, RateLimited):
                self.gate.close_for(decision.delay, self.runtime.now())  # everyone waits, not only us
            else:
                await self.runtime.sleep(decision.delay)

    @staticmethod
    def _json(response: httpx.Response) -> dict[str, Any]:
        try:
            data = response.json()
        except ValueError:
            raise BackendError(_("Pipedrive answered with something that is not JSON; try again later"),
                               backend="pipedrive", method=response.request.method, url=str(response.request.url),
                               status=response.status_code) from None
        if isinstance(data, dict) and data.get("success") is False:
            raise error_for_response(response)
        return data

    async def paginate_v2(self, path: str, params: dict | None = None, *, what: str = "") -> list[dict]:
        params = {**(params or {}), "limit": PAGE_LIMIT}
        out: list[dict] = []
        while True:
            body = await self.request("GET", path, params=params, what=what)
            out.extend(body.get("data") or [])
            cursor = (body.get("additional_data") or {}).get("next_cursor")
            if not cursor:
                return out
            params = {**params, "cursor": cursor}

    async def paginate_v1(self, path: str, params: dict | None = None) -> list[dict]:
        params = {**(params or {}), "start": 0, "limit": PAGE_LIMIT}
        out: list[dict] = []
        while True:
            body = await self.request("GET", path, params=params)
            out.extend(body.get("data") or [])
            extra = body.get("additional_data") or {}
            page = extra.get("pagination") or extra  # the v1 schema and example disagree; accept both
            if not page.get("more_items_in_collection"):
                return out
            params = {**params, "start": page.get("next_start", params["start"] + PAGE_LIMIT)}

    # ---- v2 reads ------------------------------------------------------------------------------------

    async def deal(self, deal_id: str) -> dict:
        if not str(deal_id).isdigit() or not str(deal_id).isascii():  # "abc" would be a ValueError (a 500) below
            raise RemoteNotFound(_("Deal '%(deal)s' was not found in Pipedrive: deal ids are whole numbers") % {"deal": str(deal_id)[:40]},
                                 backend="pipedrive")
        return (await self.request("GET", f"/api/v2/deals/{int(deal_id)}", what=_("Deal %(id)s") % {"id": deal_id}))["data"]

    async def deals(self, ids: list[str]) -> list[dict]:
        out: list[dict] = []
        for part in chunks([str(int(i)) for i in ids]):
            out.extend(await self.paginate_v2("/api/v2/deals", {"ids": ",".join(part)}))
        return out

    async def find_deals(self, params: dict) -> list[dict]:
        return await self.paginate_v2("/api/v2/deals", params)

    async def search_deals(self, term: str, *, limit: int = 100) -> list[dict]:
        """One page of ``searchDeals`` (title, notes, custom fields), best first: ``[{result_score, item}]``."""
        body = await self.request("GET", "/api/v2/deals/search", params={"term": term, "limit": limit})
        return (body.get("data") or {}).get("items") or []

    async def search_organizations(self, term: str, *, limit: int = 10) -> list[dict]:
        body = await self.request("GET", "/api/v2/organizations/search", params={"term": term, "limit": limit})
        return (body.get("data") or {}).get("items") or []

    async def deals_of_organization(self, org_id: int, *, limit: int = 100) -> list[dict]:
        """One page of the organization's deals (open, won and lost)."""
        body = await self.request("GET", "/api/v2/deals", params={"org_id": int(org_id), "limit": limit})
        return body.get("data") or []

    async def deal_products(self, deal_id: str) -> list[dict]:
        return await self.paginate_v2(f"/api/v2/deals/{int(deal_id)}/products", what=_("Deal %(id)s") % {"id": deal_id})

    async def deals_products(self, deal_ids: list[str]) -> list[dict]:
        out: list[dict] = []
        for part in chunks([str(int(i)) for i in deal_ids]):
            out.extend(await self.paginate_v2("/api/v2/deals/products", {"deal_ids": ",".join(part)}))
        return out

    async def discounts(self, deal_id: str) -> list[dict]:
        body = await self.request("GET", f"/api/v2/deals/{int(deal_id)}/discounts", what=_("Deal %(id)s") % {"id": deal_id})
        return body.get("data") or []

    async def _by_ids(self, path: str, ids: Iterable[Any]) -> list[dict]:
        wanted = sorted({str(int(i)) for i in ids if i is not None}, key=int)
        out: list[dict] = []
        for part in chunks(wanted):
            out.extend(await self.paginate_v2(path, {"ids": ",".join(part)}))
        return out

    async def organizations(self, ids: Iterable[Any]) -> list[dict]:
        return await self._by_ids("/api/v2/organizations", ids)

    async def persons(self, ids: Iterable[Any]) -> list[dict]:
        return await self._by_ids("/api/v2/persons", ids)

    async def products(self, ids: Iterable[Any]) -> list[dict]:
        return await self._by_ids("/api/v2/products", ids)

    async def fields(self, entity: str) -> list[dict]:
        """Field definitions of ``deal``, ``organization`` or ``person``."""
        return await self.paginate_v2(f"/api/v2/{entity}Fields")

    async def activities(self, deal_id: str) -> list[dict]:
        return await self.paginate_v2("/api/v2/activities", {"deal_id": int(deal_id)})

    # ---- v2 writes -----------------------------------------------------------------------------------

    async def activity(self, activity_id: str) -> dict:
        return (await self.request("GET", f"/api/v2/activities/{int(activity_id)}"))["data"]

    async def update_activity(self, activity_id: str, body: dict) -> dict:
        return (await self.request("PATCH", f"/api/v2/activities/{int(activity_id)}", json=body))["data"]

    async def add_activity(self, body: dict) -> dict:
        return (await self.request("POST", "/api/v2/activities", json=body))["data"]

    # ---- v1 ------------------------------------------------------------------------------------------

    async def me(self) -> dict:
        return (await self.request("GET", "/api/v1/users/me"))["data"]

    async def activity_types(self) -> list[dict]:
        return (await self.request("GET", "/api/v1/activityTypes")).get("data") or []

    async def currencies(self) -> list[dict]:
        return (await self.request("GET", "/api/v1/currencies")).get("data") or []

    async def notes(self, deal_id: str) -> list[dict]:
        return await self.paginate_v1("/api/v1/notes", {"deal_id": int(deal_id)})

    async def add_note(self, body: dict) -> dict:
        return (await self.request("POST", "/api/v1/notes", json=body))["data"]

    async def webhooks(self) -> list[dict]:
        return (await self.request("GET", "/api/v1/webhooks")).get("data") or []

    async def add_webhook(self, body: dict) -> dict:
        return (await self.request("POST", "/api/v1/webhooks", json=body))["data"]

    async def delete_webhook(self, webhook_id: int) -> None:
        await self.request("DELETE", f"/api/v1/webhooks/{int(webhook_id)}", what=_("Webhook %(id)s") % {"id": webhook_id})
