"""Xero's invoice Status vocabulary and core's neutral statuses, both ways (fact sheet §4)."""

from __future__ import annotations

from invoicebridge.core.status import InvoiceStatus

S = InvoiceStatus
FROM_XERO: dict[str, InvoiceStatus] = {
    "DRAFT": S.DRAFT,
    "SUBMITTED": S.AWAITING_APPROVAL,
    "AUTHORISED": S.AWAITING_PAYMENT,
    "PAID": S.PAID,
    "VOIDED": S.VOIDED,
    "DELETED": S.DELETED,
}
TO_XERO: dict[InvoiceStatus, str] = {status: word for word, status in FROM_XERO.items()}


def from_xero(value: str | None) -> InvoiceStatus:
    """The neutral status of a Xero Status (an absent one is a draft); ValueError for a word Xero never sends."""
    word = str(value or "DRAFT").strip().upper()
    try:
        return FROM_XERO[word]
    except KeyError:
        raise ValueError(f"unknown Xero invoice status {value!r}") from None


def to_xero(status: InvoiceStatus) -> str:
    return TO_XERO[InvoiceStatus.parse(status)]
