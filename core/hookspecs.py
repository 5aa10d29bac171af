"""Hook specifications: how a plugin plugs in (its backends, routes, sandboxes, events). Declarations only.

A plugin is a module (or object) with functions marked ``@hookimpl`` whose names match these. It is found
through the ``invoicebridge`` entry-point group, the same way the built-in plugins are.

Conventions:

* Backends are objects, not hooks: ``invoicebridge_register_backends(register)`` hands core each backend's
  factory (see :mod:`invoicebridge.core.backends`), and core calls the instance bound to a connection.
* The hooks below are discovery, routes, sandboxes and events. Any of them may be ``async def`` or return an
  awaitable; the facade (:mod:`invoicebridge.core.plugins`) awaits it.
* ``runtime`` is a :class:`invoicebridge.core.runtime.Runtime`.
* Errors are raised as subclasses of :class:`invoicebridge.core.errors.BackendError`.
"""

from __future__ import annotations

from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("invoicebridge")


# ---- registration ----------------------------------------------------------------------------------


@hookspec
def invoicebridge_register_backends(register) -> None:
    """Call ``register(factory)`` for each backend this plugin provides: a
    :class:`invoicebridge.core.backends.BackendFactory` (``info``, ``open(connection, context)`` and the
    connect classmethods) whose instances are an :class:`AccountingBackend` or a :class:`CrmSource`. Core
    dispatches every backend call by ``connection.backend`` to the instance; no plugin answers for another's."""


@hookspec
def invoicebridge_web_routes(runtime) -> list:
    """Starlette routes the plugin contributes (webhook receivers, OAuth callbacks, in-CRM panels)."""


@hookspec
def invoicebridge_frame_ancestors(runtime) -> list:
    """``(path, sources)`` pairs: pages of yours under ``path`` that another site may show in a frame (an in-CRM
    panel), and the CSP ``frame-ancestors`` sources allowed to (e.g. ``https://*.example.com``). Every other
    page may not be framed at all."""


@hookspec
def invoicebridge_sandboxes(runtime) -> list:
    """Emulated remote APIs to mount in the demo, as :class:`~invoicebridge.core.sandboxes.Sandbox` objects
    (import sandbox modules only here: they ship in the ``invoicebridge[sandbox]`` extra)."""


# ---- events other plugins may react to -------------------------------------------------------------


@hookspec
def on_invoice_created(runtime, record, deal, invoice) -> Any:
    """An invoice was created for a deal (the CRM plugin adds the reminder activity and a note)."""


@hookspec
def on_invoice_status_changed(runtime, record, previous, current) -> Any:
    """An invoice's status changed (``previous`` and ``current`` are :class:`InvoiceStatus`)."""


@hookspec
def on_invoice_settled(runtime, record, reason: str) -> Any:
    """The invoice needs no more sending: ``reason`` is ``"emailed"`` (through the accounting system), ``"paid"``,
    ``"voided"`` or ``"deleted"``, whether by our own command, a webhook or the reconciliation poll. Close what was
    made to remind someone to send it (the CRM plugin marks its reminder activity done). May be called again
    for the same invoice after a crash or a failure: it must never complete anything twice, and raise when it
    could not finish (the core keeps it pending and calls again on the next sync)."""


@hookspec
def on_deal_won(runtime, deal_id: str) -> Any:
    """A deal was marked won in the CRM."""
