"""The German catalogue covers every wrapped text and is consistent.

The texts are extracted from the sources exactly as ``make i18n-update`` does (babel.cfg), so a string that
another change wraps in ``_()`` and nobody translated fails here, as does an entry left fuzzy or empty, a
translation whose placeholders differ from its msgid (Babel's checkers), or a compiled ``.mo`` that says
something else than its ``.po``.
"""

import io
import re
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
PO = ROOT / "core/locale/de/LC_MESSAGES/invoicebridge.po"


def _german() -> Catalog:
    with PO.open("rb") as source:
        return read_po(source, locale="de", domain="invoicebridge")


def _extracted() -> dict:
    with (ROOT / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "pgettext": ((1, "c"), 2), "lazy_": None, "lazy_gettext": None}
    found = {}
    for filename, lineno, message, comments, context in extract_from_dir(str(ROOT), method_map, options_map, keywords=keywords):
        if (filename.startswith(".") or "/." in filename):
            continue
        found[(context, message if isinstance(message, str) else message[0])] = f"{filename}:{lineno}"
    return found


def test_every_wrapped_text_has_a_german_translation():
    german = _german()
    extracted = _extracted()
    assert len(extracted) > 400  # the extraction really ran over the pages, the core and the plugins
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


def test_the_catalogue_passes_babels_checkers():
    german = _german()
    errors = [f"{message.id!r}: {error}" for message, found in german.check() for error in found]
    assert not errors, "\n".join(errors)
    assert german.plural_forms == "nplurals=2; plural=(n != 1);"


PLACEHOLDER = re.compile(r"%(?:\((\w+)\))?[-#0 +]*\d*(?:\.\d+)?([sdrif%])")


def test_translations_have_exactly_the_placeholders_of_their_msgid():
    for message in _german():
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


def test_the_compiled_catalogue_says_what_the_po_says():
    german = _german()
    buffer = io.BytesIO()
    write_mo(buffer, german)
    buffer.seek(0)
    compiled = read_mo(buffer)
    for message in german:
        if message.id:
            assert _same(compiled.get(message.id, context=message.context).string, message.string), message.id
    mo = PO.with_suffix(".mo")
    if mo.exists() and mo.stat().st_mtime >= PO.stat().st_mtime:  # `make install` compiled it: it must not be stale
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

    german = _german()
    marker = german.get("reconnect").string.lower()
    missing = [m.id for m in german if isinstance(m.id, str) and m.id.lower() != "reconnect" and _RECONNECT.search(m.id)
               and m.id not in ("Reconnect", "Connect again") and marker not in m.string.lower()]
    assert not missing, missing
