"""Where the official OpenAPI specs are: ``tests/specs/<vendor>`` in this repository (vendored byte for byte, with
their licences and a SOURCE.md naming the upstream commit), or ``$INVOICEBRIDGE_SPECS_DIR`` to try newer ones."""

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
VENDORED = REPO / "tests" / "specs"


def specs_dir(vendor: str) -> Path:
    candidates = [Path(os.environ["INVOICEBRIDGE_SPECS_DIR"])] if os.environ.get("INVOICEBRIDGE_SPECS_DIR") else []
    candidates.append(VENDORED)
    for base in candidates:
        if (base / vendor).is_dir():
            return base / vendor
    raise FileNotFoundError(f"the official {vendor} specs are not in {', '.join(map(str, candidates))}")
