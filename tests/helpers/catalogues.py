"""Every gettext domain of the project: core's (babel.cfg at the root, core/locale) and each plugin's
(plugins/<name>/babel.cfg, plugins/<name>/locale), as ``make i18n-update`` extracts them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Domain:
    name: str
    root: Path  # where extraction starts; babel.cfg's patterns are relative to it
    cfg: Path
    locale_dir: Path

    def po(self, lang: str = "de") -> Path:
        return self.locale_dir / lang / "LC_MESSAGES" / f"{self.name}.po"

    def catalogue(self, lang: str = "de") -> Catalog:
        with self.po(lang).open("rb") as source:
            return read_po(source, locale=lang, domain=self.name)


def domains() -> list[Domain]:
    found = [Domain("invoicebridge", ROOT, ROOT / "babel.cfg", ROOT / "core/locale")]
    for cfg in sorted((ROOT / "plugins").glob("*/babel.cfg")):
        found.append(Domain(f"invoicebridge_{cfg.parent.name}", cfg.parent, cfg, cfg.parent / "locale"))
    return found
