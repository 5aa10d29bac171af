"""Compile the gettext catalogues (``.po`` → ``.mo``) of every domain in this package: core's under ``core/locale``
and each built-in plugin's under its own ``locale`` folder; run at install by ``make``.

The app also compiles a stale or missing catalogue in memory (see :mod:`invoicebridge.core.i18n`), so this is a
start-up saving, not a requirement.
"""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

PACKAGE = Path(__file__).resolve().parent.parent  # the invoicebridge package: core/, adapters/, plugins/


def catalogues(package: Path = PACKAGE) -> list[Path]:
    """Every ``<folder>/locale/<lang>/LC_MESSAGES/<domain>.po`` under the package (core's and the plugins')."""
    return sorted(p for p in package.rglob("locale/*/LC_MESSAGES/*.po") if not any(part.startswith(".") for part in
                                                                                   p.relative_to(package).parts))


def compile_po(po: Path) -> None:
    with po.open("rb") as source:
        catalog = read_po(source, locale=po.parent.parent.name, domain=po.stem)
    with po.with_suffix(".mo").open("wb") as target:
        write_mo(target, catalog)


def main() -> int:
    found = catalogues()
    for po in found:
        compile_po(po)
    print(f"Compiled {len(found)} translation catalogue{'s' if len(found) != 1 else ''}.", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
