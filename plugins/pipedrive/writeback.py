"""Activities and notes on deals, each created at most once per dedupe key.

Core's outbox sends each write-back under its own lease and says whether an attempt is *in doubt* (an earlier
one may have reached Pipedrive: a timeout, a crash, a dropped answer). A marker derived from the key is written
into the activity's note or the note's content; only an attempt in doubt searches the deal's activities/notes for
it before creating anything. A first attempt costs the create alone (a note: POST, 10 tokens). The plugin keeps
no state of its own for this.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
from typing import Any

from invoicebridge.core.errors import RemoteNotFound

from .client import PipedriveClient


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


async def _once(in_doubt: bool, existing, create) -> str:
    """Make the object, unless this attempt is in doubt (core's outbox says an earlier one may have reached
    Pipedrive) and the object carrying the key's marker is there already: then that one's id."""
    found = await existing() if in_doubt else None
    return str(found["id"]) if found else str((await create())["id"])


async def _activity_with_marker(client: PipedriveClient, deal_id: str, dedupe_key: str) -> dict | None:
    tag = marker(dedupe_key)
    return next((a for a in await client.activities(deal_id) if tag in (a.get("note") or "") and not a.get("is_deleted")), None)


async def add_activity_once(client: PipedriveClient, deal_id: str, subject: str, due_date: dt.date | str | None,
                            note: str, dedupe_key: str, *, in_doubt: bool = False, activity_type: str = "") -> str:
    async def existing():
        return await _activity_with_marker(client, deal_id, dedupe_key)

    async def create():
        body: dict[str, Any] = {"subject": subject[:255], "type": activity_type or await reminder_type(client),
                                "deal_id": int(deal_id), "note": _with_marker(to_html(note), dedupe_key), "done": False}
        if due_date:
            body["due_date"] = due_date.isoformat() if isinstance(due_date, dt.date) else str(due_date)[:10]
        return await client.add_activity(body)

    return await _once(in_doubt, existing, create)


async def add_note_once(client: PipedriveClient, deal_id: str, content: str, dedupe_key: str, *, in_doubt: bool = False) -> str:
    async def existing():
        tag = marker(dedupe_key)
        return next((n for n in await client.notes(deal_id) if tag in (n.get("content") or "")), None)

    async def create():
        return await client.add_note({"content": _with_marker(to_html(content), dedupe_key), "deal_id": int(deal_id)})

    return await _once(in_doubt, existing, create)


async def complete_activity_once(client: PipedriveClient, deal_id: str, dedupe_key: str, *, activity_id: str = "") -> str | None:
    """Mark the activity made for ``dedupe_key`` done (``updateActivity`` PATCH /api/v2/activities/{id}
    ``{"done": true}``). It is ``activity_id`` (what :func:`add_activity_once` answered, as core's outbox kept it),
    else the deal's activity carrying the key's marker (one made before core kept ids). It is read first, so one
    already done (an earlier attempt got through) gets no second PATCH. Returns its id, or None when there is none
    to complete (never made, or deleted)."""
    activity: dict | None
    if activity_id:
        try:
            activity = await client.activity(str(activity_id))
        except RemoteNotFound:
            activity = None  # deleted in the CRM: nothing to complete
    else:
        activity = await _activity_with_marker(client, deal_id, dedupe_key)
    if activity is None or activity.get("is_deleted"):
        return None
    if not activity.get("done"):
        await client.update_activity(str(activity["id"]), {"done": True})
    return str(activity["id"])
