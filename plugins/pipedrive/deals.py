"""Reading deals: one deal, many deals in batches, and the deals a bulk query selects.

Batches use v2 ``ids=`` for deals, organizations, persons and products and ``deal_ids=`` for deal products,
so reading 100 deals costs a handful of requests, not hundreds. Field definitions are cached per
connection and read again when a payload carries a custom-field key the cache does not know.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import attrs

from invoicebridge.core.model import Deal, DealQuery

from . import converter
from .client import PipedriveClient
from .config import company_domain
from .fields import ENTITIES, FieldDef, FieldSet
from .related import RelatedCache

CENT = Decimal("0.01")


def deal_url(settings: Any, deal_id: Any) -> str:
    domain = company_domain(settings)
    return f"https://{domain}.pipedrive.com/deal/{deal_id}" if domain else ""


def _cache_key(client: PipedriveClient) -> tuple:
    conn = client.connection
    return ("pipedrive", "fields", conn.id if conn is not None else client.base_url)


async def load_fields(client: PipedriveClient, *, refresh: bool = False) -> FieldSet:
    key = _cache_key(client)
    cached = client.runtime.cache.get(key)
    if cached is not None and not refresh:
        return cached
    by_entity: dict[str, dict[str, FieldDef]] = {}
    for entity in ENTITIES:
        defs = [FieldDef.from_wire(entity, raw) for raw in await client.fields(entity)]
        by_entity[entity] = {d.key: d for d in defs}
    fields = FieldSet(by_entity=by_entity)
    client.runtime.cache[key] = fields
    return fields


async def _fields_for(client: PipedriveClient, payloads: dict[str, list[dict]]) -> FieldSet:
    """Cached field definitions, read again once if a payload has a custom key we have not seen."""
    fields = await load_fields(client)
    for entity, items in payloads.items():
        keys = {k for item in items for k in (item.get("custom_fields") or {})}
        if not fields.knows_all(entity, keys):
            return await load_fields(client, refresh=True)
    return fields


async def _assemble(client: PipedriveClient, raw_deals: list[dict], products_by_deal: dict[int, list[dict]],
                    discounts_by_deal: dict[int, list[dict]], related: RelatedCache | None = None) -> list[Deal]:
    org_ids = [d.get("org_id") for d in raw_deals if d.get("org_id")]
    person_ids = [d.get("person_id") for d in raw_deals if d.get("person_id")]
    product_ids = {p.get("product_id") for lines in products_by_deal.values() for p in lines if p.get("product_id")}
    if related is not None:
        orgs = {o["id"]: o for o in await related.get("organization", org_ids, client.organizations)}
        persons = {p["id"]: p for p in await related.get("person", person_ids, client.persons)}
        products = await related.get("product", product_ids, client.products) if product_ids else []
    else:
        orgs = {o["id"]: o for o in await client.organizations(org_ids)}
        persons = {p["id"]: p for p in await client.persons(person_ids)}
        products = await client.products(product_ids) if product_ids else []
    codes = {p["id"]: p.get("code") or "" for p in products}
    fields = await _fields_for(client, {"deal": raw_deals, "organization": list(orgs.values()),
                                        "person": list(persons.values())})
    out = []
    for raw in raw_deals:
        org = orgs.get(raw.get("org_id"))
        person = persons.get(raw.get("person_id"))
        out.append(converter.to_deal(
            raw,
            organization=converter.to_organization(org, fields) if org else None,
            person=converter.to_person(person, fields) if person else None,
            products=products_by_deal.get(raw["id"], []), discounts=discounts_by_deal.get(raw["id"], []),
            codes=codes, fields=fields, url=deal_url(client.settings, raw["id"])))
    return out


async def read_deal(client: PipedriveClient, deal_id: str, related: RelatedCache | None = None, *,
                    lines: bool = True) -> Deal:
    """One deal: the deal, its lines when it has any (see :func:`may_have_lines`), its discounts when it may
    have any (see :func:`may_have_discounts`), and its organization, person and products' codes (from
    ``related`` when given: a page view). ``lines=False``: a deal whose ``products_count`` is above 0 is
    answered without its lines and discounts, the count in ``Deal.unread_lines`` (one call)."""
    raw = await client.deal(deal_id, include="products_count")
    count = raw.get("products_count")
    if not lines and isinstance(count, int) and not isinstance(count, bool) and count > 0:
        deal = (await _assemble(client, [raw], {}, {}, related))[0]
        return attrs.evolve(deal, unread_lines=count)
    products = await client.deal_products(deal_id) if may_have_lines(raw) else []
    discounts = await client.discounts(deal_id) if may_have_discounts(raw, products) else []
    return (await _assemble(client, [raw], {raw["id"]: products}, {raw["id"]: discounts}, related))[0]


async def read_lines(client: PipedriveClient, deal: Deal, related: RelatedCache | None = None) -> Deal:
    """``deal`` (read by :func:`read_deal` with ``lines=False``) with its lines, their products' codes and, when
    it may have any, its discounts: ``getDealProducts``, the deal itself not read again."""
    lines = await client.deal_products(deal.id)
    discounts = await client.discounts(deal.id) if may_have_discounts({"value": str(deal.value)}, lines) else []
    product_ids = {p.get("product_id") for p in lines if p.get("product_id")}
    if not product_ids:
        products = []
    elif related is not None:
        products = await related.get("product", product_ids, client.products)
    else:
        products = await client.products(product_ids)
    codes = {p["id"]: p.get("code") or "" for p in products}
    return attrs.evolve(deal, unread_lines=None, **converter.deal_lines(lines, discounts, codes))


async def read_deals(client: PipedriveClient, deal_ids: list[str]) -> list[Deal]:
    """Deals in the order asked; ids Pipedrive does not return (deleted, invisible) are left out."""
    deal_ids = [str(i) for i in deal_ids if str(i).isdigit()]  # anything else is no Pipedrive deal: left out
    if not deal_ids:
        return []
    raw = {d["id"]: d for d in await client.deals(deal_ids)}
    found = [raw[int(i)] for i in dict.fromkeys(deal_ids) if int(i) in raw]
    products: dict[int, list[dict]] = {}
    for line in await client.deals_products([str(d["id"]) for d in found]):
        products.setdefault(line["deal_id"], []).append(line)
    discounts = {d["id"]: await client.discounts(str(d["id"])) for d in found
                 if may_have_discounts(d, products.get(d["id"], []))}
    return await _assemble(client, found, products, discounts)


def may_have_lines(raw_deal: dict) -> bool:
    """Whether a deal read with ``include_fields=products_count`` (v2 spec ``getDeal``) may have lines: only a
    count of exactly 0 says it has none (a deal read without the count, or any other answer, is read in full).

    No Pipedrive read returns a deal with its lines (v2 dropped ``related_objects``, fact sheet §2.3; the v1
    ``getDeal`` that had them is gone from the v1 spec, and its ``related_objects`` held no products either), so
    a deal with products costs this read and ``getDealProducts``; one without costs this read only."""
    count = raw_deal.get("products_count")
    return not (isinstance(count, int) and not isinstance(count, bool) and count == 0)


def may_have_discounts(raw_deal: dict, lines: list[dict]) -> bool:
    """Whether a deal may carry deal-level discounts, which have no batch read (one request per deal).

    With products, Pipedrive's deal value is the enabled lines' sums less those discounts [derived, fact
    sheet §3.4], so a value equal to the lines' sum means there are none to read; without products there is
    nothing for them to apply to. Anything else (a value set by hand, a discount) is read, also when every line
    is disabled (their sum is 0; a discount still takes the value below it)."""
    if not lines:
        return False
    enabled = [line for line in lines if line.get("is_enabled", True)]
    try:
        total = sum((Decimal(str(line.get("sum") or 0)) for line in enabled), Decimal(0))
        value = Decimal(str(raw_deal.get("value") or 0))
    except ArithmeticError:
        return True
    return total.quantize(CENT) != value.quantize(CENT)


def _won_date(raw: dict) -> dt.date | None:
    parsed = converter.parse_time(raw.get("won_time"))
    return parsed.date() if parsed else None


async def find_deal_ids(client: PipedriveClient, query: DealQuery) -> list[str]:
    if query.ids:
        found = {str(d["id"]) for d in await client.deals(list(query.ids))}
        ids = [i for i in query.ids if i in found]
        return ids[: query.limit] if query.limit else ids
    params: dict[str, Any] = {}
    if query.status:
        params["status"] = query.status
    if query.pipeline_id:
        params["pipeline_id"] = int(query.pipeline_id)
    if query.stage_id:
        params["stage_id"] = int(query.stage_id)
    if query.won_from:  # a deal is updated when it is won, so this only narrows the listing
        params["updated_since"] = f"{query.won_from.isoformat()}T00:00:00Z"
    ids = []
    for raw in await client.find_deals(params):
        if query.won_from or query.won_to:
            won = _won_date(raw)
            if won is None or (query.won_from and won < query.won_from) or (query.won_to and won > query.won_to):
                continue
        ids.append(str(raw["id"]))
        if query.limit and len(ids) >= query.limit:
            break
    return ids
