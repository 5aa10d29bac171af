"""Languages: the locale of the current request or command, translated text, and locale-aware numbers,
money and dates (Babel).

Every user-facing string is written in English and wrapped: ``_("Wrong password.")`` where the text is used
at once, ``lazy_("Draft")`` for module-level constants (translated when shown). Placeholders use ``%(name)s``:
``_("Invoice %(number)s created.") % {"number": n}``, so translators can move them.

The locale is a context variable: the web app sets it per request (``use_locale``), the CLI once. Catalogues are
gettext ``.po`` files under ``core/locale/<lang>/LC_MESSAGES/invoicebridge.po``, compiled to ``.mo`` at install;
a missing ``.mo`` is compiled from its ``.po`` in memory, so an editable checkout always shows current text.

Numbers typed by a user are read in the user's locale (``1,5`` is 1.5 in German, 15 nowhere):
:func:`parse_decimal` refuses what it cannot read, naming the field.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import functools
import io
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterator

from babel import Locale, UnknownLocaleError
from babel.dates import format_date as _babel_format_date
from babel.dates import format_datetime as _babel_format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import NumberFormatError
from babel.numbers import format_currency as _babel_format_currency
from babel.numbers import format_decimal as _babel_format_decimal
from babel.numbers import parse_decimal as _babel_parse_decimal
from babel.support import LazyProxy, NullTranslations, Translations

DOMAIN = "invoicebridge"
LOCALE_DIR = Path(__file__).parent / "locale"
SUPPORTED = ("en", "de")
DEFAULT = "en"

_current: contextvars.ContextVar[str] = contextvars.ContextVar("invoicebridge_locale", default=DEFAULT)


def normalize(value: object) -> str | None:
    """A supported language code from ``de``, ``de-DE``, ``de_AT`` …; None when it is not one we speak."""
    if not isinstance(value, str) or not value.strip():
        return None
    code = value.strip().replace("-", "_").split("_")[0].lower()
    return code if code in SUPPORTED else None


def negotiate(accept_language: str | None, default: str = DEFAULT) -> str:
    """Pick a supported language from an Accept-Language header (quality values honoured)."""
    if not accept_language:
        return default
    wanted: list[tuple[float, int, str]] = []
    for index, part in enumerate(accept_language.split(",")):
        tag, _sep, params = part.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            key, _eq, val = param.strip().partition("=")
            if key == "q":
                try:
                    q = float(val)
                except ValueError:
                    q = 0.0
        if tag and q > 0:
            wanted.append((-q, index, tag))
    for _q, _i, tag in sorted(wanted):
        code = normalize(tag)
        if code:
            return code
    return default


def current_locale() -> str:
    return _current.get()


@contextlib.contextmanager
def use_locale(code: str | None) -> Iterator[str]:
    """Run a block in a language (unknown codes fall back to the default)."""
    token = _current.set(normalize(code) or DEFAULT)
    try:
        yield _current.get()
    finally:
        _current.reset(token)


def set_locale(code: str | None) -> str:
    """Set the language for the rest of this context (the CLI's whole run)."""
    _current.set(normalize(code) or DEFAULT)
    return _current.get()


@functools.lru_cache(maxsize=None)
def translations(code: str) -> NullTranslations:
    if code == DEFAULT:
        return NullTranslations()
    folder = LOCALE_DIR / code / "LC_MESSAGES"
    mo, po = folder / f"{DOMAIN}.mo", folder / f"{DOMAIN}.po"
    if po.exists() and (not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime):
        with po.open("rb") as source:
            catalog = read_po(source, locale=code, domain=DOMAIN)
        buffer = io.BytesIO()
        write_mo(buffer, catalog)
        buffer.seek(0)
        return Translations(buffer, domain=DOMAIN)
    if mo.exists():
        with mo.open("rb") as compiled:
            return Translations(compiled, domain=DOMAIN)
    return NullTranslations()


def gettext(message: str) -> str:
    return translations(current_locale()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translations(current_locale()).ngettext(singular, plural, n)


def pgettext(context: str, message: str) -> str:
    return translations(current_locale()).pgettext(context, message)


def lazy_gettext(message: str) -> LazyProxy:
    """Translated each time it is shown, in the language of that moment (for module-level constants)."""
    return LazyProxy(gettext, message, enable_cache=False)


_ = gettext
lazy_ = lazy_gettext


# ---- numbers, money and dates ------------------------------------------------------------------------------


def babel_locale(code: str | None = None) -> Locale:
    try:
        return Locale.parse(normalize(code or current_locale()) or DEFAULT)
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


def format_money(amount: Any, currency: str | None = None) -> str:
    """``1.234,50 €`` in German, ``€1,234.50`` in English; without a currency, just the amount to the cent."""
    if amount is None or amount == "":
        return ""
    number = Decimal(str(amount))
    if not currency:
        return format_number(number, places=2)
    return _babel_format_currency(number, currency, locale=babel_locale(), currency_digits=True)


def format_date(value: dt.date | dt.datetime | None, format: str = "medium") -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return _babel_format_datetime(value, format=format, locale=babel_locale())
    return _babel_format_date(value, format=format, locale=babel_locale())


def format_datetime(value: dt.datetime | None, format: str = "medium") -> str:
    if value is None:
        return ""
    return _babel_format_datetime(value, format=format, locale=babel_locale())


class UnreadableNumber(ValueError):
    """Typed input that is not a number in the user's locale; the message names the field."""

    def __init__(self, field: str, text: str) -> None:
        self.field, self.text = field, text
        example = format_number(Decimal("1234.5"), places=2)
        super().__init__(_("%(field)s: %(text)r is not a number (write it like %(example)s).")
                         % {"field": field, "text": text, "example": example})


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
