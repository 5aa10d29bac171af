"""A signed webhook outbox: queued deliveries, sent over any httpx transport, retried on a schedule.

The backend supplies the body (bytes or JSON) and a ``signer`` that turns a body into the headers its receiver
checks (an HMAC header, Basic auth, ...). A delivery is done on a 2xx; otherwise it is due again after the next
delay of ``retry_delays`` (sandbox time) until they run out.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, Callable

import httpx
from attrs import define, field

Signer = Callable[[bytes], dict[str, str]]


@define
class Delivery:
    url: str
    body: bytes
    headers: dict[str, str] = field(factory=dict)
    attempt: int = 1
    due_at: dt.datetime | None = None
    results: list = field(factory=list)  # (attempt, status or error name)
    done: bool = False
    meta: dict = field(factory=dict)  # what the backend wants to remember (its webhook id, ...)

    @property
    def payload(self) -> Any:
        return json.loads(self.body)


@define
class Outbox:
    clock: Callable[[], dt.datetime]
    signer: Signer = lambda body: {}
    transport: httpx.AsyncBaseTransport | None = None
    retry_delays: tuple[float, ...] = ()
    timeout: float = 10.0
    items: list[Delivery] = field(factory=list)
    # called before each attempt (e.g. to restamp an attempt counter in the body); returns the body to send
    before_attempt: Callable[[Delivery], bytes] | None = None

    def queue(self, url: str, payload: Any, *, headers: dict[str, str] | None = None, **meta: Any) -> Delivery:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        item = Delivery(url, body, dict(headers or {}), due_at=self.clock(), meta=meta)
        self.items.append(item)
        return item

    def pending(self) -> list[Delivery]:
        return [d for d in self.items if not d.done]

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> int | str:
        """One signed POST; the status, or the error's class name when it never got an answer."""
        try:
            async with httpx.AsyncClient(transport=self.transport, timeout=self.timeout) as client:
                response = await client.post(url, content=body, headers={
                    "Content-Type": "application/json", **self.signer(body), **headers})
        except httpx.HTTPError as exc:
            return type(exc).__name__
        return response.status_code

    async def deliver(self, *, include_retries: bool = False,
                      target: Callable[[Delivery], str | None] | None = None) -> list[Delivery]:
        """Send every due delivery (``include_retries``: also those waiting for a retry). ``target`` may
        redirect or drop (None) a delivery. Returns the deliveries attempted."""
        attempted = []
        for item in self.pending():
            if not include_retries and item.due_at and item.due_at > self.clock():
                continue
            url = target(item) if target else item.url
            if url is None:
                item.done = True
                continue
            attempted.append(item)
            if self.before_attempt is not None:
                item.body = self.before_attempt(item)
            outcome = await self.post(url, item.body, item.headers)
            item.results.append((item.attempt, outcome))
            if (isinstance(outcome, int) and 200 <= outcome < 300) or item.attempt > len(self.retry_delays):
                item.done = True
                continue
            item.due_at = self.clock() + dt.timedelta(seconds=self.retry_delays[item.attempt - 1])
            item.attempt += 1
        return attempted
