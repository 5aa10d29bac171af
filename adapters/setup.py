"""The first-run checklist on the dashboard: what is left to set up, in order, each step with its state and where
to do it. Shown until both sides (the CRM and the accounting system) are connected."""

from __future__ import annotations

from typing import Any

from invoicebridge.core.i18n import _
from invoicebridge.core.model import Role


def checklist(app_state: Any) -> list[dict[str, Any]]:
    """The steps as dicts (``key``, ``title``, ``detail``, ``done``, ``href``, ``link``); empty once the CRM and
    the accounting system are both connected."""
    runtime, plugins = app_state.runtime, app_state.plugins
    infos = plugins.backends()
    connected = {role: runtime.maybe_connection(role) for role in (Role.ACCOUNTING, Role.CRM)}
    if all(connected.values()):
        return []

    def label(role: Role) -> str:
        conn = connected[role]
        names = [i.label or i.name for i in infos if i.role == role and (conn is None or conn.backend == i.name)]
        return " / ".join(names) or (_("the accounting system") if role == Role.ACCOUNTING else _("the CRM"))

    def ready(info) -> bool:  # can be connected now: app credentials set, or an API token is offered
        conn = connected[info.role]
        return (conn is not None and conn.backend == info.name) or "token" in info.auth_methods \
            or bool(runtime.backend_config(info.name).get("client_id"))

    missing = [i for i in infos if "oauth" in i.auth_methods and not ready(i)]
    first_missing = missing[0].name if missing else ""
    accounting_name = next((i.name for i in infos if i.role == Role.ACCOUNTING), "")
    crm_name = next((i.name for i in infos if i.role == Role.CRM), "")
    return [
        {"key": "credentials", "done": not missing, "href": f"/connections#backend-{first_missing}" if missing else "/connections",
         "title": _("Set the app credentials, or use an API token"),
         "detail": (_("Missing for %(names)s: add the client ID and secret on the Connections page or in the environment.")
                    % {"names": ", ".join(i.label or i.name for i in missing)}) if missing else _("Every backend can be connected."),
         "link": _("Open Connections")},
        {"key": "accounting", "done": connected[Role.ACCOUNTING] is not None, "href": f"/connections#backend-{accounting_name}",
         "title": _("Connect %(name)s") % {"name": label(Role.ACCOUNTING)},
         "detail": _("The accounting system, where the invoices are created."), "link": _("Connect")},
        {"key": "crm", "done": connected[Role.CRM] is not None, "href": f"/connections#backend-{crm_name}",
         "title": _("Connect %(name)s") % {"name": label(Role.CRM)},
         "detail": _("The CRM, where the deals come from."), "link": _("Connect")},
        {"key": "mapping", "done": runtime.store.get_mapping_data() is not None, "href": "/settings",
         "title": _("Map the fields"), "detail": _("Choose which CRM fields fill the invoice: recipient, address, email, tax number."),
         "link": _("Open Settings")},
        {"key": "invoice", "done": bool(runtime.store.recent_invoices(1)), "href": "/#find-deal",
         "title": _("Create a first invoice"), "detail": _("Find a deal, open it and choose Create invoice."),
         "link": _("Find a deal")},
    ]
