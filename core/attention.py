"""What the dashboard's "Needs attention" lists besides failed invoice requests: connections in error, drafts
waiting longer than the configured number of days, and overdue invoices. Each entry says what to do and where."""

from __future__ import annotations

import datetime as dt
from typing import Any, Iterable

import attrs

from . import i18n
from .model import Connection, InvoiceRecord
from .status import InvoiceStatus

DEFAULT_DRAFT_DAYS = 7


@attrs.frozen
class Attention:
    kind: str  # "connection", "draft" or "overdue"
    message: str  # what is wrong
    action: str  # what to do (the link's text)
    link: str  # where to do it


def draft_days(settings: dict[str, Any]) -> int:
    try:
        return max(0, int(settings.get("attention_draft_days", DEFAULT_DRAFT_DAYS)))
    except (TypeError, ValueError):
        return DEFAULT_DRAFT_DAYS


def connection_problems(rows: Iterable[tuple[Connection, str, str]]) -> list[Attention]:
    """``rows``: (connection, its backend's label, its last error). A connection whose health check failed, whose
    token was revoked or whose refresh failed is in error until it works again."""
    out = []
    for conn, label, last_error in rows:
        if conn.status != "error" and not last_error:
            continue
        out.append(Attention(
            kind="connection",
            message=i18n._("The %(backend)s connection is in error: %(error)s") % {
                "backend": label, "error": last_error or i18n._("its last check failed")},
            action=i18n._("Reconnect %(backend)s on the Connections page") % {"backend": label},
            link="/connections"))
    return out


def _created(record: InvoiceRecord) -> dt.datetime | None:
    try:
        stamp = dt.datetime.fromisoformat(record.created_at)
    except ValueError:
        return None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.timezone.utc)


def invoice_problems(records: Iterable[InvoiceRecord], *, now: dt.datetime, today: dt.date, days: int) -> list[Attention]:
    """Drafts older than ``days`` and overdue invoices (due date past, something still due, not voided or deleted)."""
    drafts, overdue = [], []
    limit = now - dt.timedelta(days=days)
    for r in records:
        name = r.number or i18n._("Draft invoice %(id)s") % {"id": r.id}
        link = f"/deals/{r.deal_id}#invoice-{r.id}"
        created = _created(r)
        if r.status is InvoiceStatus.DRAFT and created is not None and created < limit:
            drafts.append(Attention(
                kind="draft",
                message=i18n._("%(invoice)s for %(customer)s has been a draft since %(date)s") % {
                    "invoice": name, "customer": r.contact_name, "date": i18n.format_date(created.date())},
                action=i18n._("Approve and send it, or delete it"), link=link))
        elif not r.is_dead and r.due_date is not None and r.due_date < today and r.outstanding > 0:
            overdue.append(Attention(
                kind="overdue",
                message=i18n._("%(invoice)s for %(customer)s is overdue: %(amount)s was due on %(date)s") % {
                    "invoice": name, "customer": r.contact_name, "amount": i18n.format_money(r.outstanding, r.currency),
                    "date": i18n.format_date(r.due_date)},
                action=i18n._("Remind the customer or record the payment"), link=link))
    return drafts + overdue
