"""Which deal fields receive the invoice's number and status (Settings, and the settings API): the choices are
the CRM's writable deal fields (``CrmField.writable``, capability ``deal_fields``); a choice is checked against
them when saved. The write-back itself is an outbox row (:mod:`.outbox`, kind ``crm_deal_field``)."""

from __future__ import annotations

from typing import Any, Mapping

from .crm_texts import DEAL_FIELD_SETTINGS
from .errors import NotConnected, ValidationProblem
from .i18n import _
from .model import CrmField, Role

NAMES = {"invoice_number": "deal_field_invoice_number", "invoice_status": "deal_field_invoice_status"}


def chosen(settings: Mapping[str, Any]) -> dict[str, str | None]:
    """The choice as the API shows it: ``{"invoice_number": key or None, "invoice_status": key or None}``."""
    return {name: (str(settings.get(setting) or "") or None) for name, setting in NAMES.items()}


async def choices(pipeline: Any) -> list[CrmField]:
    """The deal fields a person may choose; none when no CRM is connected or it cannot write deal fields."""
    conn = pipeline.runtime.maybe_connection(Role.CRM)
    if conn is None or not pipeline.capabilities(conn).deal_fields:
        return []
    return [f for f in await pipeline.fields() if f.entity == "deal" and f.writable]


async def validate(pipeline: Any, wanted: Mapping[str, Any]) -> dict[str, str]:
    """The settings to store for a choice (``NAMES`` keys, each a field key, or empty/None for none). An unknown
    name or field is refused (422)."""
    unknown = sorted(set(wanted) - set(NAMES))
    if unknown:
        raise ValidationProblem([_("Unknown setting: %(names)s") % {"names": ", ".join(unknown)}])
    values = {NAMES[name]: str(wanted.get(name) or "").strip() for name in NAMES if name in wanted}
    for name in NAMES:
        if name in wanted and wanted[name] is not None and not isinstance(wanted[name], str):
            raise ValidationProblem([_("%(name)s: give a field key as text, or null for none") % {"name": name}])
    current = pipeline.store.get_settings()  # a choice kept as it was is not checked again (the CRM may be away)
    if any(key and key != current.get(setting) for setting, key in values.items()):
        if pipeline.runtime.maybe_connection(Role.CRM) is None:
            raise NotConnected(_("Connect the CRM before choosing deal fields"))
        offered = {f.key: f for f in await choices(pipeline)}
        if not offered:
            raise ValidationProblem([_("The connected CRM cannot write deal fields")])
        problems = [_("%(field)s is not a text deal field of the CRM; choose one of: %(choices)s")
                    % {"field": key, "choices": ", ".join(f"{f.name} ({f.key})" for f in offered.values())}
                    for setting, key in values.items() if key and key not in offered and key != current.get(setting)]
        if problems:
            raise ValidationProblem(problems)
    return values


async def save(pipeline: Any, wanted: Mapping[str, Any]) -> dict[str, str | None]:
    """Check and store a choice (nothing is stored when it is refused); returns the choice now in force."""
    await pipeline.store.writes.update_settings(await validate(pipeline, wanted))
    return chosen(pipeline.store.get_settings())


__all__ = ["DEAL_FIELD_SETTINGS", "NAMES", "choices", "chosen", "save", "validate"]
