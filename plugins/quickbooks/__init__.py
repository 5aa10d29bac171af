"""QuickBooks Online as an accounting backend: a third-party plugin built on the public ``invoicebridge.core`` API.

Registered by the ``invoicebridge`` entry point ``quickbooks``. The sandbox (``sandbox*.py``) emulates the QBO v3
Accounting API for tests and the demo; the rest is the connector.
"""
