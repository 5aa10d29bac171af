"""A plugin's texts live in its own gettext domain: core's neutral ``translator`` reads that catalogue in the request's
language, lazy texts keep their domain through the store, and core's catalogue holds no plugin text."""

from pathlib import Path

import jinja2
from babel.messages.catalog import Catalog
from babel.messages.pofile import write_po

from invoicebridge.core import i18n


def _domain(tmp_path: Path, name: str, texts: dict[str, str]) -> i18n.Translator:
    catalog = Catalog(locale="de", domain=name)
    for msgid, msgstr in texts.items():
        catalog.add(msgid, msgstr)
    po = tmp_path / "de" / "LC_MESSAGES" / f"{name}.po"
    po.parent.mkdir(parents=True)
    with po.open("wb") as target:
        write_po(target, catalog)
    return i18n.translator(name, tmp_path)


def test_a_plugin_translator_speaks_the_request_language_from_its_own_catalogue(tmp_path):
    texts = _domain(tmp_path, "invoicebridge_example1", {"The ledger is closed": "Das Hauptbuch ist geschlossen",
                                                         "Ledger %(name)s": "Hauptbuch %(name)s"})
    _ = texts.gettext
    with i18n.use_locale("de"):
        assert _("The ledger is closed") == "Das Hauptbuch ist geschlossen"
        assert i18n._("The ledger is closed") == "The ledger is closed"  # not in core's domain
        assert i18n._("Dashboard") == "Übersicht"  # core's texts are untouched
    with i18n.use_locale("en"):
        assert _("The ledger is closed") == "The ledger is closed"
    assert i18n.translator("invoicebridge_example1", tmp_path) is texts


def test_a_plugins_lazy_text_keeps_its_domain_through_the_store(tmp_path):
    texts = _domain(tmp_path, "invoicebridge_example2", {"Ledger %(name)s": "Hauptbuch %(name)s"})
    kept = texts.lazy_gettext("Ledger %(name)s", name="Main").to_json()
    assert kept["domain"] == "invoicebridge_example2"
    again = i18n.LazyText.from_json(kept)
    with i18n.use_locale("de"):
        assert str(again) == "Hauptbuch Main"
        assert i18n.entry_text({"message": "Ledger Main", "data": {"i18n": kept}}) == "Hauptbuch Main"
    assert again.english() == "Ledger Main"
    assert "domain" not in i18n.lazy_("Draft").to_json()  # core's own texts are stored as before


def test_an_entry_kept_before_plugins_had_domains_still_finds_its_translation(tmp_path):
    _domain(tmp_path, "invoicebridge_example3", {"The ledger was reopened": "Das Hauptbuch wurde wieder geöffnet"})
    older = i18n.LazyText.from_json({"msgid": "The ledger was reopened", "params": {}})  # no domain recorded
    with i18n.use_locale("de"):
        assert str(older) == "Das Hauptbuch wurde wieder geöffnet"


def test_a_plugins_templates_use_its_domain(tmp_path):
    texts = _domain(tmp_path, "invoicebridge_example4", {"Ledger": "Hauptbuch"})
    env = jinja2.Environment(autoescape=True)
    i18n.install_jinja(env, texts)
    with i18n.use_locale("de"):
        assert env.from_string('{{ _("Ledger") }} {{ 3 | number }}').render() == "Hauptbuch 3"


def test_the_built_in_plugins_texts_left_cores_catalogue_with_their_translations():
    """Plugin texts are in the plugin's catalogue, translated as before; core's has none that only a plugin uses."""
    from catalogues import domains

    core, *plugins = domains()
    core_ids = {m.id for m in core.catalogue() if m.id}
    for domain in plugins:
        own = [m for m in domain.catalogue() if m.id and m.string]
        assert own
        # texts that core also uses may be in both; the plugin-only ones are gone from core's
        only_plugin = [m.id for m in own if "sandbox" in str(m.id).lower() or domain.root.name in str(m.id).lower()]
        assert only_plugin and not core_ids & set(only_plugin), sorted(core_ids & set(only_plugin))[:5]


def test_plugin_texts_gives_a_package_its_domain_from_its_name(tmp_path, monkeypatch):
    """A plugin's i18n.py is one line: ``plugin_texts(__package__)`` finds ``locale/`` in the package's folder and
    names the domain after the package."""
    package = tmp_path / "ledgerplug"
    package.mkdir()
    (package / "__init__.py").write_text("")
    _domain(package / "locale", "invoicebridge_ledgerplug", {"Ledger closed": "Hauptbuch geschlossen"})
    (package / "i18n.py").write_text("from invoicebridge.core.i18n import plugin_texts\n"
                                     "TEXTS, _, lazy_, ngettext, pgettext = plugin_texts(__package__)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import importlib

    texts = importlib.import_module("ledgerplug.i18n")
    assert texts.TEXTS.domain == "invoicebridge_ledgerplug" and texts.TEXTS.localedir == package / "locale"
    with i18n.use_locale("de"):
        assert texts._("Ledger closed") == "Hauptbuch geschlossen" and str(texts.lazy_("Ledger closed")) == "Hauptbuch geschlossen"


def test_the_built_in_plugins_texts_come_from_plugin_texts():
    from invoicebridge.plugins.pipedrive import i18n as pipedrive
    from invoicebridge.plugins.xero import i18n as xero

    assert (xero.TEXTS.domain, pipedrive.TEXTS.domain) == ("invoicebridge_xero", "invoicebridge_pipedrive")
    assert xero.TEXTS.localedir == Path(xero.__file__).parent / "locale"
