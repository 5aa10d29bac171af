"""core/ and adapters/ name no vendor: not in code, comments, templates, static files, nor core's gettext catalogue.

A vendor's name, codes and defaults belong in its plugin (and the plugin's own catalogue); core and the adapters
speak of "the CRM" and "the accounting system" and ask the installed plugins for the rest.
"""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENDORS = re.compile(r"xero|pipedrive|quickbooks|intuit"
                     r"|tenant|LineAmountTypes|ContactNumber|unitdp|ACCREC|realmId", re.I)  # and their words and codes
SUFFIXES = {".py", ".html", ".js", ".css", ".po", ".pot", ".cfg", ".toml", ".json", ".md", ".txt"}

# Removed by the contract branch (the neutral status vocabulary): the status machine's notes that still cite the
# accounting plugin's fact sheet. Exact lines; delete each entry once that branch is merged.
ALLOWED: set[tuple[str, str]] = set()  # (file, line) pairs allowed to name a vendor: none


def _files():
    for folder in ("core", "adapters", "sandbox_kit"):
        for path in sorted((ROOT / folder).rglob("*")):
            if path.is_file() and path.suffix in SUFFIXES and "__pycache__" not in path.parts:
                yield path


def test_core_and_adapters_name_no_vendor():
    found, allowed_seen = [], set()
    for path in _files():
        where = str(path.relative_to(ROOT))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if VENDORS.search(line):
                if (where, line.strip()) in ALLOWED:
                    allowed_seen.add((where, line.strip()))
                else:
                    found.append(f"{where}:{number}: {line.strip()[:120]}")
    assert not found, "vendor names in core/ or adapters/ (move them into the plugin):\n" + "\n".join(found)
    assert allowed_seen == ALLOWED, f"allowlisted lines no longer there (delete them from ALLOWED): {ALLOWED - allowed_seen}"


def test_the_check_reads_every_kind_of_file_it_names():
    kinds = {p.suffix for p in _files()}
    assert {".py", ".html", ".js", ".css", ".po", ".pot"} <= kinds
    assert any(p.name == "invoicebridge.po" for p in _files())
