"""Operation keys: the stored key of every create (and the idempotency key the accounting backend sees).

A key is derived from its *source* (who asked: ``api``, ``page``, ``bulk``, ``cli``, ``automation``,
``command``) and the parts that source names the request by (the client's Idempotency-Key; a form's nonce; a
bulk run id and a deal id; ...). The derivation is injective: two different (source, parts) never give the same
key, so no source can forge another's key and two distinct client keys never share an invoice.

Encoding: ``<source>~<part>:<part>...`` where each part keeps ``A-Z a-z 0-9 - _ .`` and writes every other byte
of its UTF-8 as ``~XX`` (two upper-case hex digits), so ``:`` separates parts and ``~`` is never followed by
another ``~``. A key longer than :data:`MAX_KEY` becomes ``<source>~<first 40 characters>~~<sha256 of the whole
key>``: the ``~~`` marks it, so it cannot equal an unshortened key. Every key is printable ASCII of at most 128
characters (the accounting API's idempotency-key limit).

Keys written before this encoding (``api-ord-42``, ``form-<nonce>``, ``won-5``, ``<run>-<deal>``: folded, so
``ord 42`` and ``ord/42`` met) never contain ``~``; :func:`legacy_operation_keys` gives the key an earlier
version stored for the same request, so an operation written before an upgrade is still found when the request
is replayed after it (the pipeline accepts such an operation only for the same source and deal).
"""

from __future__ import annotations

import hashlib
import re
import string

MAX_KEY = 128
_SAFE = frozenset(string.ascii_letters + string.digits + "-_.")
_SOURCE = re.compile(r"[a-z]{1,20}")
# the source an operation written before the namespaced keys carries in its payload, per source now
LEGACY_SOURCES = {"api": {"api"}, "page": {"page"}, "automation": {"automation"}, "bulk": {"bulk"}, "cli": {"bulk"}}


def _escape(part: str) -> str:
    return "".join(ch if ch in _SAFE else "".join(f"~{b:02X}" for b in ch.encode("utf-8", "surrogatepass")) for ch in part)


def operation_key(source: str, *parts: object) -> str:
    """The stored operation key for a request named by ``parts`` within ``source`` (see the module doc)."""
    if not _SOURCE.fullmatch(source):
        raise ValueError(f"an operation source is 1 to 20 lower-case letters, got {source!r}")
    if not parts:
        raise ValueError("an operation key needs at least one part")
    key = f"{source}~" + ":".join(_escape(str(p)) for p in parts)
    if len(key) > MAX_KEY:
        body = key[len(source) + 1:]
        key = f"{source}~{body[:40]}~~{hashlib.sha256(key.encode()).hexdigest()}"
    return key


def _legacy_fold(raw: str) -> str:
    """What versions before the namespaced keys stored (not injective: kept only to find their operations)."""
    clean = "".join(ch if ch.isascii() and (ch.isalnum() or ch in "-_.:") else "-" for ch in str(raw))
    if len(clean) > 100:
        clean = clean[:60] + "-" + hashlib.sha256(clean.encode()).hexdigest()[:32]
    if not clean.strip("-"):
        raise ValueError("no letter or digit")
    return clean


def legacy_operation_keys(source: str, *parts: object) -> list[str]:
    """The keys an earlier version stored for the same request (none for a request it could not make)."""
    raw = [str(p) for p in parts]
    candidates: list[str] = []
    try:
        if source == "api" and len(raw) == 1:
            candidates.append(_legacy_fold(f"api-{_legacy_fold(raw[0])}"))
        elif source == "page" and len(raw) == 1:
            candidates.append(_legacy_fold(f"form-{raw[0]}"))
        elif source == "automation" and len(raw) == 1:
            candidates.append(_legacy_fold(f"won-{raw[0]}"))
        elif source in ("bulk", "cli") and len(raw) == 2:
            run_id, deal_id = raw
            candidates.append(_legacy_fold(f"{_legacy_fold(run_id)}-{deal_id}"))
            candidates.append(_legacy_fold(f"{run_id}-{deal_id}"))
    except ValueError:
        return []
    return list(dict.fromkeys(candidates))
