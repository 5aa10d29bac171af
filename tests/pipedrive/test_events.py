"""The CRM primitives core's outbox sends through: an activity, its completion and a note, each made at most once per
dedupe key (core's outbox sends a key once; an attempt in doubt finds the remote marker). What they say and when is core's (tests/core/test_reminder_lifecycle.py)."""

from __future__ import annotations

import datetime as dt

import pytest

from invoicebridge.plugins.pipedrive import hooks
from invoicebridge.plugins.pipedrive.backend import PipedriveSource

pytestmark = pytest.mark.anyio


async def test_an_activity_is_added_once_and_completed_once(runtime, connection, sandbox, clock):
    source = PipedriveSource.open(connection, runtime)
    args = dict(deal_id="1", subject="Send invoice INV-0042 to Acme Ltd",
                due_date=clock.now().date() + dt.timedelta(days=3), note="send it", dedupe_key="invoice:x:1:reminder")
    first = await source.add_activity(**args)
    assert await source.add_activity(**args, in_doubt=True) == first  # the same write-back sent again, in doubt
    activities = [a for a in sandbox.activities.values() if a["deal_id"] == 1]
    assert len(activities) == 1
    assert (activities[0]["subject"], activities[0]["type"], activities[0]["done"]) == ("Send invoice INV-0042 to Acme Ltd", "task", False)
    done = dict(deal_id="1", dedupe_key="invoice:x:1:reminder")
    assert await source.complete_activity(**done) == first
    assert await source.complete_activity(**done) == first
    assert sandbox.activities[int(first)]["done"] is True
    assert len([r for r in sandbox.requests if r[0] == "PATCH"]) == 1


async def test_completing_an_activity_that_was_never_made_answers_empty(runtime, connection, sandbox):
    assert await PipedriveSource.open(connection, runtime).complete_activity(deal_id="1", dedupe_key="never") == ""


async def test_a_note_is_added_once(runtime, connection, sandbox):
    source = PipedriveSource.open(connection, runtime)
    args = dict(deal_id="1", content="Invoice INV-0042 created.", dedupe_key="n1")
    assert await source.add_note(**args) == await source.add_note(**args, in_doubt=True)
    (note,) = [n for n in sandbox.notes.values() if n["deal_id"] == 1]
    assert "INV-0042 created" in note["content"]


async def test_the_plugin_writes_nothing_on_invoice_events_itself():
    """The reminder and note policy is core's: the plugin keeps only the primitives."""
    assert not any(hasattr(hooks, name) for name in ("on_invoice_created", "on_invoice_status_changed", "on_invoice_settled"))


async def test_crash_after_create_is_caught_by_the_remote_marker(runtime, connection, sandbox, store):
    args = dict(deal_id="2", subject="Send invoice INV-7", due_date=None, note="send it", dedupe_key="crash-key")
    first = await PipedriveSource.open(connection, runtime).add_activity(**args)
    # as if we crashed before core recorded the answer: the outbox's next attempt is in doubt
    again = await PipedriveSource.open(connection, runtime).add_activity(**args, in_doubt=True)
    assert again == first and len(sandbox.activities) == 1
    note = await PipedriveSource.open(connection, runtime).add_note(deal_id="2", content="x", dedupe_key="n")
    assert await PipedriveSource.open(connection, runtime).add_note(deal_id="2", content="x", dedupe_key="n",
                                                                    in_doubt=True) == note
    assert len(sandbox.notes) == 1
    assert not store.kv_items("pipedrive.writeback")  # the plugin keeps no state of its own for this


async def test_reminder_uses_an_activity_type_the_company_has(runtime, connection, sandbox):
    """Fact sheet §5.1: ``type`` must be a ``key_string`` from GET /v1/activityTypes, and companies edit their types,
    so the key is looked up rather than hard-coded: with "task" deactivated the reminder is still created."""
    sandbox.activity_types["task"] = False
    await PipedriveSource.open(connection, runtime).add_activity(deal_id="2", subject="Send invoice INV-8",
                                 due_date=None, note="send it", dedupe_key="no-task")
    [activity] = [a for a in sandbox.activities.values() if a["deal_id"] == 2]
    assert activity["type"] == "deadline"
