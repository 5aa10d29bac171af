"""Numbers, money and dates in the language of the moment (Babel), and reading typed numbers in it.

Part of :mod:`invoicebridge.core.i18n`, which re-exports everything here; import from there.
"""

from __future__ import annotations

import datetime as dt
import functools
from decimal import Decimal
from typing import Any

from babel import Locale, UnknownLocaleError
from babel.dates import format_date as _babel_format_date
from babel.dates import format_datetime as _babel_format_datetime
from babel.numbers import NumberFormatError
from babel.numbers import format_currency as _babel_format_currency
from babel.numbers import format_decimal as _babel_format_decimal
from babel.numbers import parse_decimal as _babel_parse_decimal

from .i18n import DEFAULT, _, current_locale, normalize


def babel_locale(code: str | None = None) -> Locale:
    return _parsed_locale(normalize(code or current_locale()) or DEFAULT)


@functools.lru_cache(maxsize=64)
def _parsed_locale(code: str) -> Locale:
    """Babel's locale data, parsed once per language (parsing it took a tenth of a page view)."""
    try:
        return Locale.parse(code)
    except (UnknownLocaleError, ValueError):
        return Locale.parse(DEFAULT)


def format_number(value: Any, *, places: int | None = None) -> str:
    """A number for people: grouping and decimal mark of the locale; ``places`` fixes the decimals."""
    if value is None or value == "":
        return ""
    number = Decimal(str(value))
    if places is None:
        return _babel_format_decimal(number, locale=babel_locale(), decimal_quantization=False)
    pattern = "#,##0" + ("." + "0" * places if places else "")
    return _babel_format_decimal(number, format=pattern, locale=babel_locale(), decimal_quantization=True)


def format_input_number(value: Any) -> str:
    """A number to put back into an input field: the locale's decimal mark, no grouping, no trailing zeros
    (``7,5`` in German, ``7.5`` in English), so :func:`parse_decimal` reads it back as the same number."""
    if value is None or value == "":
        return ""
    number = Decimal(str(value))
    if number.is_finite() and number == number.to_integral_value():
        number = number.quantize(Decimal(1))
    elif number.is_finite():
        number = number.normalize()
    return _babel_format_decimal(number, format="0.###", locale=babel_locale(), decimal_quantization=False)


def number_symbols(code: str | None = None) -> dict[str, str]:
    """The decimal and grouping marks of a locale (for the page's script that adds up the create form)."""
    locale = babel_locale(code)
    return {"decimal": locale.number_symbols["latn"]["decimal"], "group": locale.number_symbols["latn"]["group"]}


def format_money(amount: Any, currency: str | None = None) -> str:
    """``1.234,50 €`` in German, ``€1,234.50`` in English; without a currency, just the amount to the cent."""
    if amount is None or amount == "":
        return ""
    number = Decimal(str(amount))
    if not currency:
        return format_number(number, places=2)
    return _babel_format_currency(number, currency, locale=babel_locale(), currency_digits=True)


def _as_date_or_time(value: Any) -> dt.date | dt.datetime | None:
    """Dates as the store keeps them (ISO text) or as objects; None for nothing."""
    if value is None or value == "":
        return None
    if isinstance(value, (dt.date, dt.datetime)):
        return value
    text = str(value).strip()
    try:
        return dt.datetime.fromisoformat(text) if "T" in text or " " in text else dt.date.fromisoformat(text)
    except ValueError:
        return None


def format_date(value: Any, format: str = "medium") -> str:
    """``28.11.2026`` in German, ``Nov 28, 2026`` in English (a datetime shows only its date)."""
    when = _as_date_or_time(value)
    if when is None:
        return "" if value in (None, "") else str(value)
    if isinstance(when, dt.datetime):
        when = when.date()
    return _babel_format_date(when, format=format, locale=babel_locale())


def format_datetime(value: Any, format: str = "medium") -> str:
    """Date and time in the locale; an aware time is shown in UTC, as it is stored."""
    when = _as_date_or_time(value)
    if when is None:
        return "" if value in (None, "") else str(value)
    if not isinstance(when, dt.datetime):
        return format_date(when, format)
    return _babel_format_datetime(when, format=format, tzinfo=dt.timezone.utc if when.tzinfo else None,
                                  locale=babel_locale())


class UnreadableNumber(ValueError):
    """Typed input that is not a number in the user's locale; the message names the field."""

    def __init__(self, field: str, text: str) -> None:
        self.field, self.text = field, text
        example = format_number(Decimal("1234.5"), places=2)
        super().__init__(_("%(field)s: '%(text)s' is not a number; write it like %(example)s.")
                         % {"field": field, "text": text[:40], "example": example})


def parse_decimal(text: object, *, field: str) -> Decimal | None:
    """Read a number typed in the current locale. Empty input is None; anything unreadable is refused.

    Grouping marks are accepted only where the locale puts them (``1.234,5`` in German); a lone separator is
    read as the locale's decimal mark, never silently as grouping (``1,5`` is refused in English, not 15).
    """
    if text is None:
        return None
    if isinstance(text, Decimal):
        return text
    if isinstance(text, bool) or not isinstance(text, (str, int)):
        raise UnreadableNumber(field, str(text))
    raw = str(text).strip().replace("\u00a0", " ").replace("\u202f", " ")
    if not raw:
        return None
    if any(c in raw for c in "eE"):  # 1e5 is a number to Python, not to a person filling in an invoice
        raise UnreadableNumber(field, raw)
    try:
        value = _babel_parse_decimal(raw, locale=babel_locale(), strict=True)
    except (NumberFormatError, ValueError, ArithmeticError):
        raise UnreadableNumber(field, raw) from None
    if not value.is_finite():
        raise UnreadableNumber(field, raw)
    return value
