"""Reading what other systems send us (webhook bodies): JSON of a bounded depth, values of the expected shape.

A signed body is still untrusted input: it may be nested thousands deep, or carry a list where an object
belongs. The readers here refuse such bodies with :class:`MalformedPayload` (HTTP 400) before anything is
acted on, instead of letting a ``RecursionError`` or ``AttributeError`` surface as a 500.
"""

from __future__ import annotations

import json
import re
from typing import Any, Iterable

from .errors import InvoiceBridgeError

MAX_DEPTH = 32
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}")


class MalformedPayload(InvoiceBridgeError):
    """A body (or a value in it) that does not have the shape the sender documents: refused with 400."""

    status_code = 400


def depth(value: Any) -> int:
    """How deeply lists and objects nest in ``value`` (a scalar is 0), without recursion."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        children: Iterable[Any]
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level)
        if deepest > MAX_DEPTH:
            return deepest
        stack.extend((child, level + 1) for child in children)
    return deepest


def load_json(body: bytes | str, *, what: str = "The body") -> Any:
    """Parse JSON, refusing invalid text and nesting deeper than :data:`MAX_DEPTH`."""
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise MalformedPayload(f"{what} is not valid JSON; nothing was processed") from None
    except RecursionError:
        raise MalformedPayload(f"{what} is nested too deeply; nothing was processed") from None
    if depth(value) > MAX_DEPTH:
        raise MalformedPayload(f"{what} is nested too deeply; nothing was processed")
    return value


def obj(value: Any, what: str, *, optional: bool = False) -> dict[str, Any]:
    """``value`` as an object; ``None`` is an empty object when ``optional``."""
    if value is None and optional:
        return {}
    if not isinstance(value, dict):
        raise MalformedPayload(f"{what} must be an object")
    return value


def text(value: Any, what: str, *, optional: bool = True, max_length: int = 1000) -> str:
    """A string field (numbers are accepted and written as text); ``None`` or absent is "" when ``optional``."""
    if value is None and optional:
        return ""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise MalformedPayload(f"{what} must be text")
    out = str(value)
    if len(out) > max_length:
        raise MalformedPayload(f"{what} is too long")
    return out


def ident(value: Any, what: str, *, optional: bool = True) -> str:
    """An identifier (letters, digits and ``_.:@-``, at most 128 characters); ``None`` or "" when ``optional``."""
    out = text(value, what, optional=optional, max_length=128)
    if not out and optional:
        return ""
    if not _ID.fullmatch(out):
        raise MalformedPayload(f"{what} is not an identifier")
    return out


def is_ident(value: Any) -> bool:
    return isinstance(value, str) and bool(_ID.fullmatch(value))
