"""Activities and notes on deals, each created at most once per dedupe key.

Two guards: the key is remembered in ``runtime.kv`` once the object exists; and, for a crash between the
create call and the ``kv_set``, a marker derived from the key is written into the activity's note or the
note's content, and the deal's activities/notes are searched for it before creating anything again. "Again":
before the first create is sent, ``runtime.kv`` records that one was sent (``sent:…``); only a key with that
record (an attempt that may have reached Pipedrive: a timeout, a crash, a dropped answer) pays for the search.
A first attempt costs the create alone (a note was GET notes + POST, 30 tokens; now POST, 10).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
from typing import Any

from invoicebridge.core.errors import BackendError, RemoteNotFound

from .i18n import _
from .client import PipedriveClient

KV_NAMESPACE = "pipedrive.writeback"


def marker(dedupe_key: str) -> str:
    return "ib-ref:" + hashlib.sha256(dedupe_key.encode()).hexdigest()[:20]


def _with_marker(html_text: str, dedupe_key: str) -> str:
    return f"{html_text}<p><small>invoicebridge {marker(dedupe_key)}</small></p>"


def to_html(text: str) -> str:
    return "".join(f"<p>{html.escape(line)}</p>" for line in text.splitlines() if line.strip()) or "<p></p>"


REMINDER_TYPES = ("task", "deadline", "call")  # in order of preference, when the company has them active


async def reminder_type(client: PipedriveClient) -> str:
    """An active activity type for the reminder (fact sheet §5.1: ``type`` is a ``key_string`` of GET
    /v1/activityTypes and companies edit their types): the first of :data:`REMINDER_TYPES` that is active, else
    the company's first active type. Read once per connection and process."""
    key = ("pipedrive", "reminder-type", client.connection.id if client.connection is not None else client.base_url)
    cached = client.runtime.cache.get(key)
    if cached:
        return cached
    active = [str(t.get("key_string")) for t in await client.activity_types()
              if t.get("key_string") and t.get("active_flag", True) not in (False, 0)]
    chosen = next((k for k in REMINDER_TYPES if k in active), active[0] if active else "task")
    client.runtime.cache[key] = chosen
    return chosen


CLAIM_TTL_S = 120.0


class WritebackBusy(BackendError):
    """Another worker (another process on the same database) is writing this object right now."""

    retryable = True


def _claim(runtime: Any, key: str, what: str) -> None:
    """Between "not there yet" and "created" only one worker may be: the read-then-write dedupe above is safe
    within a process, not across two sharing one database (the server and ``invoicebridge sync``)."""
    if not runtime.kv_claim(KV_NAMESPACE, f"claim:{key}", CLAIM_TTL_S):
        raise WritebackBusy(_("Another invoicebridge worker is adding this %(what)s to the deal right now; it will be "
                              "checked again on the next sync") % {"what": what}, backend="pipedrive")


async def _once(runtime: Any, kind: str, dedupe_key: str, what: str, existing, create) -> str:
    """Create one object per dedupe key: remembered id, else a cross-process claim, then the remote marker
    search (a crash may have come between the create call and remembering its id), then the create."""
    remembered = f"{kind}:{dedupe_key}"
    known = runtime.kv_get(KV_NAMESPACE, remembered)
    if known:
        return str(known)
    _claim(runtime, remembered, what)
    sent = f"sent:{remembered}"
    try:
        found = await existing(marker(dedupe_key)) if runtime.kv_get(KV_NAMESPACE, sent) else None
        if found is None:
            runtime.kv_set(KV_NAMESPACE, sent, True)  # durable before the request leaves: a retry searches first
        object_id = str(found["id"]) if found else str((await create())["id"])
    except Exception:
        runtime.kv_set(KV_NAMESPACE, f"claim:{remembered}", None)  # free it for the retry (the marker guards it)
        raise
    runtime.kv_set(KV_NAMESPACE, remembered, object_id)
    return object_id


async def add_activity_once(client: PipedriveClient, deal_id: str, subject: str, due_date: dt.date | str | None,
                            note: str, dedupe_key: str, *, activity_type: str = "") -> str:
    async def existing(tag: str):
        return next((a for a in await client.activities(deal_id)
                     if tag in (a.get("note") or "") and not a.get("is_deleted")), None)

    async def create():
        body: dict[str, Any] = {"subject": subject[:255], "type": activity_type or await reminder_type(client),
                                "deal_id": int(deal_id), "note": _with_marker(to_html(note), dedupe_key), "done": False}
        if due_date:
            body["due_date"] = due_date.isoformat() if isinstance(due_date, dt.date) else str(due_date)[:10]
        return await client.add_activity(body)

    return await _once(client.runtime, "activity", dedupe_key, "reminder activity", existing, create)


async def add_note_once(client: PipedriveClient, deal_id: str, content: str, dedupe_key: str) -> str:
    async def existing(tag: str):
        return next((n for n in await client.notes(deal_id) if tag in (n.get("content") or "")), None)

    async def create():
        return await client.add_note({"content": _with_marker(to_html(content), dedupe_key), "deal_id": int(deal_id)})

    return await _once(client.runtime, "note", dedupe_key, "note", existing, create)


async def complete_activity_once(client: PipedriveClient, deal_id: str, dedupe_key: str) -> str | None:
    """Mark the activity made for ``dedupe_key`` done (``updateActivity`` PATCH /api/v2/activities/{id}
    ``{"done": true}``), at most once: remembered once done; the activity is read first, so a crash between the
    PATCH and remembering it never sends a second one; a cross-process claim keeps two workers apart. The
    activity is found by its remembered id, else by its marker (a crash may have come between creating it and
    remembering its id). Returns its id, or None when there is none to complete (never made, or deleted)."""
    runtime = client.runtime
    done_key = f"done:activity:{dedupe_key}"
    known = runtime.kv_get(KV_NAMESPACE, done_key)
    if known:
        return None if known is True else str(known)
    _claim(runtime, done_key, "reminder completion")
    try:
        activity = None
        remembered = runtime.kv_get(KV_NAMESPACE, f"activity:{dedupe_key}")
        if remembered:
            try:
                activity = await client.activity(str(remembered))
            except RemoteNotFound:
                activity = None  # deleted in the CRM: nothing to complete
        else:
            tag = marker(dedupe_key)
            activity = next((a for a in await client.activities(deal_id)
                             if tag in (a.get("note") or "") and not a.get("is_deleted")), None)
        if activity is not None and not activity.get("is_deleted") and not activity.get("done"):
            await client.update_activity(str(activity["id"]), {"done": True})
    except Exception:
        runtime.kv_set(KV_NAMESPACE, f"claim:{done_key}", None)
        raise
    result = str(activity["id"]) if activity is not None else None
    runtime.kv_set(KV_NAMESPACE, done_key, result or True)
    return result
