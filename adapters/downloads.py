"""File downloads: the ``Content-Disposition`` header per RFC 6266 / RFC 5987.

A header value must be Latin-1 (Starlette encodes it so, and anything else fails with a 500), so a file name is
sent twice: ``filename*=UTF-8''…`` (percent-encoded, read by every current browser) and a plain ASCII
``filename="…"`` fallback for older clients.
"""

from __future__ import annotations

import os
import re
import unicodedata
from urllib.parse import quote


def _ascii(text: str) -> str:
    """Accents dropped (Ä → A), every other character outside plain ASCII (and quotes, ;, \\) as ``_``."""
    out = []
    for c in unicodedata.normalize("NFKD", text):
        if unicodedata.combining(c):
            continue
        out.append(c if re.fullmatch(r"[A-Za-z0-9._ ()+-]", c) else "_")
    return "".join(out)


def content_disposition(filename: str, *, disposition: str = "attachment") -> str:
    filename = "".join(c for c in filename if unicodedata.category(c)[0] != "C")  # no control characters
    filename = filename.replace("/", "_").replace("\\", "_").strip() or "download"
    stem, ext = os.path.splitext(filename)
    fallback_stem = _ascii(stem)
    if not any(c.isalnum() for c in fallback_stem):
        fallback_stem = "download"
    fallback = fallback_stem + _ascii(ext)
    return f"{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"
