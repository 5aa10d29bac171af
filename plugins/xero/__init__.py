"""The Xero plugin: an accounting backend for invoicebridge, and a Xero sandbox for tests and the demo.

Modules: ``config`` (app settings), ``auth`` (OAuth 2.0 and token refresh), ``client`` (the API client),
``converter`` / ``msdate`` (the wire format), ``errors`` (the one error boundary), ``retry`` and ``limiter``
(rate limits), ``translate`` (model <-> wire), ``operations`` (what each hook does), ``webhooks``
(signature checks), ``hooks`` (the hook implementations), and ``sandbox*`` (the emulator).
"""

from .config import BROAD_SCOPES, GRANULAR_SCOPES, XeroConfig, sandbox_config

__all__ = ["BROAD_SCOPES", "GRANULAR_SCOPES", "XeroConfig", "sandbox_config"]
