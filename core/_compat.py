"""Small helpers shared by the core and its test kits."""

from __future__ import annotations

import inspect
from typing import Any


async def maybe_await(value: Any) -> Any:
    """``value``, awaited when it is awaitable (a backend method may be plain or ``async``)."""
    return await value if inspect.isawaitable(value) else value
