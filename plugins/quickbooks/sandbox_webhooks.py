"""The sandbox's webhook sender (fact sheet §8): CloudEvents notifications (a JSON array, ``data`` empty: the
receiver fetches the entity), signed ``intuit-signature`` = base64(HMAC-SHA256(verifier token, body)), one
notification per delivery with every change not yet delivered, in order. A failed delivery keeps the events
queued: later changes wait behind them, as QBO blocks until the first is acknowledged."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import uuid
from typing import Any

import httpx

from .sandbox_state import QboState

OPERATIONS = {"Create": "created", "Update": "updated", "Delete": "deleted", "Void": "voided",
              "Emailed": "emailed", "Merge": "merged"}
SUBSCRIBED = ("Invoice", "Payment", "Customer")


def sign(body: bytes, verifier_token: str) -> str:
    return base64.b64encode(hmac.new(verifier_token.encode(), body, hashlib.sha256).digest()).decode()


class Outbox:
    def __init__(self, state: QboState, *, verifier_token: str, url: str = "",
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.state = state
        self.verifier_token = verifier_token
        self.url = url
        self.transport = transport
        self.cursor = 0  # index into state.changes of the first change not yet delivered
        self.deliveries: list[dict[str, Any]] = []

    def pending(self) -> list[dict[str, Any]]:
        events = []
        for change in self.state.changes[self.cursor:]:
            if change.entity not in SUBSCRIBED:
                continue
            events.append({"specversion": "1.0", "id": str(uuid.uuid4()), "source": "intuit.sandbox",
                           "type": f"qbo.{change.entity.lower()}.{OPERATIONS[change.operation]}.v1",
                           "datacontenttype": "application/json",
                           "time": change.at.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z"),
                           "intuitentityid": change.id, "intuitaccountid": self.state.realm_id, "data": {}})
        return events

    def notification(self) -> tuple[bytes, str]:
        body = json.dumps(self.pending(), separators=(",", ":")).encode()
        return body, sign(body, self.verifier_token)

    async def deliver(self) -> list[int]:
        """POST the pending events (up to 100 per notification); returns the statuses answered."""
        statuses = []
        while self.url and self.cursor < len(self.state.changes):
            body, signature = self.notification()
            end = len(self.state.changes)
            if body == b"[]":
                self.cursor = end
                break
            async with httpx.AsyncClient(transport=self.transport, timeout=3.0) as client:
                try:
                    response = await client.post(self.url, content=body, headers={
                        "content-type": "application/cloudevents-batch+json", "intuit-signature": signature})
                    status = response.status_code
                except httpx.HTTPError:
                    status = 0
            statuses.append(status)
            self.deliveries.append({"status": status, "events": len(json.loads(body))})
            if status != 200:
                break
            self.cursor = end
        return statuses
