"""The Pipedrive HTTP client: v2 for entities, v1 for notes, webhooks, users/me and currencies.

Every request goes through the connection's connector (the kit in :mod:`invoicebridge.core.connector`): its
limiter (at most 20 starts in a rolling 2 s window, and pacing by Pipedrive's ``x-ratelimit-*`` and daily-budget
headers; after a 429 the whole connection waits, since Cloudflare blocks clients that keep firing), the OAuth token
keeper, error mapping at one boundary (:mod:`.errors`) and the retry policy (5xx and network errors only for
idempotent methods: a POST that creates an activity or a note is never blindly retried). Paging: v2 follows
``additional_data.next_cursor``, v1 follows ``additional_data.pagination.next_start``.
"""

from __future__ import annotations

from typing import Any, Iterable

import httpx

from invoicebridge.core.connector import IDEMPOTENT_METHODS, Connector, Limiter, RetryPolicy, connector_for
from invoicebridge.core.connector import proportional_jitter
from invoicebridge.core.errors import AuthError, BackendError, RemoteNotFound

from .i18n import _
from . import auth
from .config import PipedriveConfig, base_url
from .errors import BURST_WINDOW, PipedriveDialect, daily_budget_spent_error, error_for_response

BURST = 20  # requests per 2 s window: the smallest plan's burst limit for API tokens (fact sheet §7.1)
MAX_ATTEMPTS = 4
DEFAULT_429_WAIT = 2.0  # one burst window when Pipedrive gives no header

PAGE_LIMIT = 500
BATCH = 100  # ids= and deal_ids= take at most 100


def chunks(items: list, size: int = BATCH) -> Iterable[list]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def retry_policy(runtime: Any) -> RetryPolicy:
    """429: wait Retry-After / x-ratelimit-reset (else one window) plus jitter; never a spent day or a firewall
    block. 5xx and network errors: 1, 2, 4 s ... plus jitter, for idempotent methods only."""
    return RetryPolicy(max_attempts=MAX_ATTEMPTS, base=1.0, cap=30.0, default_retry_after=DEFAULT_429_WAIT,
                       retry_methods=IDEMPOTENT_METHODS, final_problems=frozenset({"blocked"}),
                       jitter=runtime.cache.get("pipedrive.jitter", proportional_jitter), jitter_rate_limits=True)


def build_connector(runtime: Any, connection: Any = None) -> Connector:
    limiter = Limiter(now=runtime.now, sleep=runtime.sleep, windows=[(BURST, BURST_WINDOW)],
                      exhausted=daily_budget_spent_error)
    built = Connector(runtime, PipedriveDialect(runtime.now), limiter=limiter, retry=retry_policy(runtime),
                      headers={"Accept": "application/json"})
    if connection is not None:
        secrets = runtime.secrets(connection)
        if secrets.get("refresh_token") and not secrets.get("api_token"):
            built.keeper = auth.keeper(runtime, connection, built, PipedriveConfig.from_runtime(runtime))
    return built


def connector(runtime: Any, connection: Any) -> Connector:
    """The connection's one connector, kept in ``runtime.cache`` until disconnect or shutdown."""
    return connector_for(runtime, "pipedrive", connection.id, lambda: build_connector(runtime, connection))


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
        # a connection's connector is kept; a bare token's (while connecting) lives as long as this client
        self._own = connection is None or secrets is not None
        self.connector = build_connector(runtime) if self._own else connector(runtime, connection)
        self.limiter = self.connector.limiter

    async def __aenter__(self) -> "PipedriveClient":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        if self._own:
            await self.connector.aclose()

    def _credentials(self) -> tuple[bool, dict[str, str]]:
        """(whether the keeper puts its token on, headers to send) for this client's secrets."""
        if self.secrets.get("api_token"):
            return False, {"x-api-token": self.secrets["api_token"]}
        if self.connector.keeper is not None:
            return True, {}
        if self.secrets.get("access_token"):
            return False, {"Authorization": f"Bearer {self.secrets['access_token']}"}
        raise AuthError(_("The Pipedrive connection has no API token or access token; reconnect Pipedrive"),
                        backend="pipedrive")

    # ---- the one request path ------------------------------------------------------------------------

    async def request(self, method: str, path: str, *, params: dict | None = None, json: Any = None,
                      what: str = "") -> dict[str, Any]:
        authorize, headers = self._credentials()
        response = await self.connector.request(method, self.base_url + path, params=params, json=json,
                                                headers=headers, authorize=authorize, passthrough=(404,))
        if response.status_code == 404:  # named after what was asked for ("Deal 42")
            raise error_for_response(response, what=what, now=self.runtime.now())
        return self._json(response)

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

    async def deal(self, deal_id: str, *, include: str = "") -> dict:
        """``getDeal``; ``include`` is one of the spec's ``include_fields`` (e.g. ``products_count``)."""
        if not str(deal_id).isdigit() or not str(deal_id).isascii():  # "abc" would be a ValueError (a 500) below
            raise RemoteNotFound(_("Deal '%(deal)s' was not found in Pipedrive: deal ids are whole numbers") % {"deal": str(deal_id)[:40]},
                                 backend="pipedrive")
        return (await self.request("GET", f"/api/v2/deals/{int(deal_id)}", params={"include_fields": include} if include else None,
                                   what=_("Deal %(id)s") % {"id": deal_id}))["data"]

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

    async def update_deal(self, deal_id: str, body: dict) -> dict:
        return (await self.request("PATCH", f"/api/v2/deals/{int(deal_id)}", json=body))["data"]

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
