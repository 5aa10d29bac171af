"""Rate limits for sandboxes: fixed and rolling windows, a daily budget and a concurrency gate.

Each :class:`Window` counts per key (an organisation, a token, the whole app: the backend chooses), so a backend
composes the limits it documents and names its own headers from :meth:`Window.remaining`. Time comes from the
sandbox's clock, so limits hold in simulated time.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections import defaultdict, deque
from typing import Callable, Iterator

from attrs import define, field


@define
class Window:
    """At most ``limit`` units per ``seconds``; ``rolling`` counts the last ``seconds``, otherwise fixed windows
    aligned to the epoch (``seconds=86400`` is a UTC day)."""

    limit: int | None  # None: unlimited (still counted, so remaining stays meaningful)
    seconds: float
    rolling: bool = False
    _fixed: dict = field(factory=dict)  # key -> (window index, used)
    _events: dict = field(factory=lambda: defaultdict(deque))  # key -> deque of (moment, cost)

    def used(self, key: str, now: dt.datetime) -> int:
        if self.rolling:
            horizon = now - dt.timedelta(seconds=self.seconds)
            events = self._events[key]
            while events and events[0][0] <= horizon:
                events.popleft()
            return sum(cost for _, cost in events)
        index, used = self._fixed.get(key, (None, 0))
        return used if index == self._index(now) else 0

    def remaining(self, key: str, now: dt.datetime) -> int:
        return max(0, (self.limit if self.limit is not None else 0) - self.used(key, now))

    def would_exceed(self, key: str, now: dt.datetime, cost: int = 1) -> bool:
        return self.limit is not None and self.used(key, now) + cost > self.limit

    def charge(self, key: str, now: dt.datetime, cost: int = 1) -> None:
        if self.rolling:
            self.used(key, now)
            self._events[key].append((now, cost))
        else:
            self._fixed[key] = (self._index(now), self.used(key, now) + cost)

    def retry_after(self, key: str, now: dt.datetime) -> int:
        """Whole seconds until the window frees a unit (at least 1)."""
        if self.rolling:
            events = self._events[key]
            if not events:
                return 1
            free_at = events[0][0] + dt.timedelta(seconds=self.seconds)
            return max(1, int((free_at - now).total_seconds() + 0.999))
        end = (self._index(now) + 1) * self.seconds
        return max(1, int(end - now.timestamp() + 0.999))

    def reset(self, key: str | None = None) -> None:
        for store in (self._fixed, self._events):
            if key is None:
                store.clear()
            else:
                store.pop(key, None)

    def _index(self, now: dt.datetime) -> int:
        return int(now.timestamp() // self.seconds)


@define
class Concurrency:
    """At most ``limit`` requests in flight per key."""

    limit: int
    in_flight: dict = field(factory=lambda: defaultdict(int))

    def full(self, key: str) -> bool:
        return self.in_flight[key] >= self.limit

    @contextlib.contextmanager
    def hold(self, key: str) -> Iterator[None]:
        self.in_flight[key] += 1
        try:
            yield
        finally:
            self.in_flight[key] -= 1


@define
class Rejection:
    """A 429 the limiter answered: which limit (``problem``) and the seconds to wait, when known."""

    problem: str
    retry_after: int | None
    at: dt.datetime


@define
class Limiter:
    """Named windows checked in order; the first that would be exceeded rejects the request. ``forced`` lets a
    test make the next requests fail with a chosen problem. Rejected requests count too when
    ``count_rejected`` (some backends count every call)."""

    clock: Callable[[], dt.datetime]
    windows: dict[str, tuple[Window, Callable[[str], str]]] = field(factory=dict)  # name -> (window, key of scope)
    concurrency: Concurrency | None = None
    count_rejected: bool = False
    forced: list[Rejection] = field(factory=list)
    rejected: list[Rejection] = field(factory=list)

    def add(self, name: str, window: Window, key: Callable[[str], str] = lambda scope: scope) -> Window:
        self.windows[name] = (window, key)
        return window

    def force(self, problem: str, *, times: int = 1, retry_after: int | None = None) -> None:
        self.forced = [Rejection(problem, retry_after, self.clock()) for _ in range(times)]

    def check(self, scope: str, cost: int = 1) -> Rejection | None:
        """Charge ``cost`` for ``scope`` unless a limit refuses; the refusal (also recorded) or None."""
        now = self.clock()
        refusal: Rejection | None = None
        if self.forced:
            forced = self.forced.pop(0)
            refusal = Rejection(forced.problem, forced.retry_after, now)
        else:
            for name, (window, key) in self.windows.items():
                if window.would_exceed(key(scope), now, cost):
                    refusal = Rejection(name, window.retry_after(key(scope), now), now)
                    break
            if refusal is None and self.concurrency is not None and self.concurrency.full(scope):
                refusal = Rejection("concurrent", None, now)
        if refusal is None or self.count_rejected:
            for window, key in self.windows.values():
                window.charge(key(scope), now, cost)
        if refusal is not None:
            self.rejected.append(refusal)
        return refusal

    def remaining(self, name: str, scope: str) -> int:
        window, key = self.windows[name]
        return window.remaining(key(scope), self.clock())
