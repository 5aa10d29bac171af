"""Words the pages show for machine values (a deal's status, a bulk run's state, a status code, a percentage),
in the reader's language. Installed as template globals by :mod:`invoicebridge.adapters.pages`."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from invoicebridge.core import i18n
from invoicebridge.core.i18n import lazy_
from invoicebridge.core.pipeline import source_text
from invoicebridge.core.status import InvoiceStatus

BULK_STATES = {"running": lazy_("Running"), "done": lazy_("Finished"), "finished": lazy_("Finished"), "failed": lazy_("Failed")}
TAX_METHODS = {"exclusive": lazy_("tax exclusive"), "inclusive": lazy_("tax inclusive"), "notax": lazy_("no tax"),
               "none": lazy_("no tax")}
CONNECTION_SETTINGS = {  # the facts a connection's card lists
    "organisation_name": lazy_("Organisation"), "company_name": lazy_("Company"), "user_name": lazy_("User"),
    "user_role": lazy_("Role"), "short_code": lazy_("Short code"), "base_currency": lazy_("Base currency"),
    "api_domain": lazy_("API domain"),
}


def deal_status(value: Any) -> str:
    """A CRM deal's status (open, won, lost, deleted) as a word of the reader's language."""
    words = {"open": i18n.pgettext("deal status", "Open"), "won": i18n.pgettext("deal status", "Won"),
             "lost": i18n.pgettext("deal status", "Lost"), "deleted": i18n.pgettext("deal status", "Deleted")}
    return words.get(str(getattr(value, "value", value) or "").lower(), str(value or ""))


def status_label(code: Any) -> str:
    """An invoice status code (``PAID``) as its label in the reader's language (``Bezahlt``)."""
    try:
        return InvoiceStatus.parse(code).label
    except ValueError:
        return str(code)


def bulk_state(value: Any) -> str:
    return str(BULK_STATES.get(str(value), value))


def tax_method_label(value: Any) -> str:
    return str(TAX_METHODS.get(str(value or "").lower(), value or ""))


def connection_setting_label(key: str) -> str:
    return str(CONNECTION_SETTINGS.get(key, key.replace("_", " ").capitalize()))


def percent(value: Any) -> str:
    """``7,5 %`` in German, ``7.5%`` in English (Babel's percent pattern of the locale, no rounding)."""
    if value is None or value == "":
        return ""
    from babel.numbers import format_percent

    return format_percent(Decimal(str(value)) / 100, locale=i18n.babel_locale(), decimal_quantization=False)


def install(env: Any) -> None:
    env.globals.update(deal_status=deal_status, status_label=status_label, bulk_state=bulk_state, percent=percent,
                       tax_method_label=tax_method_label, connection_setting_label=connection_setting_label,
                       source_label=lambda source: str(source_text(str(source))), entry_text=i18n.entry_text)
