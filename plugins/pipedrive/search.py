"""Finding deals for a person typing in the search box: by title (and notes and custom fields) through
``searchDeals``, and by organization name through ``searchOrganization`` and then the organizations' deals. Also
reading the deal id out of a deal link copied from Pipedrive (``https://<company>.pipedrive.com/deal/42``).

Search requests cost 20 tokens each and the Search API allows 10 requests per 2 s (fact sheet §7.1), so one
search spends at most 2 searches and ``ORGANIZATIONS`` deal listings.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from invoicebridge.core.errors import NotFound
from invoicebridge.core.model import DealSummary

from .i18n import _
from .client import PipedriveClient
from .config import company_domain

ORGANIZATIONS = 3  # the best-matching organizations whose deals are listed too
_DEAL_PATH = re.compile(r"/deal/([^/]*)/?")


def _summary(item: dict, organization: str = "") -> DealSummary:
    org = item.get("organization") or {}
    person = item.get("person") or {}
    return DealSummary(id=item["id"], title=item.get("title") or "", organization=org.get("name") or organization,
                       person=person.get("name") or "", value=item.get("value"), currency=item.get("currency") or "",
                       status=item.get("status") or "")


async def search_deals(client: PipedriveClient, term: str, limit: int) -> list[DealSummary]:
    found: dict[int, DealSummary] = {}
    for hit in await client.search_deals(term, limit=max(1, min(limit, 100))):
        if not hit["item"].get("is_archived"):
            found.setdefault(hit["item"]["id"], _summary(hit["item"]))
    if len(found) < limit:
        for hit in (await client.search_organizations(term, limit=ORGANIZATIONS))[:ORGANIZATIONS]:
            org = hit["item"]
            for raw in await client.deals_of_organization(org["id"], limit=max(1, min(limit, 100))):
                if raw.get("is_deleted") or raw.get("is_archived"):
                    continue
                found.setdefault(raw["id"], _summary(raw, organization=org.get("name") or ""))
    return list(found.values())[:limit]


def deal_id_from_url(settings: Any, url: str) -> str | None:
    """The deal id in a Pipedrive deal link; None when the link is not Pipedrive's; :class:`NotFound` saying what
    is wrong for a Pipedrive link that is not to a deal of this company."""
    text = url.strip()
    parts = urlsplit(text if "://" in text else f"https://{text}")
    host = (parts.hostname or "").lower()
    if host != "pipedrive.com" and not host.endswith(".pipedrive.com"):
        return None
    own = company_domain(settings)
    own_host = f"{own}.pipedrive.com" if own else ""
    match = _DEAL_PATH.fullmatch(parts.path)
    if match is None:
        raise NotFound(_("That is not a link to a deal: Pipedrive deal links look like "
                         "https://%(host)s/deal/42.") % {"host": own_host or "your-company.pipedrive.com"})
    if own_host and host != own_host:
        raise NotFound(_("That deal link is for %(host)s, but this installation is connected to %(own)s. "
                         "Copy the link from your own Pipedrive company.") % {"host": host, "own": own_host})
    raw = match.group(1)
    if not (raw.isdigit() and raw.isascii()):
        raise NotFound(_("The deal link ends in %(id)s, which is not a deal number: Pipedrive deal links end "
                         "in the deal's number, like /deal/42.") % {"id": repr(raw)})
    return str(int(raw))
