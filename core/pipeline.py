"""The use cases, written once against the plugin facade: preview, create (one or many), status commands,
sync (webhooks and reconciliation) and the automation on won deals.

:class:`Pipeline` is the one object the adapters hold; each use case lives in its own module
(:mod:`.preview`, :mod:`.create`, :mod:`.outbox`, :mod:`.sync`, :mod:`.automation`, input parsing in
:mod:`.inputs`, the answers in :mod:`.results`).
"""

from __future__ import annotations

from .automation import AutomationMixin
from .commands import CommandMixin
from .create import BULK_CHUNK, LEASE_SECONDS, CreateMixin
from .errors import IllegalTransition, InvoiceBridgeError
from .i18n import _
from .inputs import apply_overrides, line_from_input, validate_against_catalog
from .model import InvoiceRecord
from .opkeys import operation_key
from .outbox import OWNER_NAMESPACE, SETTLE_PENDING, SETTLED_REASONS, OutboxMixin
from .plugins import Plugins
from .preview import CATALOG_TTL, DEAL_VIEW_TTL, SEARCH_LIMIT, PreviewMixin
from .results import (
    SOURCES,
    AnotherInvoice,
    BulkItem,
    CreateRefused,
    DealSearch,
    OperationInProgress,
    Preview,
    SyncReport,
    request_hash,
    source_text,
    status_text,
)
from .runtime import Runtime
from .sync import SyncMixin

__all__ = [
    "BULK_CHUNK", "CATALOG_TTL", "DEAL_VIEW_TTL", "LEASE_SECONDS", "OWNER_NAMESPACE", "SEARCH_LIMIT",
    "SETTLED_REASONS", "SETTLE_PENDING", "SOURCES", "AnotherInvoice", "BulkItem", "CreateRefused", "DealSearch",
    "OperationInProgress", "Pipeline", "Preview", "SyncReport", "apply_overrides", "line_from_input", "operation_key",
    "request_hash", "source_text", "status_text", "validate_against_catalog",
]


class Pipeline(PreviewMixin, CreateMixin, OutboxMixin, SyncMixin, CommandMixin, AutomationMixin):
    def __init__(self, runtime: Runtime, plugins: Plugins) -> None:
        self.runtime = runtime
        self.plugins = plugins
        self.store = runtime.store
        runtime.plugins = plugins


    # ---- connections ---------------------------------------------------------------------------------

    async def check_connection(self, connection):
        """Ask the plugin whether a connection works; remember the remote user and role, or the error."""
        try:
            health = await self.plugins.check(self.runtime, connection=connection)
        except InvoiceBridgeError as exc:
            await self.store.writes.update_connection(connection.id, last_error=exc.message, status="error")
            raise
        settings = {"user_name": health.user.name, "user_role": health.user.role} if health.user else None
        await self.store.writes.update_connection(connection.id, settings=settings, last_error="" if health.ok else health.detail,
                                     status="active" if health.ok else "error")
        return health

    # ---- links ---------------------------------------------------------------------------------------

    async def pdf(self, invoice_id: int) -> tuple[InvoiceRecord, bytes]:
        record = self.store.get_invoice(int(invoice_id))
        return record, await self.plugins.invoice_pdf(self.runtime, connection=self.accounting, remote_id=record.remote_id)

    async def share_link(self, invoice_id: int) -> str:
        record = self.store.get_invoice(int(invoice_id))
        if record.status not in self.capabilities().share_link_statuses:
            raise IllegalTransition(invoice=record.number or str(record.id), status=record.status, command="share",
                                    reason=_("only approved invoices have an online link"))
        return await self.plugins.share_link(self.runtime, connection=self.accounting, remote_id=record.remote_id)

    async def deep_link(self, invoice_id: int) -> str:
        record = self.store.get_invoice(int(invoice_id))
        return await self.plugins.deep_link(self.runtime, connection=self.accounting, remote_id=record.remote_id)

