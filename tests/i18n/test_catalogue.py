"""The German catalogues, core's and each plugin's (every gettext domain), cover every wrapped text and are consistent.

The texts are extracted from the sources exactly as ``make i18n-update`` does (each domain's babel.cfg), so a string that
another change wraps in ``_()`` and nobody translated fails here, as does an entry left fuzzy or empty, a
translation whose placeholders differ from its msgid (Babel's checkers), or a compiled ``.mo`` that says
something else than its ``.po``.
"""

import io
import re

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo, write_mo
import pytest
from catalogues import Domain, domains

CORE = domains()[0]
DOMAINS = pytest.mark.parametrize("domain", domains(), ids=lambda d: d.name)


def _german(domain: Domain = CORE) -> Catalog:
    return domain.catalogue("de")


def _extracted(domain: Domain = CORE) -> dict:
    with domain.cfg.open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "pgettext": ((1, "c"), 2), "lazy_": None, "lazy_gettext": None}
    found = {}
    for filename, lineno, message, _comments, context in extract_from_dir(str(domain.root), method_map, options_map, keywords=keywords):
        if (filename.startswith(".") or "/." in filename):
            continue
        found[(context, message if isinstance(message, str) else message[0])] = f"{filename}:{lineno}"
    return found


def test_there_is_a_domain_for_core_and_for_each_built_in_plugin():
    names = [d.name for d in domains()]
    assert names[0] == "invoicebridge" and {"invoicebridge_xero", "invoicebridge_pipedrive"} <= set(names)
    for domain in domains()[1:]:  # the plugin's translator reads the catalogue this test checks
        import importlib

        texts = importlib.import_module(f"invoicebridge.plugins.{domain.root.name}.i18n").TEXTS
        assert texts.domain == domain.name and texts.localedir == domain.locale_dir


@DOMAINS
def test_every_wrapped_text_has_a_german_translation(domain):
    german = _german(domain)
    extracted = _extracted(domain)
    assert len(extracted) > (400 if domain is CORE else 20)  # the extraction really ran over the domain's sources
    problems = []
    for (context, msgid), where in sorted(extracted.items(), key=lambda kv: kv[1]):
        entry = german.get(msgid, context=context)
        if entry is None:
            problems.append(f"{where}: not in the German catalogue: {msgid!r}")
        elif entry.fuzzy:
            problems.append(f"{where}: fuzzy (check and clear the flag): {msgid!r}")
        elif not entry.string or (isinstance(entry.string, tuple) and not all(entry.string)):
            problems.append(f"{where}: not translated: {msgid!r}")
    assert not problems, "run `make i18n-update` and translate:\n" + "\n".join(problems)


@DOMAINS
def test_the_catalogue_passes_babels_checkers(domain):
    german = _german(domain)
    errors = [f"{message.id!r}: {error}" for message, found in german.check() for error in found]
    assert not errors, "\n".join(errors)
    assert german.plural_forms == "nplurals=2; plural=(n != 1);"


PLACEHOLDER = re.compile(r"%(?:\((\w+)\))?[-#0 +]*\d*(?:\.\d+)?([sdrif%])")


@DOMAINS
def test_translations_have_exactly_the_placeholders_of_their_msgid(domain):
    for message in _german(domain):
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        wanted = sorted(PLACEHOLDER.findall(ids[-1]))
        for text in strings:
            assert sorted(PLACEHOLDER.findall(text)) == wanted, (message.id, text)
            if "python-format" in message.flags:
                values = {name: 1 if kind in "dif" else "x" for name, kind in wanted if name}
                assert isinstance(text % values if values else text % (), str)  # formats without KeyError or ValueError


def _same(a, b) -> bool:
    return (tuple(a) if isinstance(a, (list, tuple)) else a) == (tuple(b) if isinstance(b, (list, tuple)) else b)


@DOMAINS
def test_the_compiled_catalogue_says_what_the_po_says(domain):
    german = _german(domain)
    buffer = io.BytesIO()
    write_mo(buffer, german)
    buffer.seek(0)
    compiled = read_mo(buffer)
    for message in german:
        if message.id:
            assert _same(compiled.get(message.id, context=message.context).string, message.string), message.id
    mo = domain.po().with_suffix(".mo")
    if mo.exists() and mo.stat().st_mtime >= domain.po().stat().st_mtime:  # `make install` compiled it: it must not be stale
        with mo.open("rb") as installed:
            on_disk = read_mo(installed)
        for message in german:
            if message.id:
                assert _same(on_disk.get(message.id, context=message.context).string, message.string), message.id


def test_the_app_loads_the_german_catalogue():
    from invoicebridge.core import i18n

    i18n.translations.cache_clear()
    with i18n.use_locale("de"):
        assert i18n._("Dashboard") == "Übersicht"
        assert i18n.pgettext("deal status", "Open") == "Offen" and i18n._("Open") == "Öffnen"
        assert i18n.ngettext("%(num)s attempt", "%(num)s attempts", 2) == "%(num)s Versuche"


def test_german_messages_that_ask_to_reconnect_say_it_the_way_the_pages_look_for():
    """The pages offer a Reconnect button when a message contains _("reconnect"); in German that phrase must be in
    every translation of a message that asks to reconnect, or German readers lose the button."""
    from invoicebridge.adapters.display import _RECONNECT

    marker = _german().get("reconnect").string.lower()
    missing = [m.id for domain in domains() for m in _german(domain) if isinstance(m.id, str) and m.id.lower() != "reconnect"
               and _RECONNECT.search(m.id) and m.id not in ("Reconnect", "Connect again") and marker not in m.string.lower()]
    assert not missing, missing


# German that hedges on grammatical gender reads as unfinished: "keine(n) Organisation, der/die …".
HEDGED_GENDER = re.compile(r"\b\w+\((?:n|e|r|s|en|er)\)|\b(?:der|die|das|den|dem|ein|eine|einen)/(?:der|die|das|den|dem|ein|eine|einen)\b")


@DOMAINS
def test_german_translations_do_not_hedge_on_gender(domain):
    hedged = [f"{m.id!r} → {m.string!r}" for m in _german(domain) if m.id and m.string
              for text in ([m.string] if isinstance(m.string, str) else m.string) if HEDGED_GENDER.search(text or "")]
    assert not hedged, "\n".join(hedged)
