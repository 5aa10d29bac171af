"""The QBO query language, the subset the fact sheet documents (§2.4):

``SELECT * | count(*) FROM Entity [WHERE a op v AND …] [ORDERBY f [ASC|DESC], …] [STARTPOSITION n] [MAXRESULTS n]``

AND only; operators ``= < > <= >= IN LIKE`` (``%`` wildcard); values ``'text'`` with backslash escapes, numbers,
``true``/``false``, ``(a, b)``; dotted fields (``MetaData.LastUpdatedTime``); a reference field compares its
``value``. Keywords are case-insensitive, the entity name is not. Inactive name-list rows are hidden unless the
statement filters on ``Active``. String comparison ignores case (UNCERTAIN).
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from typing import Any, Callable

from attrs import define, field

from . import sandbox_faults as f
from .qbotime import parse_timestamp

TOKEN = re.compile(r"""\s*(?:(?P<str>'(?:\\.|[^'\\])*')|(?P<op><=|>=|!=|=|<|>)|(?P<punct>[(),*])|(?P<word>[A-Za-z_][\w.]*)|(?P<num>-?\d+(?:\.\d+)?))""")
DEFAULT_MAX, LIMIT_MAX = 100, 1000


@define
class Query:
    entity: str
    count: bool = False
    where: list[tuple[str, str, Any]] = field(factory=list)
    order: list[tuple[str, bool]] = field(factory=list)  # (field, descending)
    start: int = 1
    max_results: int = DEFAULT_MAX


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = text.strip().rstrip(";")
    while pos < len(text):
        match = TOKEN.match(text, pos)
        if not match or match.end() == pos:
            if text[pos:].strip() == "":
                break
            raise f.query_error(f"Encountered \"{text[pos:pos + 10]}\" at column {pos + 1}.")
        kind = match.lastgroup or ""
        out.append((kind, match.group(kind)))
        pos = match.end()
    return out


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text[1:-1])


def parse(text: str) -> Query:
    toks = _tokens(text)
    i = 0

    def peek(word: str | None = None) -> bool:
        return i < len(toks) and (word is None or toks[i][1].lower() == word)

    def take(word: str | None = None) -> str:
        nonlocal i
        if i >= len(toks) or (word is not None and toks[i][1].lower() != word):
            got = toks[i][1] if i < len(toks) else "<EOF>"
            raise f.query_error(f"Encountered \"{got}\", was expecting {word or 'more input'}.")
        i += 1
        return toks[i - 1][1]

    def value() -> Any:
        nonlocal i
        kind, tok = toks[i] if i < len(toks) else ("", "")
        if kind == "str":
            i += 1
            return _unquote(tok)
        if kind == "num":
            i += 1
            return Decimal(tok)
        if tok.lower() in ("true", "false"):
            i += 1
            return tok.lower() == "true"
        raise f.query_error(f"Encountered \"{tok or '<EOF>'}\", was expecting a value.")

    take("select")
    count = False
    if peek("count"):
        take("count"), take("("), take("*"), take(")")
        count = True
    else:
        take("*")
    take("from")
    query = Query(entity=take(), count=count)
    if peek("where"):
        take("where")
        while True:
            name = take()
            if peek("in"):
                take("in"), take("(")
                values = [value()]
                while peek(","):
                    take(",")
                    values.append(value())
                take(")")
                query.where.append((name, "in", values))
            elif peek("like"):
                take("like")
                query.where.append((name, "like", value()))
            else:
                op = take()
                if op not in ("=", "<", ">", "<=", ">="):
                    raise f.query_error(f"Encountered \"{op}\": only = < > <= >= IN LIKE are supported.")
                query.where.append((name, op, value()))
            if not peek("and"):
                break
            take("and")
    if peek("orderby") or peek("order"):
        if take().lower() == "order":
            take("by")
        while True:
            name = take()
            desc = False
            if peek("asc") or peek("desc"):
                desc = take().lower() == "desc"
            query.order.append((name, desc))
            if not peek(","):
                break
            take(",")
    for word in ("startposition", "maxresults"):
        if peek(word):
            take(word)
            number = take()
            if not number.isdigit():
                raise f.query_error(f"{word.upper()} needs a whole number, got {number}.")
            if word == "startposition":
                query.start = max(1, int(number))
            else:
                query.max_results = min(LIMIT_MAX, int(number))
    if i < len(toks):
        raise f.query_error(f"Encountered \"{toks[i][1]}\" at the end of the statement.")
    return query


def _field(row: dict[str, Any], name: str) -> Any:
    value: Any = row
    for part in name.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    if isinstance(value, dict) and "value" in value:
        value = value["value"]
    return value


def _comparable(value: Any, like: Any) -> Any:
    if isinstance(like, bool):
        return value in (True, "true") if value is not None else False
    if isinstance(like, Decimal):
        try:
            return Decimal(str(value))
        except (InvalidOperation, ValueError):
            return None
    if isinstance(like, dt.datetime):
        return parse_timestamp(str(value)) if value else None
    return str(value).lower() if value is not None else None


def _literal(name: str, literal: Any) -> Any:
    if isinstance(literal, str) and (name.endswith("Time") or name.endswith("Updated")) and "T" in literal:
        return parse_timestamp(literal)
    return literal.lower() if isinstance(literal, str) else literal


def _matches(row: dict[str, Any], cond: tuple[str, str, Any]) -> bool:
    name, op, literal = cond
    if op == "in":
        wanted = [_literal(name, v) for v in literal]
        return _comparable(_field(row, name), wanted[0]) in wanted
    if op == "like":
        pattern = "^" + ".*".join(re.escape(p) for p in str(literal).lower().split("%")) + "$"
        got = _field(row, name)
        return got is not None and re.match(pattern, str(got).lower(), re.S) is not None
    want = _literal(name, literal)
    got = _comparable(_field(row, name), want)
    if got is None:
        return False
    ops: dict[str, Callable[[Any, Any], bool]] = {"=": lambda a, b: a == b, "<": lambda a, b: a < b,
                                                   ">": lambda a, b: a > b, "<=": lambda a, b: a <= b,
                                                   ">=": lambda a, b: a >= b}
    try:
        return ops[op](got, want)
    except TypeError:
        return False


def run(query: Query, rows: list[dict[str, Any]], *, name_list: bool) -> dict[str, Any]:
    """The ``QueryResponse`` body for ``rows`` (all rows of the entity)."""
    if name_list and not any(c[0] == "Active" for c in query.where):
        rows = [r for r in rows if r.get("Active", True) is not False]
    picked = [r for r in rows if all(_matches(r, c) for c in query.where)]
    if query.count:
        return {"totalCount": len(picked)}
    order = query.order or [("Id", False)]
    for name, desc in reversed(order):
        def key(r: dict[str, Any], name: str = name) -> Any:
            v = _field(r, name)
            if name == "Id" or (isinstance(v, str) and v.isdigit()):
                return (0, int(v), "")
            return (1, 0, str(v or "").lower())
        picked.sort(key=key, reverse=desc)
    page = picked[query.start - 1: query.start - 1 + query.max_results]
    if not page:
        return {}
    return {query.entity: page, "startPosition": query.start, "maxResults": len(page)}
