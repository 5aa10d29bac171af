"""Fault switches a test or the console flips: answer the next requests with a chosen status, or fail the next
deliveries. Each switch counts down and turns itself off."""

from __future__ import annotations

from attrs import define, field


@define
class Faults:
    statuses: list[int] = field(factory=list)  # answer the next API calls with these statuses, in order

    def fail_next(self, *statuses: int) -> None:
        self.statuses.extend(statuses)

    def take(self) -> int | None:
        """The status to answer instead of handling this call, or None."""
        return self.statuses.pop(0) if self.statuses else None

    def clear(self) -> None:
        self.statuses.clear()
