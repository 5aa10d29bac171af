"""The rows of a console's "Recent webhook deliveries" block (``sandbox_deliveries.html``, given as ``deliveries``).

Each row is what was sent (``about``, in the plugin's words), every attempt's answer (an HTTP status, or the error's
name when no answer came) and whether it is done. :func:`delivery_rows` makes them from the kit's outbox items.
"""

from __future__ import annotations

from typing import Callable, Iterable

from attrs import field, frozen

from .outbox import Delivery


@frozen
class DeliveryRow:
    results: list[tuple[int, int | str]] = field(factory=list)  # (attempt, status or error name)
    done: bool = True
    about: str = ""


def delivery_rows(items: Iterable[Delivery], about: Callable[[Delivery], str] = lambda item: "", *,
                  last: int = 5) -> list[DeliveryRow]:
    """Rows for the ``last`` of a kit :class:`~.outbox.Delivery` list, oldest first (one not tried yet is pending)."""
    return [DeliveryRow(list(item.results), item.done, about(item)) for item in list(items)[-last:]]
