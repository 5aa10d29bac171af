"""The Xero wire format: attrs classes for the elements we read and write, and ONE cattrs converter.

Python names are snake_case; the converter renames them to Xero's (``invoice_id`` <-> ``InvoiceID``,
``updated_date_utc`` <-> ``UpdatedDateUTC``; identity endpoints use camelCase, token responses snake_case).
JSON is parsed with ``parse_float=Decimal`` so money never passes through float; MS-JSON and ISO dates go
through :mod:`.msdate`. Unknown keys are ignored; ``None`` fields are left out when sending.
Amounts are quantised by the caller (:mod:`.translate`) before they are unstructured, so the float that
``json`` writes is exactly the quantised decimal.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any, ClassVar, TypeVar, dataclass_transform

import attrs
import cattrs
from attrs import define
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from . import msdate

T = TypeVar("T")
_SPECIAL = {"id": "ID", "ids": "IDs", "utc": "UTC"}


def pascal(name: str) -> str:
    return "".join(_SPECIAL.get(p, p[:1].upper() + p[1:]) for p in name.split("_"))


def camel(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(p[:1].upper() + p[1:] for p in rest)


def wire_name(cls: type, name: str) -> str:
    style = getattr(cls, "__wire_style__", "pascal")
    return {"pascal": pascal, "camel": camel, "snake": lambda n: n}[style](name)


@dataclass_transform(kw_only_default=True, field_specifiers=(attrs.field,))  # what define(kw_only=True) makes
def _wire(cls: type[T]) -> type[T]:
    return define(kw_only=True)(cls)


@_wire
class ValidationError:
    message: str | None = None


@_wire
class Address:
    address_type: str | None = None
    address_line1: str | None = None
    address_line2: str | None = None
    city: str | None = None
    region: str | None = None
    postal_code: str | None = None
    country: str | None = None


@_wire
class Contact:
    contact_id: str | None = None
    contact_number: str | None = None
    contact_status: str | None = None
    name: str | None = None
    email_address: str | None = None
    tax_number: str | None = None
    addresses: list[Address] | None = None
    has_validation_errors: bool | None = None
    validation_errors: list[ValidationError] | None = None
    status_attribute_string: str | None = None


@_wire
class LineItem:
    line_item_id: str | None = None
    description: str | None = None
    quantity: Decimal | None = None
    unit_amount: Decimal | None = None
    item_code: str | None = None
    account_code: str | None = None
    tax_type: str | None = None
    tax_amount: Decimal | None = None
    line_amount: Decimal | None = None
    discount_rate: Decimal | None = None
    discount_amount: Decimal | None = None


@_wire
class Invoice:
    type: str | None = None
    invoice_id: str | None = None
    invoice_number: str | None = None
    reference: str | None = None
    url: str | None = None
    status: str | None = None
    contact: Contact | None = None
    line_items: list[LineItem] | None = None
    date: dt.date | None = None
    due_date: dt.date | None = None
    line_amount_types: str | None = None
    currency_code: str | None = None
    branding_theme_id: str | None = None
    sub_total: Decimal | None = None
    total_tax: Decimal | None = None
    total: Decimal | None = None
    amount_due: Decimal | None = None
    amount_paid: Decimal | None = None
    amount_credited: Decimal | None = None
    updated_date_utc: dt.datetime | None = None
    sent_to_contact: bool | None = None  # emailed to the customer (from Xero or through the API)
    has_errors: bool | None = None
    status_attribute_string: str | None = None
    validation_errors: list[ValidationError] | None = None


@_wire
class OnlineInvoice:
    online_invoice_url: str | None = None


@_wire
class Purchase:
    unit_price: Decimal | None = None
    account_code: str | None = None
    tax_type: str | None = None


@_wire
class Item:
    item_id: str | None = None
    code: str | None = None
    name: str | None = None
    description: str | None = None
    is_sold: bool | None = None
    sales_details: Purchase | None = None


@_wire
class TaxRate:
    name: str | None = None
    tax_type: str | None = None
    status: str | None = None
    effective_rate: Decimal | None = None
    display_tax_rate: Decimal | None = None
    can_apply_to_revenue: bool | None = None


@_wire
class Account:
    account_id: str | None = None
    code: str | None = None
    name: str | None = None
    type: str | None = None
    status: str | None = None
    tax_type: str | None = None
    # "Class" is a keyword in Xero's JSON and a poor attribute name in Python
    account_class: str | None = None


@_wire
class Currency:
    code: str | None = None
    description: str | None = None


@_wire
class BrandingTheme:
    branding_theme_id: str | None = None
    name: str | None = None
    sort_order: int | None = None


@_wire
class Organisation:
    organisation_id: str | None = None
    name: str | None = None
    base_currency: str | None = None
    short_code: str | None = None
    country_code: str | None = None


@_wire
class User:
    user_id: str | None = None
    email_address: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    is_subscriber: bool | None = None
    organisation_role: str | None = None


@_wire
class TenantConnection:
    __wire_style__: ClassVar[str] = "camel"
    id: str | None = None
    tenant_id: str | None = None
    tenant_type: str | None = None
    tenant_name: str | None = None
    auth_event_id: str | None = None


@_wire
class TokenSet:
    __wire_style__: ClassVar[str] = "snake"
    access_token: str | None = None
    refresh_token: str | None = None
    expires_in: int | None = None
    token_type: str | None = None
    scope: str | None = None
    id_token: str | None = None


_RENAMES: dict[tuple[type, str], str] = {(Account, "account_class"): "Class"}


def _decimal(value: Any, _: type) -> Decimal:
    if isinstance(value, bool):
        raise TypeError("a boolean is not an amount")
    return value if isinstance(value, Decimal) else Decimal(str(value))


def make_converter() -> cattrs.Converter:
    conv = cattrs.Converter(forbid_extra_keys=False)
    conv.register_structure_hook(Decimal, _decimal)
    conv.register_unstructure_hook(Decimal, float)
    conv.register_structure_hook(dt.datetime, lambda v, _: msdate.parse_datetime(v))
    conv.register_unstructure_hook(dt.datetime, lambda v: v.isoformat())
    conv.register_structure_hook(dt.date, lambda v, _: msdate.parse_date(v))
    conv.register_unstructure_hook(dt.date, lambda v: v.isoformat())

    def names(cls: type) -> dict[str, Any]:
        return {
            a.name: override(rename=_RENAMES.get((cls, a.name), wire_name(cls, a.name))) for a in attrs.fields(cls)
        }

    is_wire = lambda cls: attrs.has(cls) and cls.__module__ == __name__  # noqa: E731
    conv.register_structure_hook_factory(is_wire, lambda cls: make_dict_structure_fn(cls, conv, **names(cls)))
    conv.register_unstructure_hook_factory(
        is_wire, lambda cls: make_dict_unstructure_fn(cls, conv, _cattrs_omit_if_default=True, **names(cls))
    )
    return conv


converter = make_converter()


class WireFormatError(ValueError):
    """A Xero payload did not have the shape we expect; the message names the path of each problem."""


def structure(data: Any, cls: type[T]) -> T:
    try:
        return converter.structure(data, cls)
    except Exception as exc:  # cattrs raises ClassValidationError groups; make them one readable line
        if isinstance(exc, cattrs.BaseValidationError):
            detail = "; ".join(cattrs.transform_error(exc, path=cls.__name__))
        else:
            detail = str(exc)
        raise WireFormatError(f"Xero sent a {cls.__name__} we cannot read: {detail}") from exc


def structure_list(data: Any, cls: type[T]) -> list[T]:
    return [structure(item, cls) for item in (data or [])]


def unstructure(value: Any) -> Any:
    return converter.unstructure(value)


def loads(content: bytes | str) -> Any:
    """Parse JSON with decimals for non-integers (never float)."""
    return json.loads(content, parse_float=Decimal)


def dumps(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
