"""The user's mapping settings (:class:`MappingConfig`, :class:`DueDateRule`), field references and the
invoice reference template. Re-exported by :mod:`invoicebridge.core.mapping`."""

from __future__ import annotations

import calendar
import datetime as dt
import enum
import string
from typing import Any, Mapping

import attrs
from attrs import field, frozen

from . import money as m
from .i18n import _, lazy_
from .model import (
    CrmField,
    Deal,
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
