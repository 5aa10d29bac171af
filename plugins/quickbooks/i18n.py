"""This plugin's texts: its own gettext domain, ``invoicebridge_quickbooks``, with its catalogue under ``locale/``
(extracted by ``make i18n-update`` with this folder's babel.cfg), read in the request's language by core's
neutral translator."""

from __future__ import annotations

from pathlib import Path

from invoicebridge.core.i18n import translator

DOMAIN = "invoicebridge_quickbooks"
LOCALE_DIR = Path(__file__).parent / "locale"
TEXTS = translator(DOMAIN, LOCALE_DIR)

_ = TEXTS.gettext
lazy_ = TEXTS.lazy_gettext
ngettext = TEXTS.ngettext
pgettext = TEXTS.pgettext
