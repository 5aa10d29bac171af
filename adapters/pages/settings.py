"""The Settings page: the field mapping, invoice defaults, reminders, automation and the language."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from invoicebridge.core import deal_fields
from invoicebridge.core.errors import InvoiceBridgeError
from invoicebridge.core.mapping import (BUILTIN_FIELD_LABELS, DUE_DATE_KIND_LABELS, DueDateRule, MappingConfig,
                                        TEMPLATE_FIELDS, BUILTIN_FIELDS, canonical_ref, mappable_ref)
from invoicebridge.core.i18n import LANGUAGE_NAMES, UnreadableNumber, _, parse_decimal, use_locale

from .. import account
from ..security import form_post, login_required
from .common import flash, render, state


@login_required
async def settings_page(request: Request) -> Response:
    pipeline = state(request).pipeline
    fields, catalog, problems = [], None, []
    try:
        fields = await pipeline.fields()
    except InvoiceBridgeError as exc:
        problems.append(_("CRM fields: %(error)s") % {"error": exc.message})
    try:
        catalog = await pipeline.catalog()
    except InvoiceBridgeError as exc:
        problems.append(_("Accounting lists: %(error)s") % {"error": exc.message})
    deal_field_choices = []
    try:
        deal_field_choices = await deal_fields.choices(pipeline)
    except InvoiceBridgeError as exc:
        problems.append(_("CRM deal fields: %(error)s") % {"error": exc.message})
    mapping = pipeline.mapping()
    shown = {name: canonical_ref(getattr(mapping, name), fields) for name in ("to", "address", "email", "tax_number")}
    choices: list[tuple[str, str, str]] = []  # (entity, ref, label) for every field the mapping can read, built-in and custom
    for f in fields:
        ref = mappable_ref(f)
        if ref and ref not in [c[1] for c in choices]:
            choices.append((f.entity, ref, _("%(field)s (custom)") % {"field": f.name} if f.is_custom else f.name))
    for entity, keys in BUILTIN_FIELDS.items():  # always readable, even before the CRM is connected
        for key in keys:
            if f"{entity}.{key}" not in [c[1] for c in choices]:
                label = str(BUILTIN_FIELD_LABELS.get(key, key.replace("_", " ")))
                choices.append((entity, f"{entity}.{key}", label[:1].upper() + label[1:]))
    return render(request, "settings.html", {
        "mapping": mapping, "shown": shown, "choices": choices, "settings": pipeline.store.get_settings(), "fields": fields, "catalog": catalog,
        "problems": problems, "due_kinds": [(k.value, str(text)) for k, text in DUE_DATE_KIND_LABELS.items()],
        "template_fields": TEMPLATE_FIELDS, "capabilities": pipeline.capabilities(), "deal_field_choices": deal_field_choices,
        **account.context(request),
    })


def _whole_number(raw: Any, default: int, field: Any, errors: list[str]) -> int | None:
    """A whole number typed in a settings field (grouping marks of the locale allowed); a refusal names the field."""
    try:
        value = parse_decimal(str(raw or "").strip() or str(default), field=str(field))
    except UnreadableNumber as exc:
        errors.append(str(exc))
        return None
    if value is None or value != value.to_integral_value():
        errors.append(_("%(field)s: write a whole number of days") % {"field": field})
        return None
    return int(value)


@form_post
async def save_settings(request: Request) -> Response:
    form = request.state.form
    pipeline = state(request).pipeline
    errors: list[str] = []
    config, days = None, _whole_number(form.get("due_days"), 14, _("Due date"), errors)
    try:
        config = MappingConfig(
            to=str(form.get("to") or ""), address=str(form.get("address") or ""), email=str(form.get("email") or ""),
            tax_number=str(form.get("tax_number") or ""),
            due_date=DueDateRule(kind=str(form.get("due_kind") or "days_after_invoice"), days=14 if days is None else days),
            currency=str(form.get("currency") or ""), tax_handling=str(form.get("tax_handling") or "deal"),
            account_code=str(form.get("account_code") or ""), tax_type=str(form.get("tax_type") or ""),
            branding_theme_id=str(form.get("branding_theme_id") or ""),
            reference_template=str(form.get("reference_template") or ""),
            status=str(form.get("status") or "DRAFT"),
        )
    except (ValueError, TypeError) as exc:
        errors.append(str(exc))
    reminder_days = _whole_number(form.get("reminder_due_days"), 3, _("Reminder"), errors)
    if reminder_days is not None and not 0 <= reminder_days <= 365:
        errors.append(_("The reminder is due in 0 to 365 days"))
    draft_days = _whole_number(form.get("attention_draft_days"), 7, _("Needs attention"), errors)
    if draft_days is not None and not 0 <= draft_days <= 365:
        errors.append(_("Drafts are listed after 0 to 365 days"))
    if not str(form.get("to") or "").strip():
        errors.append(_("To must be mapped to a field"))
    language = str(form.get("language") or "en")
    if language not in LANGUAGE_NAMES:
        errors.append(_("Language: choose one of %(languages)s") % {"languages": ", ".join(LANGUAGE_NAMES.values())})
    chosen_fields: dict[str, str] = {}
    try:
        chosen_fields = await deal_fields.validate(pipeline, {
            "invoice_number": str(form.get("deal_field_invoice_number") or ""),
            "invoice_status": str(form.get("deal_field_invoice_status") or "")})
    except InvoiceBridgeError as exc:
        errors.append(exc.message)
    if errors or config is None:
        flash(request, _("Settings not saved: %(problems)s") % {"problems": "; ".join(errors)}, "error")
        return RedirectResponse("/settings", status_code=303)
    await pipeline.store.writes.run(pipeline.save_mapping, config)
    await pipeline.store.writes.update_settings({
        "reminder_enabled": form.get("reminder_enabled") == "on",
        "reminder_due_days": reminder_days,
        "note_on_create": form.get("note_on_create") == "on",
        "note_on_status_change": form.get("note_on_status_change") == "on",
        "automation_draft_when_won": form.get("automation_draft_when_won") == "on",
        "attention_draft_days": draft_days,
        "language": language,
        **chosen_fields,
    })
    with use_locale(language):  # said in the language just chosen
        flash(request, _("Settings saved."))
    return RedirectResponse("/settings", status_code=303)


routes = [
    Route("/settings", settings_page),
    Route("/settings", save_settings, methods=["POST"]),
]
