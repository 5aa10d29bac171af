"""Xero's date formats, both ways.

Responses carry MS-JSON dates, ``/Date(1539993600000+0000)/`` (milliseconds since the epoch, UTC, with an
informational offset), and ISO strings (``DateString``, ``UpdatedDateUTCString``). Date-only fields are
midnight UTC, so they become the UTC calendar date, never a local one (fact sheet §2, §12.1). Naive ISO
datetimes are UTC.
"""

from __future__ import annotations

import datetime as dt
import re

_MS_DATE = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")
UTC = dt.timezone.utc
EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)


def parse_datetime(value: str | dt.datetime | dt.date) -> dt.datetime:
    """An aware UTC datetime from ``/Date(ms±hhmm)/`` or ISO 8601 (naive means UTC)."""
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=UTC)
    text = str(value).strip()
    match = _MS_DATE.match(text)
    if match:
        return EPOCH + dt.timedelta(milliseconds=int(match.group(1)))
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{value!r} is neither a Xero /Date(ms)/ value nor an ISO 8601 date") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_date(value: str | dt.datetime | dt.date) -> dt.date:
    """The calendar date of a Xero date-only field (midnight UTC on the wire)."""
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if isinstance(value, str) and not _MS_DATE.match(value.strip()):
        text = value.strip()
        if len(text) == 10:
            return dt.date.fromisoformat(text)
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        return parsed.date()  # the date as written: Xero writes date-only values at 00:00
    return parse_datetime(value).astimezone(UTC).date()


def format_ms(value: dt.datetime | dt.date, *, offset: bool = True) -> str:
    """``/Date(ms+0000)/`` for a datetime or a date (a date is midnight UTC)."""
    moment = parse_datetime(value)
    ms = (moment - EPOCH) // dt.timedelta(milliseconds=1)
    return f"/Date({ms}+0000)/" if offset else f"/Date({ms})/"


def format_iso_utc(value: dt.datetime) -> str:
    """``2019-11-14T18:10:38Z`` style (UpdatedDateUTCString)."""
    return parse_datetime(value).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_date_string(value: dt.date) -> str:
    """``2018-10-20T00:00:00`` style (DateString)."""
    return f"{value.isoformat()}T00:00:00"
