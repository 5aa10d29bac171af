"""Compile the gettext catalogues (``.po`` → ``.mo``) under ``core/locale``; run at install by ``make``.

The app also compiles a stale or missing catalogue in memory (see :mod:`invoicebridge.core.i18n`), so this is a
start-up saving, not a requirement.
"""

from __future__ import annotations

import sys

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from .i18n import DOMAIN, LOCALE_DIR


def main() -> int:
    count = 0
    for po in sorted(LOCALE_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
        with po.open("rb") as source:
            catalog = read_po(source, locale=po.parent.parent.name, domain=DOMAIN)
        with po.with_suffix(".mo").open("wb") as target:
            write_mo(target, catalog)
        count += 1
    print(f"Compiled {count} translation catalogue{'s' if count != 1 else ''}.", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
