"""attrs converters and validators shared by the model's value classes (:mod:`invoicebridge.core.model`,
:mod:`invoicebridge.core.catalog`, :mod:`invoicebridge.core.exchange`)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Iterable, Mapping

import attrs

from . import money as m
from .i18n import _, format_number


def _freeze_mapping(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    from types import MappingProxyType

    return MappingProxyType(dict(value or {}))


def _non_negative(instance: Any, attribute: attrs.Attribute, value: Decimal) -> None:
    if value < 0:
        raise ValueError(_("%(field)s must not be negative, got %(value)s") % {"field": attribute.name, "value": format_number(value)})


def _percent(instance: Any, attribute: attrs.Attribute, value: Decimal | None) -> None:
    if value is not None and not (Decimal(0) <= value <= Decimal(100)):
        raise ValueError(_("%(field)s is a percentage between 0 and 100, got %(value)s") % {"field": attribute.name, "value": format_number(value)})


# Converters are named functions so the type checker's attrs support can read them (it can't a call or a classmethod).
def _blank(v: Any) -> bool:
    return v is None or v == ""


def _opt_decimal(v: Any) -> Decimal | None:
    return None if _blank(v) else m.to_decimal(v)


def _opt_money(v: Any) -> Decimal | None:
    return None if _blank(v) else m.money(v)


def _opt_unit_price(v: Any) -> Decimal | None:
    return None if _blank(v) else m.unit_price(v)


def _opt_date(v: Any) -> dt.date | None:
    return None if _blank(v) else _date(v)


def _tuple(values: Iterable[Any]) -> tuple[Any, ...]:
    return tuple(values)


def _str(v: Any) -> str:
    return "" if v is None else str(v)


def _date(v: Any) -> dt.date:
    if isinstance(v, dt.datetime):
        return v.date()
    if isinstance(v, dt.date):
        return v
    if isinstance(v, str):
        return dt.date.fromisoformat(v.strip()[:10])
    raise TypeError(_("%(value)r is not a date") % {"value": v})
