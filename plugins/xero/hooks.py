"""Hook implementations of the xero plugin."""

from invoicebridge.core import BackendInfo, Role, hookimpl


@hookimpl
def invoicebridge_backends():
    return [BackendInfo(name="xero", role=Role.ACCOUNTING, label="Xero")]
