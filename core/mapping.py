"""Mapping: from a CRM :class:`Deal` to an :class:`InvoiceDraft`, by the user's :class:`MappingConfig`.

:func:`map_deal` is pure: the same deal, config, catalog and day give the same draft, or the same
:class:`MappingError` naming the deal, the invoice field and how to fix it.

Field references are ``<entity>.<field>`` with entity ``deal``, ``organization`` or ``person``, built-in
fields by name (``organization.name``, ``organization.address``, ``person.email``) and custom fields as
``<entity>.custom:<40-char key or field name>``.
"""

from __future__ import annotations

import datetime as dt
from typing import Iterable


from .errors import MappingError
from .i18n import _, format_money
from .model import (
    Address,
    Catalog,
    CrmField,
    Customer,
    Deal,
    InvoiceDraft,
    TaxHandling,
)
from .mapping_config import (
    BUILTIN_ALIASES,
    BUILTIN_FIELD_LABELS,
    BUILTIN_FIELDS,
    DUE_DATE_KIND_LABELS,
    ENTITIES,
    ENTITY_LABELS,
    ENTITY_TITLES,
    INVOICE_FIELDS,
    TEMPLATE_FIELDS,
    DueDateKind,
    DueDateRule,
    MappingConfig,
    mappable_ref,
    parse_ref,
    render_reference,
)
from .mapping_values import _custom_key, as_address, as_text, canonical_ref, map_lines, resolve

__all__ = [  # the settings and value helpers live in mapping_config / mapping_values; this is their public path
    "BUILTIN_ALIASES", "BUILTIN_FIELDS", "BUILTIN_FIELD_LABELS", "DUE_DATE_KIND_LABELS", "ENTITIES", "ENTITY_LABELS",
    "ENTITY_TITLES", "INVOICE_FIELDS", "TEMPLATE_FIELDS", "DueDateKind", "DueDateRule", "MappingConfig",
    "MappingError", "as_address", "as_text", "canonical_ref", "empty_optional_fields", "field_label", "map_customer",
    "map_deal", "map_lines", "mappable_ref", "parse_ref", "render_reference", "resolve",
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


def map_deal(deal: Deal, config: MappingConfig, catalog: Catalog, today: dt.date, fields: Iterable[CrmField] = (), *,
             default_tax_handling: TaxHandling = TaxHandling.EXCLUSIVE) -> InvoiceDraft:
    """Turn a deal into an invoice draft, or raise :class:`MappingError` saying which field and how to fix it.
    ``default_tax_handling``: the accounting backend's, for a deal that names none when the mapping takes the deal's."""
    if deal.unread_lines is not None:
        raise ValueError(f"deal {deal.id} was read without its {deal.unread_lines} lines: read it in full to invoice it")
    customer = map_customer(deal, config, fields)
    lines = map_lines(deal, config, catalog)
    if config.tax_handling == "deal":
        handling = deal.tax_method or default_tax_handling
    else:
        handling = TaxHandling.parse(config.tax_handling)
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
