"""Configuration, catalog, deal reads and search, and the preview of an invoice (read, map, validate)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, Mapping

import attrs

from .host import UseCaseBase
from .errors import InvoiceBridgeError, NotFound
from .mapping import MappingConfig, empty_optional_fields, map_deal

from .model import Capabilities, Catalog, CrmField, Deal, DealQuery, Role, TaxHandling
from .status import InvoiceStatus
from .totals import live_invoice_warning, live_invoices, settle, tax_rate_changes, value_difference
from .i18n import _, lazy_
from .results import DealSearch, Preview
from .inputs import apply_overrides, validate_against_catalog

CATALOG_TTL = dt.timedelta(minutes=5)
DEAL_VIEW_TTL = dt.timedelta(seconds=30)
SEARCH_LIMIT = 50
_LINK = re.compile(r"^(?:[a-z][a-z0-9+.-]*://|www\.|[a-z0-9-]+(?:\.[a-z0-9-]+)+/)", re.I)  # a pasted address


class PreviewMixin(UseCaseBase):
    # ---- configuration and catalog -------------------------------------------------------------------

    def mapping(self) -> MappingConfig:
        return MappingConfig.from_dict(self.store.get_mapping_data())

    def save_mapping(self, config: MappingConfig) -> None:
        self.store.set_mapping_data(config.to_dict())
        self.store.audit("settings", lazy_("Mapping saved"), data=config.to_dict())

    def _label(self, connection) -> str:
        try:
            return self.plugins.backend(connection.backend).label or connection.backend
        except InvoiceBridgeError:
            return connection.backend

    @property
    def crm(self):
        return self.runtime.connection(Role.CRM)

    @property
    def accounting(self):
        return self.runtime.connection(Role.ACCOUNTING)

    async def catalog(self, *, refresh: bool = False) -> Catalog:
        conn = self.accounting
        cached = self.runtime.cache.get(("catalog", conn.id))
        now = self.runtime.now()
        if cached and not refresh and now - cached[0] < CATALOG_TTL:
            return cached[1]
        catalog = await self.plugins.catalog(self.runtime, connection=conn)
        self.runtime.cache[("catalog", conn.id)] = (now, catalog)
        return catalog

    async def fields(self, *, refresh: bool = False) -> list[CrmField]:
        conn = self.crm
        cached = self.runtime.cache.get(("fields", conn.id))
        now = self.runtime.now()
        if cached and not refresh and now - cached[0] < CATALOG_TTL:
            return cached[1]
        fields = list(await self.plugins.list_fields(self.runtime, connection=conn))
        self.runtime.cache[("fields", conn.id)] = (now, fields)
        return fields

    # ---- preview -------------------------------------------------------------------------------------

    async def get_deal(self, deal_id: str) -> Deal:
        """The deal as the CRM has it now (what previews and creates use)."""
        deal = await self.plugins.get_deal(self.runtime, connection=self.crm, deal_id=str(deal_id))
        self.runtime.cache[("deal-view", str(deal_id))] = (self.runtime.now(), deal)
        return deal

    async def deal_for_display(self, deal_id: str, *, lines: bool = True) -> Deal:
        """The deal for a page view: a snapshot up to DEAL_VIEW_TTL old, dropped whenever a CRM webhook
        says the deal changed, so a busy deal page does not spend the CRM's rate limit on every view.
        ``lines=False`` (a page that shows the lines only when asked): the CRM may leave them unread
        (``Deal.unread_lines``) when reading them costs another call; a kept snapshot with its lines serves
        both."""
        cached = self._kept_view(("deal-view", str(deal_id)))
        if cached is not None:
            read_at, kept = cached
            if not lines or kept.unread_lines is None:
                return kept
            # kept without its lines: read them alone, the deal kept as it was read
            deal = await self.plugins.get_deal_lines(self.runtime, connection=self.crm, deal=kept)
            if deal.unread_lines is None:
                self.runtime.cache[("deal-view", str(deal_id))] = (read_at, deal)  # as old as the deal's own read
                return deal
        deal = await self.plugins.get_deal_for_display(self.runtime, connection=self.crm, deal_id=str(deal_id), lines=lines)
        self.runtime.cache[("deal-view", str(deal_id))] = (self.runtime.now(), deal)
        return deal

    def _kept_view(self, key: Any) -> tuple[dt.datetime, Any] | None:
        cached = self.runtime.cache.get(key)
        return cached if cached is not None and self.runtime.now() - cached[0] < DEAL_VIEW_TTL else None

    def kept_deal(self, deal_id: str) -> Deal | None:
        """The deal snapshot a page view would use now, or None when the next view reads the CRM (never kept,
        older than DEAL_VIEW_TTL, or dropped by a webhook). Reads nothing."""
        cached = self._kept_view(("deal-view", str(deal_id)))
        return cached[1] if cached is not None else None

    def kept_recent_deals(self) -> list[Deal] | None:
        """The dashboard's deals snapshot as the next view would use it, or None (see :meth:`kept_deal`)."""
        cached = self._kept_view("recent-deals")
        return cached[1] if cached is not None else None

    def forget_deal(self, deal_id: str) -> None:
        self.runtime.cache.pop(("deal-view", str(deal_id)), None)
        self.runtime.cache.pop("recent-deals", None)

    async def recent_deals(self, limit: int = 25) -> list[Deal]:
        """The CRM's latest deals for the dashboard: a snapshot kept like the deal page's, so every dashboard
        view does not spend CRM calls (any CRM webhook drops it)."""
        kept = self.kept_recent_deals()
        if kept is not None:
            return kept[:limit]
        conn = self.crm
        ids = await self.plugins.find_deals(self.runtime, connection=conn, query=DealQuery(status="", limit=limit))
        deals = list(await self.plugins.get_deals(self.runtime, connection=conn, deal_ids=[str(i) for i in ids][:limit]))
        self.runtime.cache["recent-deals"] = (self.runtime.now(), deals)
        return deals

    async def search_deals(self, text: str, limit: int = SEARCH_LIMIT) -> DealSearch:
        """Find a deal as a person asks for it: part of its title or organization's name, its number, or a link
        to it copied from the CRM (which names one deal: ``open_id``)."""
        query = " ".join(str(text or "").split())[:300]
        if not query:
            return DealSearch(query, problem=_("Type part of a deal's title or organization name, its number, or paste its link."))
        conn = self.crm
        if _LINK.match(query):
            try:
                deal_id = await self.plugins.deal_id_from_url(self.runtime, connection=conn, url=query)
            except NotFound as exc:
                return DealSearch(query, problem=exc.message)
            if deal_id is None:
                return DealSearch(query, problem=_("That is not a link to a deal in %(crm)s: open the deal there and copy "
                                                   "the address from the browser.") % {"crm": self._label(conn)})
            return DealSearch(query, open_id=str(deal_id))
        if query.isdigit() and query.isascii():
            return DealSearch(query, open_id=query)
        if len(query) < 2:
            return DealSearch(query, problem=_("Type at least two letters to search."))
        found = await self.plugins.search_deals(self.runtime, connection=conn, term=query, limit=limit)
        return DealSearch(query, deals=tuple(found)[:limit])

    def capabilities(self, connection=None) -> Capabilities:
        """What the (accounting) backend can do; the defaults when no plugin provides it any more."""
        return self.plugins.registry.capabilities(connection or self.runtime.maybe_connection(Role.ACCOUNTING))

    def _for_backend(self, config: MappingConfig) -> MappingConfig:
        """The mapping as the connected backend can take it: a status it has (no drafts: created awaiting payment;
        no approval step: never awaiting it). A line's default account is the catalog's (``map_lines``)."""
        caps = self.capabilities()
        changes: dict[str, Any] = {}
        if (config.status is InvoiceStatus.DRAFT and not caps.drafts) or \
                (config.status is InvoiceStatus.AWAITING_APPROVAL and not caps.approval_step):
            changes["status"] = InvoiceStatus.DRAFT if caps.drafts else InvoiceStatus.AWAITING_PAYMENT
        return attrs.evolve(config, **changes) if changes else config

    def _status_problems(self, status: InvoiceStatus) -> list[str]:
        caps = self.capabilities()
        if status is InvoiceStatus.DRAFT and not caps.drafts:
            return [_("The connected accounting system keeps no drafts: create the invoice as %(status)s") % {
                "status": InvoiceStatus.AWAITING_PAYMENT.label}]
        if status is InvoiceStatus.AWAITING_APPROVAL and not caps.approval_step:
            return [_("The connected accounting system has no approval step: create the invoice as %(status)s") % {
                "status": InvoiceStatus.AWAITING_PAYMENT.label if not caps.drafts else InvoiceStatus.DRAFT.label}]
        return []

    async def preview(self, deal_id: str, overrides: Mapping[str, Any] | None = None, *, deal: Deal | None = None) -> Preview:
        """Read, map and validate; raise :class:`MappingError` when the deal cannot be mapped at all."""
        if deal is None or deal.unread_lines is not None:  # a page's deal without its lines is read in full
            deal = await self.get_deal(deal_id)
        catalog = await self.catalog()
        fields = await self.fields()
        config = self._for_backend(self.mapping())
        mapped = settle(map_deal(deal, config, catalog, self.runtime.today(), fields,
                                 default_tax_handling=TaxHandling.parse(self.capabilities().default_tax_handling)), catalog)
        # Settled: every line carries the tax the accounting system will apply (an item's or account's default
        # when it names none), so draft.totals is what will be stored, to the cent.
        draft = settle(apply_overrides(mapped, overrides, catalog), catalog) if overrides else mapped
        problems = validate_against_catalog(draft, catalog)
        problems.extend(self._status_problems(draft.status))
        warnings = empty_optional_fields(deal, config, fields)
        for line in draft.line_items:
            if not line.item_code and any(p.code and p.name == line.description for p in deal.products):
                warnings.append(_("Line '%(description)s': no accounting item has the product's code; it is sent as free text")
                                % {"description": line.description})
        if config.use_products:
            warnings.extend(tax_rate_changes(deal, mapped, catalog))
        difference = value_difference(deal, draft, edited=draft.line_items != mapped.line_items)
        if difference:
            warnings.append(difference)
        live = live_invoices(self.store.invoices_for_deal(deal.id))
        if live:
            warnings.append(live_invoice_warning(live))
        return Preview(deal=deal, draft=draft, problems=tuple(problems), warnings=tuple(warnings), live_invoices=tuple(live))

