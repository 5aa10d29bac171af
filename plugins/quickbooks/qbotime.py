"""QBO's clock conventions: timestamps in Pacific time with the offset (``2026-11-20T01:30:00.000-08:00``), dates
as ``YYYY-MM-DD`` (fact sheet §9). Used by the sandbox to write them and by the client to read them."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

PACIFIC = ZoneInfo("America/Los_Angeles")


def pacific(moment: dt.datetime) -> str:
    """A UTC (or any aware) moment as QBO writes it: Pacific local time, milliseconds, offset."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.astimezone(PACIFIC).isoformat(timespec="milliseconds")


def pacific_date(moment: dt.datetime) -> dt.date:
    """The company's "today" (the server's date is Pacific: fact sheet §9, UNCERTAIN)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.astimezone(PACIFIC).date()


def parse_timestamp(text: str) -> dt.datetime:
    """An ISO 8601 timestamp with an offset (``-0700`` or ``-07:00``) or ``Z``, as an aware UTC datetime. Without
    an offset it is Pacific local time (how QBO reads ``changedSince`` and query literals: UNCERTAIN)."""
    text = text.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    if len(text) >= 5 and text[-5] in "+-" and text[-3] != ":" and "T" in text:
        text = text[:-2] + ":" + text[-2:]
    parsed = dt.datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=PACIFIC)
    return parsed.astimezone(dt.timezone.utc)
