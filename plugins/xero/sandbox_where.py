"""A small evaluator for Xero's ``where`` filter (fact sheet §5.1, §13.32), for the sandbox.

Supports ``==``, ``!=``, ``>``, ``<``, ``>=``, ``<=``, ``.Contains("x")``, ``.StartsWith``, ``.EndsWith``,
``&&``/``AND``, ``||``/``OR``, parentheses, strings with ``\\"`` escapes, ``GUID("…")``,
``DateTime(y, m, d)``, ``null``, ``true``/``false`` and numbers. String comparison ignores case.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any, Callable

_TOKEN = re.compile(
    r'\s*(?:(?P<str>"(?:[^"\\]|\\.)*")|(?P<op>==|!=|>=|<=|>|<|&&|\|\||\(|\)|,|\.)'
    r"|(?P<num>-?\d+(?:\.\d+)?)|(?P<word>[A-Za-z_][A-Za-z0-9_]*))"
)


class WhereError(ValueError):
    pass


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = text.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise WhereError(f"cannot parse where clause near {text[pos:pos + 20]!r}")
        kind = match.lastgroup or ""
        value = match.group(kind)
        if kind == "word" and value.upper() in ("AND", "OR"):
            kind, value = "op", "&&" if value.upper() == "AND" else "||"
        out.append((kind, value))
        pos = match.end()
    return out


def compile_where(text: str) -> Callable[[dict[str, Any]], bool]:
    tokens = _tokens(text)
    pos = 0

    def peek() -> tuple[str, str] | None:
        return tokens[pos] if pos < len(tokens) else None

    def take(value: str | None = None) -> tuple[str, str]:
        nonlocal pos
        token = peek()
        if token is None or (value is not None and token[1] != value):
            raise WhereError(f"expected {value or 'more'} in where clause {text!r}")
        pos += 1
        return token

    def literal() -> Any:
        kind, value = take()
        if kind == "str":
            return re.sub(r"\\(.)", r"\1", value[1:-1])
        if kind == "num":
            return Decimal(value)
        if kind == "word":
            upper = value.upper()
            if upper == "NULL":
                return None
            if upper in ("TRUE", "FALSE"):
                return upper == "TRUE"
            if upper == "GUID":
                take("(")
                inner = literal()
                take(")")
                return str(inner).lower()
            if upper == "DATETIME":
                take("(")
                parts = [int(literal())]
                while (nxt := peek()) and nxt[1] == ",":
                    take(",")
                    parts.append(int(literal()))
                take(")")
                return dt.date(*parts[:3])
        raise WhereError(f"unexpected {value!r} in where clause")

    def comparison() -> Callable[[dict[str, Any]], bool]:
        if (nxt := peek()) and nxt[1] == "(":
            take("(")
            inner = expr()
            take(")")
            return inner
        path = [take()[1]]
        while (nxt := peek()) and nxt[1] == "." and pos + 1 < len(tokens) and tokens[pos + 1][0] == "word":
            take(".")
            name = take()[1]
            if name in ("Contains", "StartsWith", "EndsWith") and (nxt := peek()) and nxt[1] == "(":
                take("(")
                arg = str(literal()).lower()
                take(")")
                fn = {"Contains": str.__contains__, "StartsWith": str.startswith, "EndsWith": str.endswith}[name]
                keys = list(path)
                return lambda row: isinstance(v := _lookup(row, keys), str) and fn(v.lower(), arg)
            path.append(name)
        _, op = take()
        value = literal()
        keys = list(path)
        return lambda row: _compare(_lookup(row, keys), op, value)

    def term() -> Callable[[dict[str, Any]], bool]:
        parts = [comparison()]
        while (nxt := peek()) and nxt[1] == "&&":
            take("&&")
            parts.append(comparison())
        return lambda row: all(p(row) for p in parts)

    def expr() -> Callable[[dict[str, Any]], bool]:
        parts = [term()]
        while (nxt := peek()) and nxt[1] == "||":
            take("||")
            parts.append(term())
        return lambda row: any(p(row) for p in parts)

    result = expr()
    if pos != len(tokens):
        raise WhereError(f"unexpected {tokens[pos][1]!r} in where clause {text!r}")
    return result


def _lookup(row: dict[str, Any], keys: list[str]) -> Any:
    value: Any = row
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = next((v for k, v in value.items() if k.lower() == key.lower()), None)
    return value


def _compare(left: Any, op: str, right: Any) -> bool:
    if isinstance(left, str):
        left = left.lower()
    if isinstance(right, str):
        right = right.lower()
    if isinstance(left, dt.datetime) and isinstance(right, dt.date) and not isinstance(right, dt.datetime):
        left = left.date()
    if op == "==":
        return left == right
    if op == "!=":
        return left != right
    if left is None or right is None:
        return False
    try:
        return {">": left > right, "<": left < right, ">=": left >= right, "<=": left <= right}[op]
    except TypeError:
        return False
