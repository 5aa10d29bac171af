"""This plugin's texts: gettext domain ``invoicebridge_quickbooks``, catalogue under ``locale/`` (``make i18n-update``)."""

from invoicebridge.core.i18n import plugin_texts

TEXTS, _, lazy_, ngettext, pgettext = plugin_texts(__package__)
