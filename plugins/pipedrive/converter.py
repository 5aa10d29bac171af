"""The wire format: cattrs structures for Pipedrive v2 payloads, and their assembly into a core ``Deal``.

Only the fields we use are declared; extra keys are ignored. A payload that does not fit (a string where a
number belongs, a missing id) raises :class:`RemoteValidationError` with cattrs' readable path of the problem.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Iterable

import attrs
import cattrs

from invoicebridge.core import money as m
from invoicebridge.core.errors import RemoteValidationError
from invoicebridge.core.model import (
    Address,
    Deal,
    DealDiscount,
    DealProduct,
    DiscountType,
    Organization,
    Person,
    TaxHandling,
)

from .i18n import _
from .fields import FieldSet, readable_custom_fields


@attrs.frozen
class WireAddress:
    value: str | None = None
    country: str | None = None
    admin_area_level_1: str | None = None
    admin_area_level_2: str | None = None
    locality: str | None = None
    sublocality: str | None = None
    route: str | None = None
    street_number: str | None = None
    subpremise: str | None = None
    postal_code: str | None = None

    def to_address(self) -> Address:
        street = " ".join(p for p in (self.street_number, self.route) if p)
        if not street and not self.locality:  # only the free text is known
            return Address.from_text(self.value or "") if self.value else Address(country=self.country or "")
        return Address(line1=street or (self.value or ""), line2=self.subpremise or self.sublocality or "",
                       city=self.locality or "", region=self.admin_area_level_1 or "",
                       postal_code=self.postal_code or "", country=self.country or "")


@attrs.frozen
class WireContact:
    value: str = ""
    primary: bool = False
    label: str | None = None


@attrs.frozen
class WireOrganization:
    id: int
    name: str = ""
    address: WireAddress | None = None
    custom_fields: dict | None = None


@attrs.frozen
class WirePerson:
    id: int
    name: str = ""
    emails: list[WireContact] = attrs.field(factory=list)
    phones: list[WireContact] = attrs.field(factory=list)
    custom_fields: dict | None = None


@attrs.frozen
class WireDealProduct:
    id: int
    deal_id: int
    name: str = ""
    product_id: int | None = None
    quantity: Decimal = Decimal(1)
    item_price: Decimal = Decimal(0)
    discount: Decimal = Decimal(0)
    discount_type: str = "percentage"
    tax: Decimal = Decimal(0)
    tax_method: str | None = None
    is_enabled: bool = True
    sum: Decimal | None = None
    comments: str | None = ""
    order_nr: int | None = None


@attrs.frozen
class WireDiscount:
    amount: Decimal
    type: str = "amount"
    description: str | None = None


@attrs.frozen
class WireDeal:
    id: int
    title: str = ""
    value: Decimal = Decimal(0)
    currency: str = "USD"
    status: str = "open"
    won_time: str | None = None
    org_id: int | None = None
    person_id: int | None = None
    owner_id: int | None = None
    pipeline_id: int | None = None
    stage_id: int | None = None
    custom_fields: dict | None = None


converter = cattrs.Converter(forbid_extra_keys=False)


def _decimal(value: Any, _: type) -> Decimal:
    if value is None:
        return Decimal(0)
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        raise ValueError(_("expected a number, got %(value)r") % {"value": value})
    return m.to_decimal(value)


converter.register_structure_hook(Decimal, _decimal)


def structure(payload: Any, cls: type, what: str) -> Any:
    try:
        return converter.structure(payload, cls)
    except Exception as exc:  # cattrs raises ClassValidationError groups; flatten them into one message
        problems = cattrs.transform_error(exc) if isinstance(exc, cattrs.BaseValidationError) else [str(exc)]
        raise RemoteValidationError(_("Pipedrive sent %(what)s we cannot read: %(problems)s") % {"what": what, "problems": "; ".join(problems)},
                                    backend="pipedrive", messages=problems) from None


def parse_time(value: str | None) -> dt.datetime | None:
    """v2 uses RFC 3339 (``...Z``); v1 uses ``YYYY-MM-DD HH:MM:SS`` in UTC. Both end up timezone-aware."""
    if not value:
        return None
    parsed = dt.datetime.fromisoformat(value.replace(" ", "T"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)


def line_total(product: DealProduct, tax_method: TaxHandling) -> Decimal:
    """What Pipedrive shows as a deal product's ``sum``: quantity × price less the discount, with the tax
    added on top for the exclusive method (inclusive and none leave it as is)."""
    gross = product.quantity * product.item_price
    if product.discount_type is DiscountType.PERCENTAGE:
        net = gross * (m.HUNDRED - product.discount) / m.HUNDRED
    else:
        net = gross - product.discount
    if tax_method is TaxHandling.EXCLUSIVE:
        net = net * (m.HUNDRED + product.tax_percent) / m.HUNDRED
    return m.money(net)


def products_total(deal: Deal) -> Decimal:
    """The enabled products' sums less the deal-level discounts (Pipedrive's deal value with products)."""
    lines = sum((line_total(p, deal.tax_method or TaxHandling.EXCLUSIVE) for p in deal.products if p.enabled), m.ZERO)
    off = m.ZERO
    for d in deal.discounts:
        off += m.money(lines * d.amount / m.HUNDRED) if d.type is DiscountType.PERCENTAGE else d.amount
    return m.money(lines - off)


TAX_METHODS = {"exclusive": TaxHandling.EXCLUSIVE, "inclusive": TaxHandling.INCLUSIVE, "none": TaxHandling.NO_TAX}


def to_organization(raw: dict, fields: FieldSet) -> Organization:
    w = structure(raw, WireOrganization, "an organization")
    return Organization(id=w.id, name=w.name, address=w.address.to_address() if w.address else Address(),
                        custom_fields=readable_custom_fields(w.custom_fields, "organization", fields))


def to_person(raw: dict, fields: FieldSet) -> Person:
    w = structure(raw, WirePerson, "a person")
    emails = tuple(e.value for e in w.emails if e.value)
    primary = next((e.value for e in w.emails if e.primary and e.value), "")
    phone = next((p.value for p in w.phones if p.primary and p.value), "") or next(
        (p.value for p in w.phones if p.value), "")
    return Person(id=w.id, name=w.name, emails=emails, primary_email=primary, phone=phone,
                  custom_fields=readable_custom_fields(w.custom_fields, "person", fields))


def to_deal_product(raw: dict, codes: dict[int, str]) -> DealProduct:
    w = structure(raw, WireDealProduct, "a deal product")
    return DealProduct(
        id=w.id, name=w.name, quantity=w.quantity, item_price=w.item_price, discount=w.discount,
        discount_type=DiscountType(w.discount_type), tax_percent=w.tax, enabled=w.is_enabled,
        code=codes.get(w.product_id, "") if w.product_id is not None else "",
        product_id="" if w.product_id is None else w.product_id, comments=w.comments or "")


def to_discount(raw: dict) -> DealDiscount:
    w = structure(raw, WireDiscount, "a deal discount")
    return DealDiscount(amount=w.amount, type=DiscountType(w.type), description=w.description or "Discount")


def deal_lines(products: Iterable[dict], discounts: Iterable[dict], codes: dict[int, str]) -> dict[str, Any]:
    """A deal's ``products``, ``discounts`` and ``tax_method`` (which its lines name) from the wire."""
    lines = sorted(products, key=lambda p: (p.get("order_nr") is None, p.get("order_nr") or 0, p.get("id", 0)))
    methods = {str(p["tax_method"]) for p in lines if p.get("tax_method")}
    # no product names one: the deal names none (the accounting backend's default applies); mixed: exclusive
    tax_method = TAX_METHODS.get(methods.pop(), TaxHandling.EXCLUSIVE) if len(methods) == 1 else \
        TaxHandling.EXCLUSIVE if methods else None
    return {"products": tuple(to_deal_product(p, codes) for p in lines), "tax_method": tax_method,
            "discounts": tuple(to_discount(d) for d in discounts)}


def to_deal(raw: dict, *, organization: Organization | None, person: Person | None, products: Iterable[dict],
            discounts: Iterable[dict], codes: dict[int, str], fields: FieldSet, url: str) -> Deal:
    w = structure(raw, WireDeal, f"deal {raw.get('id', '?') if isinstance(raw, dict) else '?'}")
    return Deal(
        id=w.id, title=w.title, value=w.value, currency=w.currency, status=w.status,
        won_time=parse_time(w.won_time) if w.status == "won" else None,
        organization=organization, person=person, **deal_lines(products, discounts, codes),
        custom_fields=readable_custom_fields(w.custom_fields, "deal", fields), url=url, source="pipedrive")
