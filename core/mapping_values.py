"""Reading a deal for the mapping: resolving field references to values, and the deal's products and
discounts as invoice lines. Re-exported by :mod:`invoicebridge.core.mapping`."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Iterable, Mapping

from . import money as m
from .errors import MappingError
from .i18n import _
from .mapping_config import MappingConfig, parse_ref
from .model import (
    Address,
    Catalog,
    CrmField,
    Deal,
    DealProduct,
    DiscountType,
    LineItem,
)

# ---- resolving field references ----------------------------------------------------------------------


def _custom_key(entity: str, name: str, fields: Iterable[CrmField]) -> str:
    """A custom field is named by key or by display name; return its key."""
    for f in fields:
        if f.entity == entity and f.is_custom and (f.key == name):
            return f.key
    matches = [f.key for f in fields if f.entity == entity and f.is_custom and f.name.strip().lower() == name.strip().lower()]
    return matches[0] if matches else name


def canonical_ref(ref: str, fields: Iterable[CrmField]) -> str:
    """A custom field named by its display name, as the reference by key (what the field pickers list)."""
    if not ref:
        return ref
    entity, name, custom = parse_ref(ref)
    return f"{entity}.custom:{_custom_key(entity, name, list(fields))}" if custom else ref


def resolve(deal: Deal, ref: str, fields: Iterable[CrmField] = ()) -> Any:
    """The raw value a reference points at in this deal, or None when absent."""
    entity, name, custom = parse_ref(ref)
    obj: Any = {"deal": deal, "organization": deal.organization, "person": deal.person}[entity]
    if obj is None:
        return None
    if custom:
        key = _custom_key(entity, name, list(fields))
        return obj.custom_fields.get(key)
    if name == "email":
        return obj.email
    return getattr(obj, name, None)


def as_text(value: Any) -> str:
    """A custom-field value as text: strings as they are, numbers plainly, ``{"value": …}`` by its value,
    option lists joined with commas."""
    if value is None:
        return ""
    if isinstance(value, Address):
        return value.one_line()
    if isinstance(value, Mapping):
        for key in ("formatted_address", "value", "label", "name"):
            if value.get(key) not in (None, ""):
                return as_text(value[key])
        return ""
    if isinstance(value, (list, tuple)):
        return ", ".join(t for t in (as_text(v) for v in value) if t)
    if isinstance(value, bool):
        return "Yes" if value else "No"
    return str(value).strip()


def as_address(value: Any) -> Address:
    if value is None:
        return Address()
    if isinstance(value, Address):
        return value
    if isinstance(value, Mapping):
        street = " ".join(p for p in (as_text(value.get("street_number")), as_text(value.get("route"))) if p)
        parts = Address(
            line1=street or as_text(value.get("subpremise")),
            city=as_text(value.get("locality")),
            region=as_text(value.get("admin_area_level_1")),
            postal_code=as_text(value.get("postal_code")),
            country=as_text(value.get("country")),
        )
        if not parts.is_empty:
            return parts
    return Address.from_text(as_text(value))


# ---- lines -------------------------------------------------------------------------------------------


def _line_from_product(p: DealProduct, config: MappingConfig, catalog: Catalog) -> LineItem:
    item = catalog.item(p.code)
    rate = catalog.tax_type_for_percent(p.tax_percent)
    tax_type = rate.tax_type if rate else (item.tax_type if item and item.tax_type else config.tax_type)
    pct = p.discount if p.discount_type is DiscountType.PERCENTAGE else None
    amount = p.discount if p.discount_type is DiscountType.AMOUNT else None
    description = p.name if not p.comments else f"{p.name}\n{p.comments}"
    return LineItem(
        description=description[:4000] or (item.description if item else "") or "Item",
        quantity=p.quantity,
        unit_amount=p.item_price,
        discount_rate=pct if pct else None,
        discount_amount=amount if amount else None,
        item_code=item.code if item else "",
        account_code=(item.account_code if item and item.account_code else _account(config, catalog)),
        tax_type=tax_type,
        tax_percent=p.tax_percent,
    )


def _account(config: MappingConfig, catalog: Catalog) -> str:
    """The account a line without an item's own goes to: the mapping's, else the accounting system's usual one."""
    return config.account_code or catalog.default_account_code


def _deal_discount_lines(deal: Deal, lines: list[LineItem], config: MappingConfig, catalog: Catalog) -> list[LineItem]:
    """Deal-level discounts as negative lines, one per tax group so the tax base shrinks correctly."""
    if not deal.discounts or not lines:
        return []
    groups: dict[tuple[str, Decimal], Decimal] = {}
    for line in lines:
        key = (line.tax_type, line.tax_percent)
        groups[key] = groups.get(key, m.ZERO) + line.line_amount
    base = sum(groups.values(), m.ZERO)
    out: list[LineItem] = []
    if base <= 0:
        return out
    left = base  # discounts never take the invoice below zero
    for discount in deal.discounts:
        asked = base * discount.amount / m.HUNDRED if discount.type is DiscountType.PERCENTAGE else discount.amount
        wanted = m.money(min(asked, left))
        left -= wanted
        remaining = wanted
        keys = list(groups)
        for i, key in enumerate(keys):
            share = remaining if i == len(keys) - 1 else m.money(wanted * groups[key] / base)
            remaining -= share
            if share == 0:
                continue
            label = discount.description or "Discount"
            if len(keys) > 1:
                label = f"{label} ({key[1].normalize():f}% tax)"
            out.append(
                LineItem(description=label, quantity=1, unit_amount=-share, account_code=_account(config, catalog), tax_type=key[0], tax_percent=key[1])
            )
    return out


def map_lines(deal: Deal, config: MappingConfig, catalog: Catalog) -> list[LineItem]:
    products = [p for p in deal.products if p.enabled] if config.use_products else []
    if products:
        lines = [_line_from_product(p, config, catalog) for p in products]
        return lines + _deal_discount_lines(deal, lines, config, catalog)
    if deal.value <= 0:
        raise MappingError(
            deal.id,
            "line_items",
            _("has no products and no value"),
            _("add products to the deal in the CRM or give the deal a value"),
        )
    rate = catalog.tax_rate(config.tax_type) if config.tax_type else None
    return [
        LineItem(
            description=deal.title or f"Deal {deal.id}",
            quantity=1,
            unit_amount=deal.value,
            account_code=_account(config, catalog),
            tax_type=config.tax_type,
            tax_percent=rate.rate if rate else 0,
        )
    ]
