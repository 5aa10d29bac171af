"""Mapping: from a CRM :class:`Deal` to an :class:`InvoiceDraft`, by the user's :class:`MappingConfig`.

:func:`map_deal` is pure: the same deal, config, catalog and day give the same draft, or the same
:class:`MappingError` naming the deal, the invoice field and how to fix it.

Field references are ``<entity>.<field>`` with entity ``deal``, ``organization`` or ``person``, built-in
fields by name (``organization.name``, ``organization.address``, ``person.email``) and custom fields as
``<entity>.custom:<40-char key or field name>``.
"""

from __future__ import annotations

import calendar
import datetime as dt
import enum
import string
from decimal import Decimal
from typing import Any, Iterable, Mapping

import attrs
from attrs import field, frozen

from . import money as m
from .errors import MappingError
from .i18n import _, format_money, lazy_
from .model import (
    Address,
    Catalog,
    CrmField,
    Customer,
    Deal,
    DealProduct,
    DiscountType,
    InvoiceDraft,
    LineItem,
    TaxHandling,
)
from .status import InvoiceStatus, parse_status

ENTITIES = ("deal", "organization", "person")
INVOICE_FIELDS = {"to": lazy_("To"), "address": lazy_("Address"), "email": lazy_("Email"), "tax_number": lazy_("Tax number")}
ENTITY_LABELS = {"deal": lazy_("deal"), "organization": lazy_("organization"), "person": lazy_("person")}  # in a sentence
ENTITY_TITLES = {"deal": lazy_("Deal"), "organization": lazy_("Organization"), "person": lazy_("Person")}  # as a heading
BUILTIN_FIELDS = {
    "deal": ("id", "title", "value", "currency", "status", "owner_name"),
    "organization": ("name", "address", "id"),
    "person": ("name", "email", "phone", "id"),
}

BUILTIN_FIELD_LABELS = {  # built-in field names as a sentence reads them ("the organization's address")
    "id": lazy_("id"), "title": lazy_("title"), "value": lazy_("value"), "currency": lazy_("currency"),
    "status": lazy_("status"), "owner_name": lazy_("owner name"), "name": lazy_("name"), "address": lazy_("address"),
    "email": lazy_("email"), "phone": lazy_("phone"),
}


class DueDateKind(enum.Enum):
    DAYS_AFTER_INVOICE = "days_after_invoice"  # n days after the invoice date
    DAY_OF_FOLLOWING_MONTH = "day_of_following_month"  # day n of the next month
    DAYS_AFTER_END_OF_MONTH = "days_after_end_of_month"  # n days after the invoice month ends


