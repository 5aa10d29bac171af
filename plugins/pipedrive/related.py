"""The records a deal page shows beside the deal (its organization, person and the products' codes), kept per
connection for :data:`RELATED_TTL` so a page view after the deal changed costs the deal and its lines (if it has
any), not five reads. Only the page path uses it (``PipedriveSource.get_deal_for_display``): previews and creates through the
API, and bulk runs, read every record fresh. A page's Save creates what the page showed, so a customer edited in
Pipedrive reaches an invoice saved from the page at most :data:`RELATED_TTL` later (as the accounting catalog
and the CRM's fields, kept as long)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Awaitable, Callable, Iterable

RELATED_TTL = dt.timedelta(minutes=5)


class RelatedCache:
    """``runtime.cache[("pipedrive", "related", connection id)]``: {(kind, id): (read at, record)}."""

    def __init__(self, runtime: Any, connection_id: Any) -> None:
        self.now = runtime.now
        self.entries: dict[tuple[str, Any], tuple[dt.datetime, dict]] = runtime.cache.setdefault(
            ("pipedrive", "related", connection_id), {})

    async def get(self, kind: str, ids: Iterable[Any], read: Callable[[list[Any]], Awaitable[list[dict]]]) -> list[dict]:
        """The records of ``ids`` (those Pipedrive returns), reading only those not kept or kept too long."""
        wanted = list(dict.fromkeys(i for i in ids if i))
        now = self.now()
        stale = [i for i in wanted if (kind, i) not in self.entries or now - self.entries[(kind, i)][0] >= RELATED_TTL]
        if stale:
            for record in await read(stale):
                self.entries[(kind, record["id"])] = (now, record)
        return [self.entries[(kind, i)][1] for i in wanted if (kind, i) in self.entries]
