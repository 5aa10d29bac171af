"""Hook implementations of the quickbooks plugin: it registers :class:`QuickBooksBackend` and offers its sandbox."""

from __future__ import annotations

from invoicebridge.core import hookimpl

from .backend import QuickBooksBackend

NAME = "quickbooks"


@hookimpl
def invoicebridge_register_backends(register):
    register(QuickBooksBackend)


@hookimpl
def invoicebridge_sandboxes(runtime):
    """The QBO sandbox (the ``invoicebridge[sandbox]`` extra), one per runtime, seeded with the demo company."""
    key = (NAME, "sandbox")
    sandbox = runtime.cache.get(key)
    if sandbox is None:
        from .sandbox import create_sandbox

        sandbox = runtime.cache[key] = create_sandbox(clock=runtime.now, seed="demo")
    return [sandbox]
