"""Activities and notes on deals, each created at most once per dedupe key.

Two guards: the key is remembered in ``runtime.kv`` once the object exists; and, for a crash between the
create call and the ``kv_set``, a marker derived from the key is written into the activity's note or the
note's content, and the deal's activities/notes are searched for it before creating anything.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
from typing import Any

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


async def add_activity_once(client: PipedriveClient, deal_id: str, subject: str, due_date: dt.date | str | None,
                            note: str, dedupe_key: str, *, activity_type: str = "") -> str:
    runtime = client.runtime
    known = runtime.kv_get(KV_NAMESPACE, f"activity:{dedupe_key}")
    if known:
        return str(known)
    tag = marker(dedupe_key)
    for existing in await client.activities(deal_id):
        if tag in (existing.get("note") or "") and not existing.get("is_deleted"):
            runtime.kv_set(KV_NAMESPACE, f"activity:{dedupe_key}", str(existing["id"]))
            return str(existing["id"])
    body: dict[str, Any] = {"subject": subject[:255], "type": activity_type or await reminder_type(client),
                            "deal_id": int(deal_id),
                            "note": _with_marker(to_html(note), dedupe_key), "done": False}
    if due_date:
        body["due_date"] = due_date.isoformat() if isinstance(due_date, dt.date) else str(due_date)[:10]
    created = await client.add_activity(body)
    runtime.kv_set(KV_NAMESPACE, f"activity:{dedupe_key}", str(created["id"]))
    return str(created["id"])


async def add_note_once(client: PipedriveClient, deal_id: str, content: str, dedupe_key: str) -> str:
    runtime = client.runtime
    known = runtime.kv_get(KV_NAMESPACE, f"note:{dedupe_key}")
    if known:
        return str(known)
    tag = marker(dedupe_key)
    for existing in await client.notes(deal_id):
        if tag in (existing.get("content") or ""):
            runtime.kv_set(KV_NAMESPACE, f"note:{dedupe_key}", str(existing["id"]))
            return str(existing["id"])
    created = await client.add_note({"content": _with_marker(to_html(content), dedupe_key), "deal_id": int(deal_id)})
    runtime.kv_set(KV_NAMESPACE, f"note:{dedupe_key}", str(created["id"]))
    return str(created["id"])
