"""Languages: the locale of the current request or command, translated text, and locale-aware numbers,
money and dates (Babel).

Every user-facing string is written in English and wrapped: ``_("Wrong password.")`` where the text is used
at once, ``lazy_("Draft")`` for module-level constants (translated when shown). Placeholders use ``%(name)s``:
``_("Invoice %(number)s created.") % {"number": n}``, so translators can move them.

The locale is a context variable: the web app sets it per request (``use_locale``), the CLI once. Catalogues are
gettext ``.po`` files under ``core/locale/<lang>/LC_MESSAGES/invoicebridge.po``, compiled to ``.mo`` at install;
a missing ``.mo`` is compiled from its ``.po`` in memory, so an editable checkout always shows current text.

A plugin keeps its texts in its own gettext domain and catalogue (``<plugin>/locale/<lang>/LC_MESSAGES/<domain>.po``)
and gets its ``_``/``lazy_`` from :func:`plugin_texts` (a :func:`translator` for its package), bound to the same
request locale; its whole ``i18n.py``::

    TEXTS, _, lazy_, ngettext, pgettext = plugin_texts(__package__)  # domain invoicebridge_<package>

Numbers typed by a user are read in the user's locale (``1,5`` is 1.5 in German, 15 nowhere):
:func:`parse_decimal` refuses what it cannot read, naming the field.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import io
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Iterator, NamedTuple

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
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


@functools.cache
def translations(code: str, domain: str = DOMAIN, localedir: Path | None = None) -> NullTranslations:
    """One domain's catalogue in one language (core's by default); English is the msgids themselves."""
    if code == DEFAULT:
        return NullTranslations()
    folder = (localedir or LOCALE_DIR) / code / "LC_MESSAGES"
    mo, po = folder / f"{domain}.mo", folder / f"{domain}.po"
    if po.exists() and (not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime):
        with po.open("rb") as source:
            catalog = read_po(source, locale=code, domain=domain)
        buffer = io.BytesIO()
        write_mo(buffer, catalog)
        buffer.seek(0)
        return Translations(buffer, domain=domain)
    if mo.exists():
        with mo.open("rb") as compiled:
            return Translations(compiled, domain=domain)
    return NullTranslations()


@functools.cache
def _with_core_fallback(code: str, domain: str, localedir: Path) -> NullTranslations:
    """A plugin domain's catalogue that falls back to core's: a plugin page built on core's pieces (the sandbox
    kit's console, core's filters) shows core's texts translated too."""
    own = translations.__wrapped__(code, domain, localedir)
    own.add_fallback(translations(code))
    return own


