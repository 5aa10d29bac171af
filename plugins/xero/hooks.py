"""Hook implementations of the xero plugin: it registers :class:`XeroBackend` and mounts its sandbox."""

from __future__ import annotations

from invoicebridge.core import hookimpl

from .backend import XeroBackend


@hookimpl
def invoicebridge_register_backends(register):
    register(XeroBackend)


@hookimpl
def invoicebridge_sandboxes(runtime):
    """The Xero sandbox (the ``invoicebridge[sandbox]`` extra), one per runtime, seeded with the demo organisation."""
    key = ("xero", "sandbox")
    sandbox = runtime.cache.get(key)
    if sandbox is None:
        from .sandbox import create_sandbox

        sandbox = runtime.cache[key] = create_sandbox(clock=runtime.now, seed="demo")
    return [sandbox]