@frozen
class DueDateRule:
    kind: DueDateKind = field(default=DueDateKind.DAYS_AFTER_INVOICE, converter=DueDateKind)
    days: int = field(default=14)

    @days.validator
    def _check(self, attribute: attrs.Attribute, value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(_("days is a whole number"))
        if self.kind is DueDateKind.DAY_OF_FOLLOWING_MONTH and not 1 <= value <= 31:
            raise ValueError(_("the day of the following month is between 1 and 31"))
        if not 0 <= value <= 3650:
            raise ValueError(_("days is between 0 and 3650"))

    def due(self, invoice_date: dt.date) -> dt.date:
        if self.kind is DueDateKind.DAYS_AFTER_INVOICE:
            return invoice_date + dt.timedelta(days=self.days)
        if self.kind is DueDateKind.DAY_OF_FOLLOWING_MONTH:
            year, month = (invoice_date.year + 1, 1) if invoice_date.month == 12 else (invoice_date.year, invoice_date.month + 1)
            return dt.date(year, month, min(self.days, calendar.monthrange(year, month)[1]))
        end = dt.date(invoice_date.year, invoice_date.month, calendar.monthrange(invoice_date.year, invoice_date.month)[1])
        return end + dt.timedelta(days=self.days)

    def describe(self) -> str:
        if self.kind is DueDateKind.DAYS_AFTER_INVOICE:
            return _("%(days)s days after the invoice date") % {"days": self.days}
        if self.kind is DueDateKind.DAY_OF_FOLLOWING_MONTH:
            return _("day %(days)s of the following month") % {"days": self.days}
        return _("%(days)s days after the end of the invoice month") % {"days": self.days}


DUE_DATE_KIND_LABELS = {  # what follows the number in the settings' due-date picker
    DueDateKind.DAYS_AFTER_INVOICE: lazy_("days after the invoice date"),
    DueDateKind.DAY_OF_FOLLOWING_MONTH: lazy_("day of the following month"),
    DueDateKind.DAYS_AFTER_END_OF_MONTH: lazy_("days after the end of the invoice month"),
}


# CRM field codes that mean one of our built-in fields (a CRM may list a person's "emails" and "phones").
BUILTIN_ALIASES = {"emails": "email", "phones": "phone", "email": "email", "phone": "phone"}


def mappable_ref(field: CrmField) -> str | None:
    """The reference a mapping stores for a CRM field, or None when the mapping cannot read that field."""
    if field.is_custom:
        return f"{field.entity}.custom:{field.key}"
    key = BUILTIN_ALIASES.get(field.key, field.key)
    return f"{field.entity}.{key}" if key in BUILTIN_FIELDS.get(field.entity, ()) else None


def _ref(value: str) -> str:
    value = (value or "").strip()
    if value:
        parse_ref(value)
    return value


def parse_ref(ref: str) -> tuple[str, str, bool]:
    """``"organization.custom:VAT number"`` → ``("organization", "VAT number", True)``."""
    entity, sep, rest = ref.partition(".")
    if not sep or entity not in ENTITIES or not rest:
        raise ValueError(_("'%(ref)s' is not a field reference; use e.g. organization.name or person.custom:<key>") % {"ref": ref})
    if rest.startswith("custom:"):
        name = rest[len("custom:") :].strip()
        if not name:
            raise ValueError(_("'%(ref)s' names no custom field") % {"ref": ref})
        return entity, name, True
    if rest not in BUILTIN_FIELDS[entity]:
        raise ValueError(_("'%(ref)s': %(entity)s has no built-in field '%(field)s'") % {"ref": ref, "entity": entity, "field": rest})
    return entity, rest, False


@frozen
class MappingConfig:
    """What fills each invoice field. Defaults are what CRM-to-accounting integrations commonly suggest."""

    to: str = field(default="organization.name", converter=_ref)
    address: str = field(default="organization.address", converter=_ref)
    email: str = field(default="person.email", converter=_ref)
    tax_number: str = field(default="", converter=_ref)
    due_date: DueDateRule = field(factory=DueDateRule)
    currency: str = field(default="", converter=lambda v: m.currency_code(v) if v else "")  # "": the deal's
    tax_handling: str = field(default="deal")  # "deal" (the deal's tax method), Exclusive, Inclusive or NoTax
    account_code: str = ""  # "": the accounting system's usual sales account (``Catalog.default_account_code``)
    tax_type: str = ""  # for the one-line invoice and when no tax rate matches a product's percentage
    branding_theme_id: str = ""
    reference_template: str = field(default="Deal {deal.id}: {deal.title}")
    use_products: bool = True  # lines from deal products; one line for the deal value when there are none
    status: InvoiceStatus = field(default=InvoiceStatus.DRAFT, converter=parse_status)

    @tax_handling.validator
    def _check_tax(self, attribute: attrs.Attribute, value: str) -> None:
        if value != "deal":
            TaxHandling.parse(value)

    @reference_template.validator
    def _check_template(self, attribute: attrs.Attribute, value: str) -> None:
        for name in _template_fields(value):
            if name not in TEMPLATE_FIELDS:
                raise ValueError(_("the reference template uses %(used)s; allowed: %(allowed)s")
                                 % {"used": f"{{{name}}}", "allowed": ", ".join(f"{{{n}}}" for n in TEMPLATE_FIELDS)})

    def to_dict(self) -> dict[str, Any]:
        return {
            "to": self.to,
            "address": self.address,
            "email": self.email,
            "tax_number": self.tax_number,
            "due_date": {"kind": self.due_date.kind.value, "days": self.due_date.days},
            "currency": self.currency,
            "tax_handling": self.tax_handling,
            "account_code": self.account_code,
            "tax_type": self.tax_type,
            "branding_theme_id": self.branding_theme_id,
            "reference_template": self.reference_template,
            "use_products": self.use_products,
            "status": self.status.value,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> "MappingConfig":
        data = dict(data or {})
        due = data.pop("due_date", None)
        known = {a.name for a in attrs.fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in known}
        if isinstance(due, Mapping):
            kwargs["due_date"] = DueDateRule(kind=due.get("kind", "days_after_invoice"), days=int(due.get("days", 14)))
        return cls(**kwargs)


TEMPLATE_FIELDS = ("deal.id", "deal.title", "deal.value", "deal.currency", "organization.name", "person.name")


def _template_fields(template: str) -> list[str]:
    try:
        return [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
    except ValueError as exc:
        raise ValueError(_("the reference template is not valid: %(error)s") % {"error": exc}) from None


def render_reference(template: str, deal: Deal) -> str:
    values = {
        "deal.id": deal.id,
        "deal.title": deal.title,
        "deal.value": str(deal.value),
        "deal.currency": deal.currency,
        "organization.name": deal.organization.name if deal.organization else "",
        "person.name": deal.person.name if deal.person else "",
    }
    out = []
    for literal, name, _spec, _conv in string.Formatter().parse(template):
        out.append(literal)
        if name is not None:
            out.append(values.get(name, ""))
    return "".join(out)[:255]


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


# ---- the mapping -------------------------------------------------------------------------------------


def field_label(ref: str, fields: Iterable[CrmField] = ()) -> str:
    """A reference as a person reads it: ``organization.custom:<hash>`` → ``VAT number``."""
    entity, name, custom = parse_ref(ref)
    if custom:
        key = _custom_key(entity, name, list(fields))
        return next((f.name for f in fields if f.entity == entity and f.is_custom and f.key == key), name)
    return str(BUILTIN_FIELD_LABELS.get(name, name.replace("_", " ")))


def _hint_for(field_name: str, ref: str, fields: Iterable[CrmField] = (), deal: Deal | None = None) -> str:
    """What a person can do about an empty mapped field; no "link an organization" when the deal has one."""
    entity = parse_ref(ref)[0]
    values = {"field": field_label(ref, fields), "label": INVOICE_FIELDS.get(field_name, field_name)}
    linked = deal is not None and getattr(deal, entity, None) is not None
    if entity == "organization":
        return (_("fill in the organization's %(field)s in the CRM, or map %(label)s to another field in Settings") if linked else
                _("link an organization to the deal, fill in its %(field)s, or map %(label)s to another field in Settings")) % values
    if entity == "person":
        return (_("fill in the contact person's %(field)s in the CRM, or map %(label)s to another field in Settings") if linked else
                _("link a contact person to the deal, fill in their %(field)s, or map %(label)s to another field in Settings")) % values
    return _("fill in the deal's %(field)s or map %(label)s to another field in Settings") % values


def map_customer(deal: Deal, config: MappingConfig, fields: Iterable[CrmField] = ()) -> Customer:
    fields = list(fields)
    name = as_text(resolve(deal, config.to, fields))
    if not name:
        entity = parse_ref(config.to)[0]
        if getattr(deal, entity, deal) is None:
            problem = _("has no %(entity)s, which fills the invoice's To") % {"entity": ENTITY_LABELS.get(entity, entity)}
        else:
            problem = _("has an empty %(entity)s %(field)s, which fills the invoice's To") % {
                "entity": ENTITY_LABELS.get(entity, entity), "field": field_label(config.to, fields)}
        raise MappingError(deal.id, "to", problem, _hint_for("to", config.to, fields, deal))
    if len(name) > 255:
        raise MappingError(deal.id, "to", _("the name in %(field)s is %(length)s characters; the limit is 255") % {
            "field": config.to, "length": len(name)}, _("shorten it in the CRM"))
    entity = parse_ref(config.to)[0]
    owner = {"organization": deal.organization, "person": deal.person}.get(entity)
    external_key = f"{deal.source or 'crm'}-{entity}-{owner.id}" if owner is not None else f"{deal.source or 'crm'}-deal-{deal.id}"
    return Customer(
        name=name,
        email=as_text(resolve(deal, config.email, fields)) if config.email else "",
        tax_number=as_text(resolve(deal, config.tax_number, fields)) if config.tax_number else "",
        address=as_address(resolve(deal, config.address, fields)) if config.address else Address(),
        external_key=external_key[:50],
    )


def map_deal(deal: Deal, config: MappingConfig, catalog: Catalog, today: dt.date, fields: Iterable[CrmField] = ()) -> InvoiceDraft:
    """Turn a deal into an invoice draft, or raise :class:`MappingError` saying which field and how to fix it."""
    customer = map_customer(deal, config, fields)
    lines = map_lines(deal, config, catalog)
    handling = deal.tax_method if config.tax_handling == "deal" else TaxHandling.parse(config.tax_handling)
    currency = config.currency or deal.currency
    draft = InvoiceDraft(
        deal_id=deal.id,
        customer=customer,
        line_items=tuple(lines),
        date=today,
        due_date=config.due_date.due(today),
        currency=currency,
        tax_handling=handling,
        reference=render_reference(config.reference_template, deal),
        branding_theme_id=config.branding_theme_id,
        url=deal.url,
        status=config.status,
    )
    if draft.totals.total < 0:
        raise MappingError(deal.id, "line_items", _("the invoice total would be %(total)s") % {
            "total": format_money(draft.totals.total, draft.currency)}, _("check the deal's discounts"))
    return draft


def empty_optional_fields(deal: Deal, config: MappingConfig, fields: Iterable[CrmField] = ()) -> list[str]:
    """Warnings for mapped fields that are empty on this deal (they are optional, but a person should know)."""
    fields = list(fields)
    out = []
    for name in ("email", "address", "tax_number"):
        ref = getattr(config, name)
        if not ref:
            continue
        value = resolve(deal, ref, fields)
        empty = as_address(value).is_empty if name == "address" else not as_text(value)
        if empty:
            entity = parse_ref(ref)[0]
            out.append(_("%(label)s is empty (%(entity)s → %(field)s); %(hint)s") % {
                "label": INVOICE_FIELDS[name], "entity": ENTITY_TITLES.get(entity, entity), "field": field_label(ref, fields),
                "hint": _hint_for(name, ref, fields, deal)})
    return out
