"""The connector kit's limiter: rolling windows, the daily count, concurrency, and pacing by the budgets the
service reports. Hypothesis generates request patterns; the limiter must never exceed a budget."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from connector_support import FakeRuntime
from hypothesis import given, settings
from hypothesis import strategies as st

from invoicebridge.core.connector import Budget, Limiter
from invoicebridge.core.errors import DailyLimitReached

gaps = st.lists(st.floats(min_value=0, max_value=30, allow_nan=False).map(lambda f: round(f, 3)), min_size=1,
                max_size=150)


def run(coro):
    return asyncio.run(coro)


@settings(max_examples=60, deadline=None)
@given(gaps=gaps, limit=st.integers(1, 10), window=st.sampled_from([1.0, 2.0, 60.0]))
def test_a_rolling_window_is_never_exceeded(gaps, limit, window):
    rt = FakeRuntime()
    limiter = Limiter(now=rt.now, sleep=rt.sleep, windows=[(limit, window)])
    starts: list[float] = []

    async def go():
        for gap in gaps:
            rt.advance(gap)
            async with limiter:
                starts.append(rt.now().timestamp())

    run(go())
    for i, t in enumerate(starts):
        assert sum(1 for s in starts[: i + 1] if s > t - window) <= limit


@settings(max_examples=40, deadline=None)
@given(holds=st.lists(st.integers(0, 5), min_size=1, max_size=30), concurrent=st.integers(1, 6))
def test_concurrency_is_never_exceeded(holds, concurrent):
    rt = FakeRuntime()
    limiter = Limiter(now=rt.now, sleep=rt.sleep, concurrent=concurrent)

    async def one(hold):
        async with limiter:
            for _ in range(hold):
                await asyncio.sleep(0)

    async def go():
        await asyncio.gather(*(one(h) for h in holds))

    run(go())
    assert limiter.max_in_flight <= concurrent and limiter.started == len(holds) and limiter.in_flight == 0


@settings(max_examples=60, deadline=None)
@given(gaps=gaps, budget=st.integers(1, 20), offset=st.floats(0, 59, allow_nan=False))
def test_pacing_by_reported_remaining_never_draws_a_refusal(gaps, budget, offset):
    """A service with fixed windows (starting at an unknown second) that reports what is left: a limiter with no
    budget of its own, only the service's readings, never sends a call over the budget."""
    rt = FakeRuntime()
    limiter = Limiter(now=rt.now, sleep=rt.sleep)
    counts: dict[int, int] = {}
    refused = 0

    def serve() -> float:
        nonlocal refused
        window = int((rt.now().timestamp() - offset) // 60)
        counts[window] = counts.get(window, 0) + 1
        if counts[window] > budget:
            refused += 1
        return float(max(0, budget - counts[window]))

    async def go():
        for gap in gaps:
            rt.advance(gap)
            async with limiter:
                limiter.observe([Budget("minute", serve(), window=60.0)])

    run(go())
    assert refused == 0


def test_a_steady_pace_through_fixed_windows_loses_no_window():
    """Calls one a second against a fixed window of 60 that starts at an unnamed second: once the limiter has seen
    a refill it waits only for the next one (a few seconds), not a whole minute after each spent reading."""
    rt = FakeRuntime()
    limiter = Limiter(now=rt.now, sleep=rt.sleep)
    counts: dict[int, int] = {}
    offset = 23.5

    async def go():
        for _ in range(400):
            rt.advance(1.0)
            async with limiter:
                window = int((rt.now().timestamp() - offset) // 60)
                counts[window] = counts.get(window, 0) + 1
                assert counts[window] <= 60
                limiter.observe([Budget("minute", 60 - counts[window], window=60.0)])

    run(go())
    assert sum(rt.sleeps) <= 60.0 + 5 * 1.0  # the first spent window costs up to a minute, later ones a second


def test_a_spent_daily_reading_refuses_until_utc_midnight_without_waiting():
    rt = FakeRuntime()
    limiter = Limiter(now=rt.now, sleep=rt.sleep)

    async def go():
        async with limiter:
            limiter.observe([Budget("day", 0, daily=True)])
        with pytest.raises(DailyLimitReached) as caught:
            async with limiter:
                pass
        return caught.value

    error = run(go())
    midnight = dt.datetime(2026, 11, 21, tzinfo=dt.timezone.utc)
    assert error.retry_after == (midnight - rt.now()).total_seconds() and rt.sleeps == []


@settings(max_examples=40, deadline=None)
@given(per_day=st.integers(1, 30), calls=st.integers(1, 60))
def test_the_daily_count_is_never_exceeded(per_day, calls):
    rt = FakeRuntime()
    limiter = Limiter(now=rt.now, sleep=rt.sleep, per_day=per_day)

    async def go():
        refused = 0
        for _ in range(calls):
            try:
                async with limiter:
                    pass
            except DailyLimitReached:
                refused += 1
        return refused

    refused = run(go())
    assert limiter.started == min(per_day, calls) and refused == max(0, calls - per_day)


def test_a_pause_holds_every_call_and_stop_for_day_refuses():
    rt = FakeRuntime()
    limiter = Limiter(now=rt.now, sleep=rt.sleep)

    async def go():
        limiter.pause(7)
        async with limiter:
            pass
        limiter.stop_for_day(100)
        with pytest.raises(DailyLimitReached):
            async with limiter:
                pass
        rt.advance(100)
        async with limiter:
            pass

    run(go())
    assert rt.sleeps == [7.0] and limiter.started == 2
