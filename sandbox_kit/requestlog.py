"""The request log: what a sandbox was asked, in order, for tests and the console."""

from __future__ import annotations

import datetime as dt
from typing import Callable, Iterator

from attrs import define, field


@define(frozen=True)
class Entry:
    at: dt.datetime
    method: str
    path: str
    operation: str = ""  # the backend's name for it (an operationId), when it has one


@define
class RequestLog:
    clock: Callable[[], dt.datetime]
    entries: list[Entry] = field(factory=list)
    limit: int = 10_000  # the oldest go first

    def add(self, method: str, path: str, operation: str = "") -> Entry:
        entry = Entry(self.clock(), method, path, operation)
        self.entries.append(entry)
        del self.entries[:-self.limit]
        return entry

    def __iter__(self) -> Iterator[Entry]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def last(self, n: int = 20) -> list[Entry]:
        return self.entries[-n:]

    def clear(self) -> None:
        self.entries.clear()
