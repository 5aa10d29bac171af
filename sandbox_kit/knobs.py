"""The test knobs every sandbox offers over the kit's :class:`~.faults.Faults` and :class:`~.requestlog.RequestLog`.

A sandbox mixes :class:`SandboxKnobs` in and keeps its switches in ``self.faults`` and its log in ``self.log``;
tests then say ``sandbox.fail_next = [500]`` and read ``sandbox.requests`` the same way on every backend.
"""

from __future__ import annotations

from typing import Iterable

from .faults import Faults
from .requestlog import RequestLog


class SandboxKnobs:
    """``fail_next`` and ``requests`` over ``self.faults`` and ``self.log`` (which the sandbox creates)."""

    faults: Faults
    log: RequestLog

    @property
    def fail_next(self) -> list[int]:
        """Statuses (e.g. 500, 503) to answer before handling the next API calls, in order."""
        return self.faults.statuses

    @fail_next.setter
    def fail_next(self, statuses: Iterable[int]) -> None:
        self.faults.statuses = list(statuses)

    @property
    def requests(self) -> list[tuple[str, str]]:
        """(method, path) of every API call the sandbox was asked, oldest first."""
        return [(e.method, e.path) for e in self.log]
