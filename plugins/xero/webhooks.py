"""Verifying Xero webhooks (fact sheet §11).

The signature is ``base64(HMAC-SHA256(webhook key, raw body))`` in ``x-xero-signature``, compared in
constant time over the raw bytes (never re-serialised JSON). A forged or truncated body raises
:class:`WebhookRejected` (the web route answers 401, as Xero's intent-to-receive check requires); a
correctly signed intent-to-receive payload (no events) yields an empty list. A correctly signed body that is
not the shape Xero sends (not JSON, nested too deep, a list where an object belongs) raises
:class:`MalformedPayload` (400) and is acted on in no part.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from invoicebridge.core import payloads as P
from invoicebridge.core.errors import WebhookRejected
from invoicebridge.core.model import WebhookEvent, WebhookRequest

from .i18n import _

SIGNATURE_HEADER = "x-xero-signature"


def sign(body: bytes, key: str) -> str:
    return base64.b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest()).decode()


def verify_signature(body: bytes, signature: str, key: str) -> bool:
    return hmac.compare_digest(sign(body, key).encode(), (signature or "").strip().encode())


def parse_events(request: WebhookRequest, key: str, *, tenant_id: str = "") -> list[WebhookEvent]:
    if not key:
        raise WebhookRejected(_("The Xero webhook key is not configured; copy it from the Xero developer portal "
                                "into the xero webhook_key setting"))
    signature = request.headers.get(SIGNATURE_HEADER, "")
    if not signature:
        raise WebhookRejected(_("Xero webhook without an x-xero-signature header was refused"))
    if not verify_signature(request.body, signature, key):
        raise WebhookRejected(_("Xero webhook signature does not match the body; it was refused (check the webhook key)"))
    payload = P.obj(P.load_json(request.body, what="The signed Xero webhook body"), "The signed Xero webhook body")
    events = payload.get("events")
    if not isinstance(events, list):
        raise P.MalformedPayload("The signed Xero webhook body has no events list; it was refused")
    out: list[WebhookEvent] = []
    for n, event in enumerate(events):
        event = P.obj(event, f"Xero webhook event {n}")
        fields = {k: P.text(event.get(k), f"Xero webhook event {n}: {k}", max_length=200)
                  for k in ("eventCategory", "tenantId", "resourceId", "eventDateUtc", "eventType")}
        if fields["eventCategory"].upper() != "INVOICE":
            continue
        event_tenant = P.ident(fields["tenantId"], f"Xero webhook event {n}: tenantId")
        if tenant_id and event_tenant and event_tenant != tenant_id:
            continue  # an organisation this connection does not follow
        resource_id = P.ident(fields["resourceId"], f"Xero webhook event {n}: resourceId")
        if not resource_id:
            continue
        event_id = ":".join(fields[k] for k in ("tenantId", "resourceId", "eventDateUtc", "eventType"))
        out.append(WebhookEvent(kind="invoice_changed", object_id=resource_id, event_id=event_id,
                                organisation_id=event_tenant, current=fields["eventType"]))
    return out
