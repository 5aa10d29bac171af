"""Verifying QuickBooks webhooks (fact sheet §8).

``intuit-signature`` = base64(HMAC-SHA256(verifier token, raw body)), compared in constant time over the raw
bytes. Both payload shapes are read: CloudEvents (a JSON array; ``type`` ``qbo.invoice.updated.v1``,
``intuitentityid``, ``intuitaccountid`` = realmId; ``data`` empty, so the entity is fetched) and the legacy
``eventNotifications``. Only invoice events of this connection's company become events; payment events are
left to the invoice update QBO also sends (UNCERTAIN) and to the change-data-capture safety net.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

from invoicebridge.core import payloads as P
from invoicebridge.core.errors import WebhookRejected
from .i18n import _
from invoicebridge.core.model import WebhookEvent, WebhookRequest

SIGNATURE_HEADER = "intuit-signature"


def sign(body: bytes, key: str) -> str:
    return base64.b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest()).decode()


def verify_signature(body: bytes, signature: str, key: str) -> bool:
    return hmac.compare_digest(sign(body, key).encode(), (signature or "").strip().encode())


def _cloud_events(payload: list[Any]) -> list[tuple[str, str, str, str, str]]:
    """(entity, operation, entity id, realm, event id) of each CloudEvent."""
    out = []
    for n, event in enumerate(payload):
        event = P.obj(event, f"QuickBooks webhook event {n}")
        kind = P.text(event.get("type"), f"QuickBooks webhook event {n}: type", max_length=200)
        parts = kind.split(".")
        if len(parts) < 3 or parts[0] != "qbo":
            continue
        out.append((parts[1].lower(), parts[2].lower(),
                    P.ident(P.text(event.get("intuitentityid"), f"QuickBooks webhook event {n}: intuitentityid", max_length=64), "intuitentityid"),
                    P.text(event.get("intuitaccountid"), f"QuickBooks webhook event {n}: intuitaccountid", max_length=64),
                    P.text(event.get("id"), f"QuickBooks webhook event {n}: id", max_length=200)))
    return out


def _legacy(payload: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    out = []
    notifications = payload.get("eventNotifications")
    if not isinstance(notifications, list):
        raise P.MalformedPayload(_("The signed QuickBooks webhook body has no events; it was refused"))
    for n, note in enumerate(notifications):
        note = P.obj(note, f"QuickBooks notification {n}")
        realm = P.text(note.get("realmId"), f"QuickBooks notification {n}: realmId", max_length=64)
        change = P.obj(note.get("dataChangeEvent") or {}, f"QuickBooks notification {n}: dataChangeEvent")
        for m, entity in enumerate(change.get("entities") or []):
            entity = P.obj(entity, f"QuickBooks notification {n} entity {m}")
            fields = {k: P.text(entity.get(k), f"QuickBooks notification {n} entity {m}: {k}", max_length=200)
                      for k in ("name", "id", "operation", "lastUpdated")}
            out.append((fields["name"].lower(), fields["operation"].lower(), P.ident(fields["id"], "id"), realm,
                        f"{realm}:{fields['name']}:{fields['id']}:{fields['operation']}:{fields['lastUpdated']}"))
    return out


def parse_events(request: WebhookRequest, key: str, *, realm_id: str = "") -> list[WebhookEvent]:
    if not key:
        raise WebhookRejected(_("The QuickBooks webhook verifier token is not configured; copy it from the Intuit "
                                "developer portal into Webhook verifier token under App credentials on the Connections "
                                "page (or set INVOICEBRIDGE_QUICKBOOKS_VERIFIER_TOKEN)"))
    signature = request.headers.get(SIGNATURE_HEADER, "")
    if not signature:
        raise WebhookRejected(_("A QuickBooks webhook without an intuit-signature header was refused"))
    if not verify_signature(request.body, signature, key):
        raise WebhookRejected(_("The QuickBooks webhook signature does not match the body; it was refused "
                                "(check the verifier token)"))
    payload = P.load_json(request.body, what="The signed QuickBooks webhook body")
    events = _cloud_events(payload) if isinstance(payload, list) else _legacy(P.obj(payload, "QuickBooks webhook"))
    out: list[WebhookEvent] = []
    for entity, operation, entity_id, realm, event_id in events:
        if entity != "invoice" or not entity_id or (realm_id and realm != realm_id):
            continue
        out.append(WebhookEvent(kind="invoice_changed", object_id=entity_id, event_id=event_id, organisation_id=realm,
                                current=operation))
    return out
