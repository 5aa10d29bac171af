"""Our own stored form of model objects (operation payloads): cattrs with Decimal and date as strings."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, TypeVar

import cattrs

from .model import InvoiceDraft

T = TypeVar("T")

converter = cattrs.Converter()
converter.register_unstructure_hook(Decimal, str)
converter.register_structure_hook(Decimal, lambda v, _: Decimal(str(v)))
converter.register_unstructure_hook(dt.date, lambda d: d.isoformat())
converter.register_structure_hook(dt.date, lambda v, _: dt.date.fromisoformat(v))
converter.register_unstructure_hook(dt.datetime, lambda d: d.isoformat())
converter.register_structure_hook(dt.datetime, lambda v, _: dt.datetime.fromisoformat(v))


def dump(obj: Any) -> Any:
    return converter.unstructure(obj)


def load(data: Any, cls: type[T]) -> T:
    try:
        return converter.structure(data, cls)
    except Exception as exc:  # a stored payload from an older version, or hand-edited
        messages = cattrs.transform_error(exc) if isinstance(exc, cattrs.BaseValidationError) else [str(exc)]
        raise ValueError(f"stored {cls.__name__} is not readable: " + "; ".join(messages)) from None


def dump_draft(draft: InvoiceDraft) -> dict[str, Any]:
    return dump(draft)


def load_draft(data: Any) -> InvoiceDraft:
    return load(data, InvoiceDraft)
