"""``CrmSourceContract``: the pytest class a CRM plugin subclasses to check its source.

Provide one fixture, ``crm_subject``, returning a :class:`CrmSubject` (a source opened on a test connection,
a deal id it has, one it has not, and optionally a signed and a forged webhook delivery).
"""

from __future__ import annotations

from typing import Any, Callable

import attrs
import pytest

from .._compat import maybe_await
from ..errors import BackendError, RemoteNotFound
from .accounting import check_webhooks
from ..model import Deal, WebhookRequest


@attrs.define
class CrmSubject:
    factory: Any
    source: Any  # a CrmSource opened on a test connection
    deal_id: str  # a deal the CRM has
    missing_deal_id: str  # one it has not
    webhook: Callable[[], tuple[WebhookRequest, WebhookRequest]] | None = None


class CrmSourceContract:
    pytestmark = pytest.mark.anyio

    async def test_deals_are_read_and_unknown_ones_are_typed_errors(self, crm_subject: CrmSubject) -> None:
        s = crm_subject
        deal = await s.source.get_deal(s.deal_id)
        assert isinstance(deal, Deal) and deal.id == s.deal_id
        with pytest.raises(RemoteNotFound):
            await s.source.get_deal(s.missing_deal_id)
        many = await s.source.get_deals([s.missing_deal_id, s.deal_id])
        assert [d.id for d in many] == [s.deal_id]  # in order, unknown ids left out

    async def test_write_backs_are_exactly_once_per_dedupe_key(self, crm_subject: CrmSubject) -> None:
        """Core's outbox sends a dedupe key once without ``in_doubt``; a later attempt after one that may have
        reached the CRM says ``in_doubt=True`` and must answer the object already made, not make a second."""
        s = crm_subject
        first = await s.source.add_activity(s.deal_id, "Send invoice C-1", None, "contract", "contract-activity")
        again = await s.source.add_activity(s.deal_id, "Send invoice C-1", None, "contract", "contract-activity",
                                            in_doubt=True)
        assert first and str(again) == str(first)
        note = await s.source.add_note(s.deal_id, "Invoice C-1 created", "contract-note")
        assert note and str(await s.source.add_note(s.deal_id, "Invoice C-1 created", "contract-note", in_doubt=True)) == str(note)
        # in doubt about one never sent: it is made
        assert await s.source.add_note(s.deal_id, "Invoice C-2 created", "contract-note-2", in_doubt=True) not in ("", None, note)
        done = await s.source.complete_activity(s.deal_id, "contract-activity", activity_id=str(first))
        assert await s.source.complete_activity(s.deal_id, "contract-activity", activity_id=str(first)) == done  # no-op
        assert await s.source.complete_activity(s.deal_id, "contract-activity") == done  # found by its key alone
        assert not await s.source.complete_activity(s.deal_id, "contract-never-made")

    async def test_deal_fields_are_set_when_the_source_can(self, crm_subject: CrmSubject) -> None:
        """Capability ``deal_fields``: the writable deal fields ``list_fields`` offers take text (and None clears
        one); a source without it offers none and need not implement ``set_deal_fields``."""
        s = crm_subject
        writable = [f for f in await maybe_await(s.source.list_fields()) if f.writable]
        if not s.factory.info.capabilities.deal_fields:
            assert writable == [], "the source offers writable fields: set capabilities.deal_fields"
            return
        assert writable and all(f.entity == "deal" for f in writable), "deal_fields needs writable deal fields"
        key = writable[0].key
        await maybe_await(s.source.set_deal_fields(s.deal_id, {key: "INV-C-1"}))
        await maybe_await(s.source.set_deal_fields(s.deal_id, {key: "INV-C-1"}))  # the same again: harmless
        deal = await s.source.get_deal(s.deal_id)
        assert deal.custom_fields.get(key) == "INV-C-1"
        await maybe_await(s.source.set_deal_fields(s.deal_id, {key: None}))
        assert (await s.source.get_deal(s.deal_id)).custom_fields.get(key) in (None, "")

    async def test_links_name_the_deal(self, crm_subject: CrmSubject) -> None:
        s = crm_subject
        url = await maybe_await(s.source.deal_url(s.deal_id))
        assert s.deal_id in url
        if hasattr(s.source, "deal_id_from_url"):
            assert await maybe_await(s.source.deal_id_from_url(url)) == s.deal_id

    async def test_webhooks_are_verified(self, crm_subject: CrmSubject) -> None:
        s = crm_subject
        if s.webhook is None:
            assert not s.factory.info.capabilities.webhooks, "the source says it takes webhooks: give the subject one"
            return
        await check_webhooks(s.source, s.webhook)

    async def test_a_failing_read_raises_a_backend_error(self, crm_subject: CrmSubject) -> None:
        with pytest.raises(BackendError):
            await crm_subject.source.get_deal(crm_subject.missing_deal_id)
