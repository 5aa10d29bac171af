"""Pipedrive webhooks: registration, Basic-auth verification, de-duplication and reading the events.

We register one ``change``/``deal`` webhook (v2 format) with HTTP Basic credentials. Pipedrive retries a
failed delivery after 3, 30 and 150 s with the same ``meta.id`` and a higher ``meta.attempt``, so deliveries
are de-duplicated on ``meta.id`` through ``runtime.kv``. A deal whose status becomes ``won`` (previous not won)
is a ``deal_won`` event; any other deal change is ``deal_changed``. The v1 format (``event: updated.deal``)
is read too, for webhooks created by hand in Pipedrive's settings.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets as token_source
from typing import Any

from invoicebridge.core import payloads as P
from invoicebridge.core.errors import ConfigurationError, WebhookRejected
from invoicebridge.core.model import WebhookEvent, WebhookRequest

from .i18n import _
from .client import PipedriveClient
from .config import PipedriveConfig
from .errors import MalformedWebhook

KV_NAMESPACE = "pipedrive.webhooks"
WEBHOOK_NAME = "invoicebridge: deal changes"


def expected_credentials(runtime: Any, connection: Any) -> tuple[str, str]:
    cfg = PipedriveConfig.from_runtime(runtime)
    if cfg.webhook_user and cfg.webhook_password:
        return cfg.webhook_user, cfg.webhook_password
    stored = runtime.secrets(connection) if connection is not None else {}
    user, password = stored.get("webhook_user", ""), stored.get("webhook_password", "")
    if not (user and password):
        raise ConfigurationError(_("No Pipedrive webhook credentials are set: configure webhook_user and "
                                   "webhook_password, or register the webhook from the Connections page"))
    return user, password


def check_basic_auth(headers: Any, user: str, password: str) -> None:
    """Constant-time comparison of the delivery's Basic credentials; WebhookRejected when they differ."""
    header = str(headers.get("authorization", ""))
    scheme, _space, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        raise WebhookRejected(_("The Pipedrive webhook carried no Basic credentials; set the webhook's HTTP auth "
                                "user and password to the configured ones"))
    try:
        got_user, sep, got_password = base64.b64decode(encoded.strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise WebhookRejected(_("The Pipedrive webhook's Basic credentials are not valid base64")) from None
    user_ok = hmac.compare_digest(got_user.encode(), user.encode())
    password_ok = hmac.compare_digest(got_password.encode(), password.encode())
    if not (sep and user_ok and password_ok):
        raise WebhookRejected(_("The Pipedrive webhook's credentials are wrong; the delivery was rejected"))


def parse_body(body: bytes) -> dict[str, Any]:
    try:
        payload = P.load_json(body, what="The Pipedrive webhook body")
    except P.MalformedPayload as exc:
        raise MalformedWebhook(exc.message) from None
    if not isinstance(payload, dict) or not isinstance(payload.get("meta"), dict):
        raise MalformedWebhook(_("The Pipedrive webhook body has no 'meta' object; it is not a Pipedrive webhook"))
    return payload


def _status(obj: Any) -> str:
    return str(obj.get("status") or "") if isinstance(obj, dict) else ""


def _part(payload: dict[str, Any], name: str) -> dict[str, Any]:
    """``current``/``previous``/``data``: an object, or absent/null (then empty); anything else is refused."""
    value = payload.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise MalformedWebhook(_("The Pipedrive webhook's '%(name)s' must be an object; nothing was processed") % {"name": name})
    status = value.get("status")
    if status is not None and not isinstance(status, str):
        raise MalformedWebhook(_("The Pipedrive webhook's '%(name)s.status' must be text; nothing was processed") % {"name": name})
    return value


def _id(value: Any, what: str) -> str:
    try:
        return P.ident(value, f"The Pipedrive webhook's {what}")
    except P.MalformedPayload as exc:
        raise MalformedWebhook(exc.message + "; nothing was processed") from None


def _text(value: Any, what: str) -> str:
    try:
        return P.text(value, f"The Pipedrive webhook's {what}", max_length=64)
    except P.MalformedPayload as exc:
        raise MalformedWebhook(exc.message + "; nothing was processed") from None


def event_of(payload: dict[str, Any]) -> tuple[str, WebhookEvent | None]:
    """The dedupe id and the event (None for objects other than deals)."""
    meta = payload["meta"]
    if "event" in payload or meta.get("v") == 1:  # v1 format
        current, previous = _part(payload, "current"), _part(payload, "previous")
        event_id = "v1:" + ":".join(_id(meta.get(k), f"meta.{k}") for k in ("webhook_id", "id")) + ":" + \
            _text(meta.get("timestamp_micro") or meta.get("timestamp"), "meta.timestamp")
        if meta.get("object") != "deal":
            return event_id, None
        deal_id = _id(current.get("id") or previous.get("id") or meta.get("id"), "deal id")
        prev_status = _status(previous)
    else:  # v2
        current, previous = _part(payload, "data"), _part(payload, "previous")
        event_id = _id(meta.get("id"), "meta.id")
        if not event_id:
            raise MalformedWebhook(_("The Pipedrive webhook has no meta.id; it cannot be de-duplicated"))
        if meta.get("entity") != "deal":
            return event_id, None
        deal_id = _id(meta.get("entity_id") or current.get("id") or previous.get("id"), "deal id")
        # `previous` holds only the changed fields: no status there means the status did not change
        prev_status = _status(previous) if "status" in previous else _status(current)
    if not deal_id:
        raise MalformedWebhook(_("The Pipedrive deal webhook names no deal id"))
    cur_status = _status(current)
    won = cur_status == "won" and prev_status != "won"
    return event_id, WebhookEvent(kind="deal_won" if won else "deal_changed", object_id=deal_id,
                                  event_id=event_id, previous=prev_status, current=cur_status)


async def verify(runtime: Any, connection: Any, request: WebhookRequest) -> list[WebhookEvent]:
    user, password = expected_credentials(runtime, connection)
    check_basic_auth(request.headers, user, password)
    payload = parse_body(request.body)
    event_id, event = event_of(payload)
    if runtime.kv_get(KV_NAMESPACE, event_id):
        return []  # a retry or replay of a delivery we already accepted
    attempt = payload["meta"].get("attempt", payload.get("retry"))
    await runtime.kv_set(KV_NAMESPACE, event_id, {"attempt": attempt if isinstance(attempt, int) and not isinstance(attempt, bool) else None})
    return [event] if event else []


async def register_webhooks(runtime: Any, connection: Any, url: str) -> dict[str, Any]:
    """Subscribe ``url`` to deal changes (v2 format, Basic auth). Idempotent: an existing subscription of
    the same URL is returned as is. Needs the ``admin`` scope with OAuth."""
    cfg = PipedriveConfig.from_runtime(runtime)
    stored = runtime.secrets(connection)
    if cfg.webhook_user and cfg.webhook_password:
        user, password = cfg.webhook_user, cfg.webhook_password
    else:
        user = stored.get("webhook_user") or "invoicebridge"
        password = stored.get("webhook_password") or token_source.token_urlsafe(24)
        if stored.get("webhook_password") != password:
            await runtime.save_secrets(connection, {**stored, "webhook_user": user, "webhook_password": password})
    async with PipedriveClient(runtime, connection) as client:
        for hook in await client.webhooks():
            if hook.get("subscription_url") == url and hook.get("event_object") in ("deal", "*") \
                    and hook.get("event_action") in ("change", "updated", "*"):
                if hook.get("http_auth_user") == user and hook.get("http_auth_password") == password:
                    return hook
                await client.delete_webhook(hook["id"])  # stale credentials: replace it
        return await client.add_webhook({
            "subscription_url": url, "event_action": "change", "event_object": "deal", "name": WEBHOOK_NAME,
            "http_auth_user": user, "http_auth_password": password, "version": "2.0"})
