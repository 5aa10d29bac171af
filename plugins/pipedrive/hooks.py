"""Hook implementations of the Pipedrive plugin (backend name ``pipedrive``, role CRM).

The CRM source itself is :class:`PipedriveSource` (``backend.py``); these are its registration, routes,
and sandbox. What it writes into deals (the reminder, notes) core composes and sends through the
source's primitives.
"""

from __future__ import annotations

from invoicebridge.core import hookimpl

from . import panel
from .backend import PipedriveSource


@hookimpl
def invoicebridge_register_backends(register):
    register(PipedriveSource)


@hookimpl
def invoicebridge_web_routes(runtime):
    return panel.routes(runtime)


@hookimpl
def invoicebridge_frame_ancestors(runtime):
    # Pipedrive shows app extensions from its own domain (company subdomains of pipedrive.com).
    return [(panel.PANEL_PATH, ["https://*.pipedrive.com"])]


@hookimpl
def invoicebridge_sandboxes(runtime):
    """The Pipedrive sandbox (the ``invoicebridge[sandbox]`` extra), one per runtime, seeded with demo deals."""
    key = ("pipedrive", "sandbox")
    sandbox = runtime.cache.get(key)
    if sandbox is None:
        from .sandbox_frame import PipedriveSandbox

        sandbox = runtime.cache[key] = PipedriveSandbox(clock=runtime.now)
        sandbox.seed()
    return [sandbox]


