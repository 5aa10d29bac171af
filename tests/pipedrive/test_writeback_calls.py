"""What a write-back costs in Pipedrive calls (counted where the sandbox receives them; no timing): a first
attempt sends the create alone; the marker search is paid only by an attempt that may follow one that reached
Pipedrive, and that one still never makes a second object."""

from __future__ import annotations

import pytest

from invoicebridge.core.errors import BackendError
from invoicebridge.plugins.pipedrive.backend import PipedriveSource
from invoicebridge.plugins.pipedrive.client import PipedriveClient

pytestmark = pytest.mark.anyio


def _calls(sandbox, since: int) -> list[tuple[str, str]]:
    return [(method, path) for method, path, _ in sandbox.requests[since:]]


async def test_a_first_note_and_a_first_reminder_cost_one_call_each(runtime, connection, sandbox):
    source = PipedriveSource.open(connection, runtime)
    await source.add_activity(deal_id="1", subject="warm up", due_date=None, note="", dedupe_key="a0")  # activity types
    before = len(sandbox.requests)
    await source.add_note(deal_id="1", content="Invoice INV-1 created.", dedupe_key="n1")
    assert _calls(sandbox, before) == [("POST", "/api/v1/notes")]  # was GET notes (20 tokens) + POST (10)
    before = len(sandbox.requests)
    await source.add_activity(deal_id="1", subject="Send invoice INV-1", due_date=None, note="send it", dedupe_key="a1")
    assert _calls(sandbox, before) == [("POST", "/api/v2/activities")]


async def test_a_retry_after_an_answer_that_never_came_searches_and_makes_no_second_note(runtime, connection, sandbox,
                                                                                          monkeypatch):
    sent = PipedriveClient.add_note

    async def lost_answer(self, body):
        await sent(self, body)  # Pipedrive made it; the answer is lost on the way back
        raise BackendError("connection reset", backend="pipedrive")

    monkeypatch.setattr(PipedriveClient, "add_note", lost_answer)
    source = PipedriveSource.open(connection, runtime)
    with pytest.raises(BackendError):
        await source.add_note(deal_id="2", content="Invoice INV-2 created.", dedupe_key="n2")
    monkeypatch.setattr(PipedriveClient, "add_note", sent)
    before = len(sandbox.requests)
    found = await source.add_note(deal_id="2", content="Invoice INV-2 created.", dedupe_key="n2", in_doubt=True)
    assert _calls(sandbox, before) == [("GET", "/api/v1/notes")]  # found by its marker, not made again
    assert [n["id"] for n in sandbox.notes.values() if n["deal_id"] == 2] == [int(found)]
