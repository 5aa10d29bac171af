"""Writing invoice data into custom deal fields: ``updateDeal`` PATCH /api/v2/deals/{id} with ``custom_fields``
(fact sheet §4: v2 keeps custom fields under ``custom_fields`` and merges the keys sent; scope ``deals:full``,
token cost 5). Only text fields (:data:`.fields.WRITABLE_TYPES`) are offered, so every value is sent as text;
setting the same values twice changes nothing, so a retry after a crash is harmless."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Mapping

from .client import PipedriveClient


def _text(value: Any) -> str | None:
    if value is None or value == "":
        return None  # clears the field
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


async def set_deal_fields(client: PipedriveClient, deal_id: str, values: Mapping[str, Any]) -> None:
    if values:
        await client.update_deal(deal_id, {"custom_fields": {str(k): _text(v) for k, v in values.items()}})
