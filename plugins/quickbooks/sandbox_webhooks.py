"""The sandbox's webhook sender (fact sheet §8) on the emulator kit's outbox: CloudEvents notifications (a JSON
array, ``data`` empty: the receiver fetches the entity), signed ``intuit-signature`` = base64(HMAC-SHA256(verifier
token, body)), retried after 10 s, 20 s, 30 s, 5 min, 20 min, 2 h, 4 h and 6 h. Events wait in order: while a
notification is unacknowledged no newer one is sent (QBO "may not" send later events until the first is)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import uuid
from typing import Any, Callable

import httpx

from invoicebridge.sandbox_kit import Outbox as KitOutbox

from .sandbox_state import QboState

OPERATIONS = {"Create": "created", "Update": "updated", "Delete": "deleted", "Void": "voided",
              "Emailed": "emailed", "Merge": "merged"}
SUBSCRIBED = ("Invoice", "Payment", "Customer")
RETRIES = (10, 20, 30, 300, 1200, 7200, 14400, 21600)
MAX_EVENTS = 100  # per notification


def sign(body: bytes, verifier_token: str) -> str:
    return base64.b64encode(hmac.new(verifier_token.encode(), body, hashlib.sha256).digest()).decode()


class Outbox:
    def __init__(self, state: QboState, *, clock: Callable[[], dt.datetime], verifier_token: str, url: str = "",
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.state = state
        self.verifier_token = verifier_token
        self.url = url
        self.cursor = 0  # index into state.changes of the first change not yet queued
        self.kit = KitOutbox(clock=clock, signer=lambda body: {"intuit-signature": sign(body, self.verifier_token)},
                             transport=transport, retry_delays=RETRIES, timeout=3.0)

    @property
    def transport(self) -> httpx.AsyncBaseTransport | None:
        return self.kit.transport

    @transport.setter
    def transport(self, value: httpx.AsyncBaseTransport | None) -> None:
        self.kit.transport = value

    @property
    def deliveries(self) -> list[dict[str, Any]]:
        return [{"status": outcome, "events": len(item.payload)} for item in self.kit.items
                for _, outcome in item.results]

    def pending(self) -> list[dict[str, Any]]:
        """The events of the changes not yet queued (at most 100, oldest first); moves the cursor past them."""
        events: list[dict[str, Any]] = []
        while self.cursor < len(self.state.changes) and len(events) < MAX_EVENTS:
            change = self.state.changes[self.cursor]
            self.cursor += 1
            if change.entity in SUBSCRIBED:
                events.append({"specversion": "1.0", "id": str(uuid.uuid4()), "source": "intuit.sandbox",
                               "type": f"qbo.{change.entity.lower()}.{OPERATIONS[change.operation]}.v1",
                               "datacontenttype": "application/json",
                               "time": change.at.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z"),
                               "intuitentityid": change.id, "intuitaccountid": self.state.realm_id, "data": {}})
        return events

    async def deliver(self) -> list[int | str]:
        """Send what is due: first the unacknowledged notification (retried now), then, once it went through,
        the newer changes. Returns each attempt's status (or the error's name)."""
        outcomes: list[int | str] = []
        while self.url:
            if not self.kit.pending():
                events = self.pending()
                if not events:
                    break
                self.kit.queue(self.url, events, headers={"Content-Type": "application/cloudevents-batch+json"})
            attempted = await self.kit.deliver(include_retries=True)
            outcomes += [item.results[-1][1] for item in attempted]
            if self.kit.pending():
                break  # not acknowledged: later events wait behind it
        return outcomes
