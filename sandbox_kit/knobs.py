"""The test knobs every sandbox offers over the kit's :class:`~.faults.Faults` and :class:`~.requestlog.RequestLog`.

A sandbox mixes :class:`SandboxKnobs` in and keeps its switches in ``self.faults`` and its log in ``self.log``;
tests then say ``sandbox.fail_next = [500]`` and read ``sandbox.requests`` the same way on every backend.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Callable, Iterable, overload

from .faults import Faults
from .requestlog import Entry, RequestLog


class RequestView(Sequence):
    """A live, read-only view of a request log as tuples (``project`` makes one from an entry): a test may keep
    it and read what came in since, and compare it with a list."""

    def __init__(self, log: RequestLog, project: Callable[[Entry], tuple]) -> None:
        self.log, self.project = log, project

    def __len__(self) -> int:
        return len(self.log)

    @overload
    def __getitem__(self, index: int) -> tuple: ...
    @overload
    def __getitem__(self, index: slice) -> list[tuple]: ...
    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self.project(e) for e in self.log.entries[index]]
        return self.project(self.log.entries[index])

    def __eq__(self, other: object) -> bool:
        return list(self) == list(other) if isinstance(other, (list, tuple, RequestView)) else NotImplemented

    def __repr__(self) -> str:
        return repr(list(self))


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
    def requests(self) -> RequestView:
        """(method, path) of every API call the sandbox was asked, oldest first (a live view of the log)."""
        return RequestView(self.log, lambda e: (e.method, e.path))
