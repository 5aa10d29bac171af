"""What the use-case mixins (:mod:`.preview`, :mod:`.create`, :mod:`.outbox`, :mod:`.sync`, :mod:`.commands`, :mod:`.automation`)
may use of the :class:`~.pipeline.Pipeline` they are mixed into, for the type checker.

Each mixin derives from ``UseCaseBase``: :class:`PipelineHost` while type-checking, ``object`` at run time, so mypy knows
``self.store``, ``self.runtime``, ``self.plugins`` and the methods one mixin calls on another; the signatures here
must match the mixins' (mypy checks that they do where :class:`Pipeline` combines them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Collection, Iterable, Mapping, Protocol, Sequence

if TYPE_CHECKING:
    from .model import Capabilities, Connection, Deal, Invoice, InvoiceDraft, InvoiceRecord
    from .plugins import Plugins
    from .results import BulkItem, Preview
    from .runtime import Runtime
    from .status import InvoiceStatus
    from .store import Store


class PipelineHost(Protocol):
    runtime: Runtime
    plugins: Plugins
    store: Store

    @property
    def crm(self) -> Connection: ...

    @property
    def accounting(self) -> Connection: ...

    def capabilities(self, connection: Connection | None = None) -> Capabilities: ...

    def forget_deal(self, deal_id: str) -> None: ...

    def _label(self, connection: Connection) -> str: ...

    async def preview(self, deal_id: str, overrides: Mapping[str, Any] | None = None, *,
                      deal: Deal | None = None) -> Preview: ...

    async def create_invoice(self, deal_id: str, *, overrides: Mapping[str, Any] | None = None, key: str | None = None,
                             source: str = "api", allow_another: bool = True,
                             shown: Preview | None = None) -> InvoiceRecord: ...

    def _lease_expired(self, op: Mapping[str, Any]) -> bool: ...

    async def _holder_died(self, op: Mapping[str, Any]) -> bool: ...

    def stored_key(self, source: str, *parts: object, deal_id: str) -> str: ...

    async def apply_remote(self, record: InvoiceRecord, invoice: Invoice, *, source: str = "sync") -> InvoiceRecord: ...

    async def _retry_commands(self) -> None: ...

    async def _run_creates(self, keys: Sequence[str], *, deals: Mapping[str, Deal] | None = None,
                           confirmed: Collection[str] = frozenset()) -> list[BulkItem]: ...

    async def _find_created(self, ops: Sequence[tuple[str, InvoiceDraft]], results: dict[str, BulkItem],
                            deals: Mapping[str, Deal] | None) -> None: ...

    def _enqueue_created(self, record: InvoiceRecord, deal: Deal | None) -> None: ...

    def _enqueue_status(self, record: InvoiceRecord, previous: InvoiceStatus, current: InvoiceStatus) -> None: ...
    def _enqueue_deal_fields(self, record: InvoiceRecord, settings: Mapping[str, Any]) -> None: ...

    def _settle(self, record: InvoiceRecord, reason: str) -> None: ...

    async def drain_outbox(self, record_ids: Iterable[int] | None = None) -> int: ...

    async def _notify(self, event: str, **kwargs: Any) -> None: ...

    async def recover(self) -> int: ...

    async def deal_won(self, deal_id: str, *, fire: bool = True) -> InvoiceRecord | None: ...

    async def _retry_automation(self) -> None: ...


if TYPE_CHECKING:
    UseCaseBase = PipelineHost
else:
    UseCaseBase = object  # at run time the mixins are plain classes; Pipeline provides all of the above
