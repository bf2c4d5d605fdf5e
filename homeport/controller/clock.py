"""Time, injected: library code never reads the clock directly.

``SystemClock`` serves the daemon; ``FakeClock`` lets tests move time by hand and assert
exact virtual times (the queue's backoff, resync and failover timings).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """Wall-clock time (UTC), for timestamps and schedules."""
        ...

    def monotonic(self) -> float:
        """Seconds on a monotonic scale, for intervals and deadlines."""
        ...

    def sleep(self, seconds: float) -> Awaitable[None]:
        """Wait ``seconds`` of this clock's time (the deadline is fixed when called)."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> Awaitable[None]:
        return asyncio.sleep(max(seconds, 0.0))


class FakeClock:
    """A clock that only moves when told to; sleepers wake when time passes their deadline."""

    def __init__(self, start: datetime | None = None) -> None:
        self._start = start or datetime(2026, 1, 1, tzinfo=UTC)
        self._elapsed = 0.0
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []

    def now(self) -> datetime:
        return self._start + timedelta(seconds=self._elapsed)

    def monotonic(self) -> float:
        return self._elapsed

    def sleep(self, seconds: float) -> Awaitable[None]:
        # A plain function, not a coroutine: the deadline must count from the call, even
        # if the awaiting task only starts later.
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if seconds <= 0:
            future.set_result(None)
        else:
            self._sleepers.append((self._elapsed + seconds, future))
        return future

    def advance(self, seconds: float) -> None:
        """Move time forward and wake every sleeper whose deadline has passed."""
        self._elapsed += seconds
        due = [(t, f) for t, f in self._sleepers if t <= self._elapsed + 1e-9]
        self._sleepers = [(t, f) for t, f in self._sleepers if t > self._elapsed + 1e-9]
        for _, future in due:
            if not future.done():
                future.set_result(None)
