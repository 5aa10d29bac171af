"""QBO's throttles as the sandbox enforces them per realm (fact sheet §7): 500 requests a minute, 10 a second,
10 at once, 40 batch calls a minute. Fixed windows on the sandbox clock; ``force`` makes the next calls fail."""

from __future__ import annotations

import datetime as dt
from typing import Callable

PER_MINUTE, PER_SECOND, CONCURRENT, BATCH_PER_MINUTE = 500, 10, 10, 40


class Limits:
    def __init__(self, clock: Callable[[], dt.datetime]) -> None:
        self.clock = clock
        self.per_minute, self.per_second, self.concurrent, self.batch_per_minute = (
            PER_MINUTE, PER_SECOND, CONCURRENT, BATCH_PER_MINUTE)
        self.windows: dict[tuple[str, str], tuple[int, int]] = {}  # (realm, kind) -> (window index, count)
        self.in_flight: dict[str, int] = {}
        self.forced = 0
        self.rejected: list[tuple[dt.datetime, str]] = []  # (when, which limit) of each 429

    def force(self, times: int = 1) -> None:
        self.forced += times

    def _count(self, realm: str, kind: str, seconds: int) -> int:
        index = int(self.clock().timestamp() // seconds)
        window, count = self.windows.get((realm, kind), (index, 0))
        return count if window == index else 0

    def _charge(self, realm: str, kind: str, seconds: int) -> None:
        index = int(self.clock().timestamp() // seconds)
        self.windows[(realm, kind)] = (index, self._count(realm, kind, seconds) + 1)

    def admit(self, realm: str, *, batch: bool = False) -> str:
        """"" when the call may run (then :meth:`release` must follow), else which limit refused it."""
        problem = ""
        if self.forced:
            self.forced -= 1
            problem = "forced"
        elif self.in_flight.get(realm, 0) >= self.concurrent:
            problem = "concurrent"
        elif self._count(realm, "minute", 60) >= self.per_minute:
            problem = "minute"
        elif self._count(realm, "second", 1) >= self.per_second:
            problem = "second"
        elif batch and self._count(realm, "batch", 60) >= self.batch_per_minute:
            problem = "batch"
        if problem:
            self.rejected.append((self.clock(), problem))
            return problem
        self._charge(realm, "minute", 60)
        self._charge(realm, "second", 1)
        if batch:
            self._charge(realm, "batch", 60)
        self.in_flight[realm] = self.in_flight.get(realm, 0) + 1
        return ""

    def release(self, realm: str) -> None:
        self.in_flight[realm] = max(0, self.in_flight.get(realm, 0) - 1)
