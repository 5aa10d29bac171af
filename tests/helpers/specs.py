"""Where the official OpenAPI specs are: ``$INVOICEBRIDGE_SPECS_DIR``, else ``shared/specs`` beside the clone."""

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def specs_dir(vendor: str) -> Path:
    candidates = [Path(os.environ["INVOICEBRIDGE_SPECS_DIR"])] if os.environ.get("INVOICEBRIDGE_SPECS_DIR") else []
    candidates.append(REPO.parent / "shared" / "specs")
    for base in candidates:
        if (base / vendor).is_dir():
            return base / vendor
    raise FileNotFoundError(f"the official {vendor} specs are not in {', '.join(map(str, candidates))}; "
                            "set INVOICEBRIDGE_SPECS_DIR to the folder holding xero/ and pipedrive/")
