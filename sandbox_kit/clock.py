"""Simulated time for a sandbox and the client together, so an hour under a backend's limits runs in seconds.

``clock = SimulatedClock(scale=60)``: time passes 60 times faster than the wall clock, and every
``await clock.sleep(s)`` returns at once after moving the simulated clock forward to (at least) ``s`` seconds
later, so the waits the limiter and the retry policy ask for cost nothing real. ``scale=0`` stops time between
sleeps altogether (what tests want). Hand ``clock.now`` to a sandbox (it then
enforces its limits in simulated time) and ``clock.now``/``clock.sleep`` to the
:class:`~invoicebridge.core.runtime.Runtime`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time


def utcnow() -> dt.datetime:
    """The wall clock, timezone-aware: every sandbox's default clock."""
    return dt.datetime.now(dt.timezone.utc)


class SimulatedClock:
    def __init__(self, start: dt.datetime | None = None, *, scale: float = 0.0) -> None:
        self.start = start or dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.timezone.utc)
        self.scale = scale
        self._wall0 = time.monotonic()
        self._skipped = 0.0
        self.slept = 0.0  # total seconds asked for, for reports

    def elapsed(self) -> float:
        """Simulated seconds since ``start``."""
        return (time.monotonic() - self._wall0) * self.scale + self._skipped

    def now(self) -> dt.datetime:
        return self.start + dt.timedelta(seconds=self.elapsed())

    def advance(self, seconds: float) -> None:
        self._skipped += max(0.0, seconds)

    async def sleep(self, seconds: float) -> None:
        """Move time to ``seconds`` from now unless another sleeper already moved it further; let others run."""
        self.slept += max(0.0, seconds)
        target = self.elapsed() + max(0.0, seconds)
        self._skipped += max(0.0, target - self.elapsed())
        await asyncio.sleep(0)
