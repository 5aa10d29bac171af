"""Field definitions (built-in and custom) and readable custom-field values.

Custom fields are keyed by 40-character hashes that differ per company. A mapping may name a field by that
key or by its display name; :func:`find_field` resolves either. Enum and set values arrive as option ids and
are shown by label; monetary, address, date-range and time values become one readable string.
"""

from __future__ import annotations

from typing import Any, Iterable

import attrs

from invoicebridge.core.model import CrmField

from .i18n import _
from .errors import FieldNotFound

ENTITIES = ("deal", "organization", "person")
WRITABLE_TYPES = ("varchar", "text")  # custom deal fields set_deal_fields writes text into


@attrs.frozen
class FieldDef:
    entity: str
    key: str
    name: str
    type: str
    is_custom: bool
    options: dict = attrs.field(factory=dict)  # option id (as str) -> label

    @classmethod
    def from_wire(cls, entity: str, raw: dict) -> "FieldDef":
        options = {str(o.get("id")): str(o.get("label", "")) for o in (raw.get("options") or [])}
        return cls(entity=entity, key=str(raw.get("field_code", "")), name=str(raw.get("field_name", "")),
                   type=str(raw.get("field_type", "varchar")), is_custom=bool(raw.get("is_custom_field")),
                   options=options)

    def to_crm_field(self) -> CrmField:
        return CrmField(entity=self.entity, key=self.key, name=self.name, type=self.type,
                        is_custom=self.is_custom, options=self.options,
                        writable=self.entity == "deal" and self.is_custom and self.type in WRITABLE_TYPES)


@attrs.frozen
class FieldSet:
    """Every field definition of one company, per entity."""

    by_entity: dict = attrs.field(factory=dict)  # entity -> {key: FieldDef}

    def get(self, entity: str, key: str) -> FieldDef | None:
        return self.by_entity.get(entity, {}).get(key)

    def all(self) -> list[FieldDef]:
        return [f for entity in ENTITIES for f in self.by_entity.get(entity, {}).values()]

    def knows_all(self, entity: str, keys: Iterable[str]) -> bool:
        known = self.by_entity.get(entity, {})
        return all(k in known for k in keys)


def find_field(fields: FieldSet, entity: str, key_or_name: str) -> FieldDef:
    """The field a mapping names by 40-char key or display name (case-insensitive), or FieldNotFound."""
    wanted = key_or_name.strip()
    defs = fields.by_entity.get(entity, {})
    if wanted in defs:
        return defs[wanted]
    matches = [f for f in defs.values() if f.name.strip().lower() == wanted.lower()]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise FieldNotFound(_("Several Pipedrive %(entity)s fields are named '%(field)s'; map the field by its API key instead (%(keys)s)")
                            % {"entity": entity, "field": wanted, "keys": ", ".join(f.key for f in matches)}, entity=entity, field=wanted)
    raise FieldNotFound(_("The Pipedrive %(entity)s field '%(field)s' no longer exists (deleted or renamed); pick another field in "
                          "the invoice mapping") % {"entity": entity, "field": wanted}, entity=entity, field=wanted)


def readable(value: Any, field: FieldDef | None) -> Any:
    """A custom-field value a person can read: labels for enum and set, one string for compound values."""
    if value is None:
        return None
    ftype = field.type if field else ""
    options = field.options if field else {}
    if isinstance(value, dict) and "label" in value and "id" in value:  # include_option_labels=true
        return str(value["label"])
    if ftype == "enum":
        return options.get(str(value), str(value))
    if ftype == "set" or (isinstance(value, list) and options):
        items = value if isinstance(value, list) else str(value).split(",")
        return ", ".join(
            str(i["label"]) if isinstance(i, dict) and "label" in i else options.get(str(i).strip(), str(i).strip())
            for i in items)
    if isinstance(value, dict):
        if ftype == "monetary" or ("currency" in value and "value" in value):
            return f"{value.get('value')} {value.get('currency') or ''}".strip()
        if "until" in value:
            return f"{value.get('value')} – {value.get('until')}"
        if "value" in value:
            return "" if value["value"] is None else str(value["value"])
    return value


def readable_custom_fields(raw: dict | None, entity: str, fields: FieldSet) -> dict[str, Any]:
    return {key: readable(value, fields.get(entity, key)) for key, value in (raw or {}).items() if value is not None}
