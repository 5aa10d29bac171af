"""The report of the bulk-throughput benchmarks (bench/throughput.py for Xero, bench/qbo_bulk.py for QuickBooks
Online): each workload's rows, its share of the ceiling, and the target line."""

from __future__ import annotations

from typing import Iterable


def share_of_ceiling(result: dict, ceiling: int) -> float:
    """Invoices created per simulated minute over the ceiling (1.0 = the ceiling)."""
    return result["created"] / result["minutes"] / ceiling


def workload_rows(label: str, result: dict, ceiling: int, *, calls: tuple[str, str], throttled: tuple[str, object],
                  extra: Iterable[tuple[str, object]] = ()) -> list[tuple[str, object]]:
    """A workload's rows: invoices created (``created``, ``failed``, ``minutes``), the calls made (``calls``: the
    row's name and text), invoices per simulated minute as a share of ``ceiling``, throttling (``throttled``: the
    row's name and value), the ``extra`` rows, and the wall time (``wall``)."""
    per_minute = result["created"] / result["minutes"]
    return [
        (f"{label}: invoices created",
         f"{result['created']} in {result['minutes']:.1f} simulated minutes ({result['failed']} failed)"),
        (f"{label}: {calls[0]}", calls[1]),
        (f"{label}: invoices per simulated minute",
         f"{per_minute:.0f} = {share_of_ceiling(result, ceiling):.1%} of the ceiling of {ceiling}"),
        (f"{label}: {throttled[0]}", throttled[1]),
        *((f"{label}: {name}", value) for name, value in extra),
        (f"{label}: wall time", f"{result['wall']:.1f} s"),
    ]


def target_row(target: str, met: bool) -> tuple[str, str]:
    return "target", f"{target}: {'MET' if met else 'NOT MET'}"
