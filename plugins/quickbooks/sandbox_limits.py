"""QBO's throttles as the sandbox enforces them per realm (fact sheet §7), on the emulator kit's limiter: 500
requests a minute, 10 a second and 10 at once, and 40 batch calls a minute (a second limiter, asked by batch
calls only). Fixed windows on the sandbox clock; ``force`` makes the next calls fail."""

from __future__ import annotations

import datetime as dt
from typing import Any, Callable

from invoicebridge.sandbox_kit import Concurrency, Limiter, Window

PER_MINUTE, PER_SECOND, CONCURRENT, BATCH_PER_MINUTE = 500, 10, 10, 40


class Limits:
    def __init__(self, clock: Callable[[], dt.datetime]) -> None:
        self.limiter = Limiter(clock=clock, concurrency=Concurrency(CONCURRENT))
        self.limiter.add("minute", Window(PER_MINUTE, 60))
        self.limiter.add("second", Window(PER_SECOND, 1))
        self.batches = Limiter(clock=clock)
        self.batches.add("batch", Window(BATCH_PER_MINUTE, 60))

    @property
    def per_minute(self) -> int | None:
        return self.limiter.windows["minute"][0].limit

    @per_minute.setter
    def per_minute(self, value: int) -> None:
        self.limiter.windows["minute"][0].limit = value

    @property
    def rejected(self) -> list[tuple[dt.datetime, str]]:
        return sorted(((r.at, r.problem) for r in [*self.limiter.rejected, *self.batches.rejected]), key=lambda x: x[0])

    def force(self, times: int = 1) -> None:
        self.limiter.force("forced", times=times)

    def admit(self, realm: str, *, batch: bool = False) -> str:
        """"" when the call may run (inside :meth:`hold`), else which limit refused it."""
        refusal = self.limiter.check(realm)
        if refusal is None and batch:
            refusal = self.batches.check(realm)
        return refusal.problem if refusal is not None else ""

    def hold(self, realm: str) -> Any:
        concurrency = self.limiter.concurrency
        assert concurrency is not None  # built with max_in_flight
        return concurrency.hold(realm)
