"""Hook implementations of the pipedrive plugin."""

from invoicebridge.core import BackendInfo, Role, hookimpl


@hookimpl
def invoicebridge_backends():
    return [BackendInfo(name="pipedrive", role=Role.CRM, label="Pipedrive")]
