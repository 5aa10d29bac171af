"""The Pipedrive sandbox's service around its data: the error state methods raise, who may call (API tokens and
OAuth grants), the rate limits and token budget, and the webhooks it sends. :class:`ServiceMixin` is part of
:class:`~.sandbox_state.SandboxState`, which re-exports the names here.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from typing import TYPE_CHECKING, Any

import attrs

from invoicebridge.sandbox_kit import Delivery

RETRY_DELAYS = (3, 30, 150)  # seconds after the 1st, 2nd and 3rd failed attempt
TOKEN_COST = {  # x-token-cost of the operations the sandbox serves (from the specs)
    "getDeal": 1, "getDeals": 10, "updateDeal": 5, "getDealProducts": 10, "getDealsProducts": 10,
    "addDealProduct": 5, "getAdditionalDiscounts": 10, "getOrganization": 1, "getOrganizations": 10,
    "getPerson": 1, "getPersons": 10, "getProduct": 1, "getProducts": 10, "getFields": 10, "deleteField": 3,
    "getActivities": 10, "addActivity": 5, "getActivity": 1, "updateActivity": 5, "getCurrentUser": 2, "getCurrencies": 20, "getActivityTypes": 20,
    "getNotes": 20, "addNote": 10, "getWebhooks": 10, "addWebhook": 10, "deleteWebhook": 6,
    "searchDeals": 20, "searchOrganization": 20,
}


def _stamp_attempt(item: Delivery) -> bytes:
    """The attempt number in the body, as Pipedrive resends it (v1: ``retry``, v2: ``meta.attempt``)."""
    payload = item.payload
    if "retry" in payload:
        payload["retry"] = item.attempt - 1
    else:
        payload["meta"]["attempt"] = item.attempt
    return json.dumps(payload).encode()


def rfc3339(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")



class SandboxError(Exception):
    """Raised by state methods; the HTTP layer turns it into Pipedrive's error body."""

    def __init__(self, status: int, message: str, info: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.info = info


@attrs.define
class RateLimits:
    # requests per window; None: unlimited. Enforced by default as the real service does (fact sheet §7.1: 80 per
    # 2 s for an OAuth app on the smallest plan, the x-ratelimit-limit the sandbox always advertised)
    burst_limit: int | None = 80
    search_burst_limit: int | None = None  # search requests per window (fact sheet §7.1: 10 on every plan); None: off
    search_starts: list = attrs.field(factory=list)
    window: float = 2.0
    daily_budget: int | None = None  # tokens per day; None: unlimited
    spent_today: int = 0
    force_429: int = 0  # answer the next N requests with 429
    retry_after: int = 2  # seconds announced on forced 429s
    starts: list = attrs.field(factory=list)
    # fact sheet §7.1 [unverified]: x-ratelimit-reset is "probably seconds" ("epoch": a Unix time instead), and
    # Retry-After on 429 is seen only in third-party code (False: leave it out)
    reset_style: str = "seconds"
    send_retry_after: bool = True
    # fact sheet §7.1: integrations that keep sending after a 429 get Cloudflare's 403 HTML page
    block_after_429: bool = True
    quiet_until: dt.datetime | None = None
    blocked: int = 0  # how many requests were answered with the block page

    def reset(self, seconds: int, now: dt.datetime) -> str:
        return str(int(now.timestamp()) + seconds if self.reset_style == "epoch" else seconds)



class ServiceMixin:
    """Auth, rate limits and webhooks of :class:`~.sandbox_state.SandboxState` (whose fields these use)."""

    rate: RateLimits
    oauth: Any
    api_tokens: set
    webhooks: dict
    webhook_outbox: Any
    user: dict
    company_id: int
    delivery_transport: Any
    delivery_target: str

    if TYPE_CHECKING:  # SandboxState's own, declared for the type checker only
        def now(self) -> dt.datetime: ...

        def next_id(self, kind: str) -> int: ...

        @property
        def host(self) -> str: ...

    # ---- auth --------------------------------------------------------------------------------------

    def token_ok(self, token: str, bearer: bool) -> bool:
        if not bearer:
            return token in self.api_tokens
        try:
            self.oauth.validate(token)
        except Exception:  # TokenRejected
            return False
        return True

    @property
    def refresh_tokens(self) -> set[str]:
        return set(self.oauth.refresh_tokens)

    def expire_access_tokens(self) -> None:
        self.oauth.expire_access_tokens()

    # ---- rate limits ---------------------------------------------------------------------------------

    def charge(self, operation: str) -> tuple[int, dict[str, str]]:
        """0 when the request may proceed (else 429) and the rate-limit headers to send."""
        rate, now = self.rate, self.now()
        cost = TOKEN_COST.get(operation, 10)
        horizon = now - dt.timedelta(seconds=rate.window)
        rate.starts = [t for t in rate.starts if t > horizon]
        searching = operation.startswith("search")
        rate.search_starts = [t for t in rate.search_starts if t > horizon]
        limit = rate.burst_limit or 80
        headers = {"x-ratelimit-limit": str(limit)}
        if rate.daily_budget is not None:
            headers["x-daily-ratelimit-token-limit"] = str(rate.daily_budget)
        status = 0
        if rate.block_after_429 and rate.quiet_until is not None and now < rate.quiet_until:
            rate.blocked += 1
            return 403, {}
        if rate.force_429 > 0:
            rate.force_429 -= 1
            status = 429
            headers.update({"x-ratelimit-remaining": "0", "x-ratelimit-reset": rate.reset(rate.retry_after, now)})
            if rate.send_retry_after:
                headers["retry-after"] = str(rate.retry_after)
        elif rate.daily_budget is not None and rate.spent_today + cost > rate.daily_budget:
            status = 429
            reset = int((dt.datetime.combine(now.date() + dt.timedelta(days=1), dt.time(), now.tzinfo) - now)
                        .total_seconds())
            headers.update({"x-ratelimit-remaining": "0", "x-ratelimit-reset": rate.reset(reset, now),
                            "x-daily-ratelimit-token-remaining": "0"})
        elif rate.burst_limit is not None and len(rate.starts) >= rate.burst_limit:
            status = 429
            reset = max(1, int((rate.starts[0] - horizon).total_seconds() + 0.999))
            headers.update({"x-ratelimit-remaining": "0", "x-ratelimit-reset": rate.reset(reset, now)})
            if rate.send_retry_after:
                headers["retry-after"] = str(reset)
        elif searching and rate.search_burst_limit is not None and len(rate.search_starts) >= rate.search_burst_limit:
            status = 429
            reset = max(1, int((rate.search_starts[0] - horizon).total_seconds() + 0.999))
            headers.update({"x-ratelimit-remaining": "0", "x-ratelimit-reset": rate.reset(reset, now)})
            if rate.send_retry_after:
                headers["retry-after"] = str(reset)
        if status:
            reset_header = headers.get("x-ratelimit-reset")
            if headers.get("retry-after"):
                rate.quiet_until = now + dt.timedelta(seconds=float(headers["retry-after"]))
            elif reset_header:
                rate.quiet_until = (dt.datetime.fromtimestamp(int(reset_header), dt.timezone.utc) if rate.reset_style == "epoch"
                                    else now + dt.timedelta(seconds=float(reset_header)))
            return status, headers
        rate.starts.append(now)
        if searching:
            rate.search_starts.append(now)
        rate.spent_today += cost
        headers["x-ratelimit-remaining"] = str(max(0, limit - len(rate.starts)))
        headers["x-ratelimit-reset"] = rate.reset(int(rate.window), now)
        if rate.daily_budget is not None:
            headers["x-daily-ratelimit-token-remaining"] = str(rate.daily_budget - rate.spent_today)
        return 0, headers

    def reset_day(self) -> None:
        self.rate.spent_today = 0

    # ---- webhooks ------------------------------------------------------------------------------------

    def add_webhook(self, body: dict) -> dict:
        errors = {k: ["is required"] for k in ("subscription_url", "event_action", "event_object", "name")
                  if not body.get(k)}
        if body.get("subscription_url") and not str(body["subscription_url"]).startswith(("http://", "https://")):
            errors["subscription_url"] = ["invalid or non-reachable URL"]
        if errors:
            raise SandboxError(400, "invalid", info=str(errors)) from None
        if len(self.webhooks) >= 40:
            raise SandboxError(422, "webhooks limit reached")
        wid = self.next_id("webhook")
        hook = {"id": wid, "company_id": self.company_id, "owner_id": self.user["id"],
                "user_id": body.get("user_id", self.user["id"]), "event_action": body["event_action"],
                "event_object": body["event_object"], "subscription_url": body["subscription_url"],
                "version": body.get("version") or "2.0", "is_active": 1, "add_time": rfc3339(self.now()),
                "remove_time": None, "type": "general", "http_auth_user": body.get("http_auth_user"),
                "http_auth_password": body.get("http_auth_password"), "remove_reason": None,
                "last_delivery_time": None, "last_http_status": None, "admin_id": self.user["id"],
                "name": body["name"]}
        self.webhooks[wid] = hook
        return hook

    def queue_deal_event(self, deal: dict, previous: dict, *, source: str) -> None:
        for hook in self.webhooks.values():
            if hook["event_object"] not in ("deal", "*") or hook["event_action"] not in ("change", "updated", "*"):
                continue
            if hook["version"] == "1.0":
                payload = {"v": 1, "matches_filters": {"current": [], "previous": []},
                           "meta": {"v": 1, "action": "updated", "object": "deal", "change_source": source,
                                    "id": deal["id"], "company_id": self.company_id, "user_id": self.user["id"],
                                    "host": self.host, "timestamp": int(self.now().timestamp()),
                                    "timestamp_micro": int(self.now().timestamp() * 1_000_000),
                                    "permitted_user_ids": [self.user["id"]], "webhook_id": hook["id"]},
                           "retry": 0, "current": dict(deal), "previous": {**deal, **previous},
                           "event": "updated.deal"}
            else:
                payload = {"meta": {"action": "change", "entity": "deal", "entity_id": str(deal["id"]),
                                    "id": str(uuid.uuid4()), "correlation_id": str(uuid.uuid4()), "attempt": 1,
                                    "webhook_id": str(hook["id"]), "webhook_owner_id": str(hook["owner_id"]),
                                    "company_id": str(self.company_id), "user_id": str(self.user["id"]),
                                    "version": "2.0", "change_source": source, "is_bulk_edit": False,
                                    "timestamp": self.now().astimezone(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                                    "type": "general", "host": self.host,
                                    "permitted_user_ids": [str(self.user["id"])]},
                           "data": dict(deal), "previous": dict(previous)}
            headers = {"User-Agent": "Pipedrive-Webhook"}
            if hook.get("http_auth_user"):
                raw = f"{hook['http_auth_user']}:{hook.get('http_auth_password') or ''}".encode()
                headers["Authorization"] = "Basic " + base64.b64encode(raw).decode()
            self.webhook_outbox.queue(hook["subscription_url"], payload, headers=headers, webhook_id=hook["id"])

    async def deliver_webhooks(self, *, include_retries: bool = False) -> list[Delivery]:
        """Send every due delivery; failures are retried after 3, 30 and 150 s of sandbox time (or now, with
        ``include_retries``, which compresses the delays). Returns the deliveries attempted."""
        def target(item: Delivery) -> str | None:
            hook = self.webhooks.get(item.meta["webhook_id"])
            return None if hook is None else (self.delivery_target or hook["subscription_url"])

        self.webhook_outbox.transport = self.delivery_transport
        attempted = await self.webhook_outbox.deliver(include_retries=include_retries, target=target)
        for item in attempted:
            hook = self.webhooks[item.meta["webhook_id"]]
            outcome = item.results[-1][1]
            hook["last_delivery_time"] = rfc3339(self.now())
            hook["last_http_status"] = outcome if isinstance(outcome, int) else None
        return attempted