class Translator:
    """The texts of one gettext domain, in the language of the moment (the request's or the command's).

    Core's own texts use the module functions below (domain ``invoicebridge``); a plugin gets its own with
    :func:`translator` and wraps its texts with its ``gettext``/``lazy_gettext`` (conventionally bound to ``_`` and
    ``lazy_``, which ``make i18n-update`` extracts into the plugin's catalogue)."""

    def __init__(self, domain: str, localedir: Path) -> None:
        self.domain, self.localedir = domain, Path(localedir)

    def translations(self, code: str | None = None) -> NullTranslations:
        code = code or current_locale()
        if self.domain == DOMAIN:
            return translations(code)
        return _with_core_fallback(code, self.domain, self.localedir)

    def gettext(self, message: str) -> str:
        return self.translations().gettext(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return self.translations().ngettext(singular, plural, n)

    def pgettext(self, context: str, message: str) -> str:
        return str(self.translations().pgettext(context, message))  # Babel annotates it `str | object`

    def lazy_gettext(self, message: str, **params: Any) -> "LazyText":
        """Translated each time it is shown (and kept in the store with its domain, see :class:`LazyText`)."""
        return LazyText(message, params, domain=self.domain)

    def __repr__(self) -> str:
        return f"translator({self.domain!r}, {str(self.localedir)!r})"


_TRANSLATORS: dict[str, Translator] = {}


def translator(domain: str, localedir: str | Path) -> Translator:
    """The translator of a gettext domain whose catalogues live under ``localedir`` (``<lang>/LC_MESSAGES/<domain>.po``
    or ``.mo``). Registered by its domain, so texts kept for later (audit entries) find their catalogue again."""
    if domain == DOMAIN:
        return CORE
    known = _TRANSLATORS.get(domain)
    if known is None or known.localedir != Path(localedir):
        known = _TRANSLATORS[domain] = Translator(domain, Path(localedir))
    return known


class PluginTexts(NamedTuple):
    """What a plugin's ``i18n.py`` exports (see :func:`plugin_texts`); unpacks in this order."""

    texts: Translator
    gettext: Callable[[str], str]
    lazy_gettext: Callable[..., LazyText]
    ngettext: Callable[[str, str, int], str]
    pgettext: Callable[[str, str], str]


def plugin_texts(package: str, domain: str = "") -> PluginTexts:
    """The texts of the plugin package ``package`` (pass ``__package__``): domain ``invoicebridge_<last part of
    the package name>`` unless ``domain`` is given, catalogues in the package's ``locale/`` folder. A plugin's
    whole ``i18n.py`` is ``TEXTS, _, lazy_, ngettext, pgettext = plugin_texts(__package__)``."""
    import importlib

    folder = Path(next(iter(importlib.import_module(package).__path__)))
    texts = translator(domain or f"invoicebridge_{package.rsplit('.', 1)[-1]}", folder / "locale")
    return PluginTexts(texts, texts.gettext, texts.lazy_gettext, texts.ngettext, texts.pgettext)


def _translator_of(domain: str | None) -> Translator:
    return _TRANSLATORS.get(domain or DOMAIN, CORE)


CORE = Translator(DOMAIN, LOCALE_DIR)
_TRANSLATORS[DOMAIN] = CORE


def gettext(message: str) -> str:
    return translations(current_locale()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translations(current_locale()).ngettext(singular, plural, n)


def pgettext(context: str, message: str) -> str:
    return str(translations(current_locale()).pgettext(context, message))  # Babel annotates it `str | object`


def _render(msgid: str, params: dict[str, Any], domain: str | None = None) -> str:
    text = _translator_of(domain).gettext(msgid)
    if domain is None and text == msgid and current_locale() != DEFAULT:
        # kept before its plugin had a domain of its own (an older audit entry): look in the plugins' catalogues
        for other in list(_TRANSLATORS.values()):
            if other is not CORE and (found := other.gettext(msgid)) != msgid:
                text = found
                break
    return text % params if params else text


class LazyText(LazyProxy):
    """A text translated each time it is shown, in the language of that moment, with its placeholders filled.

    Module-level constants (status labels) and texts kept for later (audit entries, shown in the reader's
    language) use it. Parameters may themselves be lazy texts. :meth:`to_json` / :meth:`from_json` keep one in
    the store; :meth:`english` is the text in the default language (logs, the API's stable records).
    """

    __slots__ = ("msgid", "params", "domain")

    def __init__(self, msgid: str, params: dict[str, Any] | None = None, domain: str | None = None) -> None:
        params = dict(params or {})
        domain = None if domain in (None, DOMAIN) else domain
        super().__init__(_render, msgid, params, domain, enable_cache=False)
        object.__setattr__(self, "msgid", msgid)
        object.__setattr__(self, "params", params)
        object.__setattr__(self, "domain", domain)

    def english(self) -> str:
        with use_locale(DEFAULT):
            return str(self)

    def to_json(self) -> dict[str, Any]:
        data = {"msgid": self.msgid,
                "params": {k: v.to_json() if isinstance(v, (LazyText, LazyMoney)) else _plain(v) for k, v in self.params.items()}}
        if self.domain:
            data["domain"] = self.domain
        return data

    @classmethod
    def from_json(cls, data: Any) -> "LazyText | LazyMoney | None":
        if isinstance(data, dict) and "money" in data:
            return LazyMoney.from_json(data)
        if not isinstance(data, dict) or not isinstance(data.get("msgid"), str):
            return None
        params = {}
        for key, value in dict(data.get("params") or {}).items():
            params[str(key)] = (cls.from_json(value) or "") if isinstance(value, dict) else value
        domain = data.get("domain")
        return cls(data["msgid"], params, domain if isinstance(domain, str) else None)

    def __repr__(self) -> str:
        return f"lazy_({self.msgid!r})"

    def __reduce__(self):  # picklable and copyable as itself
        return (LazyText, (self.msgid, self.params, self.domain))

    def __copy__(self) -> "LazyText":
        return self

    def __deepcopy__(self, memo: Any) -> "LazyText":
        return self


class LazyMoney(LazyProxy):
    """An amount shown in the language of the moment (``1.234,50 €`` / ``€1,234.50``); a parameter of lazy texts."""

    __slots__ = ("amount", "currency")

    def __init__(self, amount: Any, currency: str | None = None) -> None:
        super().__init__(lambda: format_money(amount, currency), enable_cache=False)
        object.__setattr__(self, "amount", amount)
        object.__setattr__(self, "currency", currency or "")

    def to_json(self) -> dict[str, Any]:
        return {"money": str(self.amount) if self.amount is not None else "", "currency": self.currency}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "LazyMoney | None":
        try:
            amount = Decimal(str(data.get("money"))) if data.get("money") not in (None, "") else None
        except ArithmeticError:
            return None
        return cls(amount, str(data.get("currency") or ""))

    def __reduce__(self):
        return (LazyMoney, (self.amount, self.currency))


lazy_money = LazyMoney


def _plain(value: Any) -> Any:
    """A parameter as the store keeps it: numbers and text as they are, anything else as its text now."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, LazyProxy):
        return str(value)
    return str(value)


def lazy_gettext(message: str, **params: Any) -> LazyText:
    """Translated each time it is shown, in the language of that moment (for module-level constants and texts
    kept for later). ``lazy_("Invoice %(number)s created", number=n)`` fills its placeholders when shown."""
    return LazyText(message, params)


def entry_text(entry: Any) -> str:
    """An audit entry's message in the current language (entries written with ``lazy_`` keep their msgid)."""
    data = entry.get("data") if isinstance(entry, dict) else None
    lazy = LazyText.from_json(data.get("i18n")) if isinstance(data, dict) else None
    if lazy is not None:
        try:
            return str(lazy)
        except (KeyError, ValueError, TypeError):  # a translation that no longer fits its parameters
            pass
    return str(entry.get("message", "")) if isinstance(entry, dict) else str(entry)


def text_of(value: Any) -> str:
    """Plain text now (a lazy text in the current language); for JSON and anything that needs a real ``str``."""
    return str(value) if value is not None else ""


_ = gettext
lazy_ = lazy_gettext


# ---- numbers, money and dates (core/i18n_format.py) ------------------------------------------------------------

from .i18n_format import (UnreadableNumber, babel_locale, format_date, format_datetime, format_input_number,  # noqa: E402, F401 (re-exported)
                          format_money, format_number, number_symbols, parse_decimal)


# ---- templates ---------------------------------------------------------------------------------------------

LANGUAGE_NAMES = {"en": "English", "de": "Deutsch"}  # each in its own language, as a language switch shows them


def install_jinja(env: Any, texts: Translator | None = None) -> None:
    """Jinja2's i18n extension on a domain's catalogues (``{{ _("Text %(n)s", n=x) }}``, ``{% trans %}``): core's,
    or a plugin's own ``texts`` (its :func:`translator`); plus filters for numbers, money and dates in the current
    language: ``money(currency)``, ``number(places)``, ``number_input``, ``date``, ``datetime``. Pages and the
    plugins' own templates use the same."""
    texts = texts or CORE
    env.add_extension("jinja2.ext.i18n")
    env.install_gettext_callables(texts.gettext, texts.ngettext, newstyle=True, pgettext=texts.pgettext)
    env.filters["money"] = lambda amount, currency=None: format_money(amount, currency)
    env.filters["number"] = lambda value, places=None: format_number(value, places=places)
    env.filters["number_input"] = format_input_number
    env.filters["date"] = lambda value, format="medium": format_date(value, format)
    env.filters["datetime"] = lambda value, format="medium": format_datetime(value, format)
    env.globals["current_language"] = current_locale
    env.globals["LANGUAGES"] = LANGUAGE_NAMES
