"""The work queue: keys (never events), deduplicated, one in flight per key, delays.

Semantics follow controller-runtime's workqueue: a key added while it is being processed
is marked dirty and comes back once ``done``; a key queued twice runs once; a delayed key
keeps its earliest due time. Time comes from the injected ``Clock``.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections import deque
from collections.abc import Hashable
from typing import Any, Generic, TypeVar

from homeport.controller.backoff import Backoff
from homeport.controller.clock import Clock

K = TypeVar("K", bound=Hashable)


class QueueShutDown(Exception):
    """The queue was shut down; workers should exit."""


class WorkQueue(Generic[K]):
    def __init__(self, clock: Clock, backoff: Backoff | None = None) -> None:
        self.clock = clock
        self.backoff = backoff or Backoff()
        self._ready: deque[K] = deque()
        self._queued: set[K] = set()
        self._processing: set[K] = set()
        self._dirty: set[K] = set()
        self._delayed: list[tuple[float, int, K]] = []
        self._due: dict[K, float] = {}
        self._seq = itertools.count()
        self._changed = asyncio.Event()
        self._shutdown = False

    # -- adding -------------------------------------------------------------------
    def add(self, key: K) -> None:
        """Queue ``key`` now (no-op if already queued; dirty if being processed)."""
        if self._shutdown:
            return
        self._due.pop(key, None)
        if key in self._processing:
            self._dirty.add(key)
            return
        if key not in self._queued:
            self._queued.add(key)
            self._ready.append(key)
            self._changed.set()

    def add_after(self, key: K, delay: float) -> None:
        """Queue ``key`` after ``delay`` seconds (the earliest due time wins)."""
        if delay <= 0:
            self.add(key)
            return
        if self._shutdown or key in self._queued:
            return
        due = self.clock.monotonic() + delay
        if key in self._due and self._due[key] <= due:
            return
        self._due[key] = due
        heapq.heappush(self._delayed, (due, next(self._seq), key))
        self._changed.set()

    def add_rate_limited(self, key: K) -> float:
        """Queue ``key`` after its backoff delay; return the delay."""
        delay = self.backoff.next_delay(key)
        self.add_after(key, delay)
        return delay

    def forget(self, key: K) -> None:
        """Reset the key's failure count (after a success)."""
        self.backoff.reset(key)

    # -- taking -------------------------------------------------------------------
    def _promote_due(self) -> None:
        now = self.clock.monotonic()
        while self._delayed and self._delayed[0][0] <= now + 1e-9:
            due, _, key = heapq.heappop(self._delayed)
            if self._due.get(key) == due:
                del self._due[key]
                self.add(key)

    def pop_ready(self) -> K | None:
        """Take the next ready key that is not being processed, if any (no waiting)."""
        self._promote_due()
        for _ in range(len(self._ready)):
            key = self._ready.popleft()
            self._queued.discard(key)
            if key in self._processing:
                self._dirty.add(key)
                continue
            self._processing.add(key)
            return key
        return None

    def next_due_in(self) -> float | None:
        """Seconds until the earliest delayed key is due (None when nothing is delayed)."""
        while self._delayed and self._due.get(self._delayed[0][2]) != self._delayed[0][0]:
            heapq.heappop(self._delayed)
        if not self._delayed:
            return None
        return max(self._delayed[0][0] - self.clock.monotonic(), 0.0)

    async def get(self) -> K:
        """Wait for the next key to process."""
        while True:
            if self._shutdown:
                raise QueueShutDown
            key = self.pop_ready()
            if key is not None:
                return key
            self._changed.clear()
            delay = self.next_due_in()
            waits: set[asyncio.Future[Any]] = {asyncio.ensure_future(self._changed.wait())}
            if delay is not None:
                waits.add(asyncio.ensure_future(self.clock.sleep(delay)))
            try:
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for future in waits:
                    if not future.done():
                        future.cancel()

    def done(self, key: K) -> None:
        """Finish processing ``key``; requeue it if it was added meanwhile."""
        self._processing.discard(key)
        if key in self._dirty:
            self._dirty.discard(key)
            self.add(key)
        self._changed.set()

    # -- state --------------------------------------------------------------------
    def shutdown(self) -> None:
        self._shutdown = True
        self._changed.set()

    def depth(self) -> int:
        """Keys waiting (ready or delayed), for the queue-depth metric."""
        return len(self._queued) + len(self._due)

    def busy(self) -> bool:
        """Keys ready to run or running (delayed keys, like periodic resyncs, do not count)."""
        self._promote_due()
        return bool(self._queued or self._processing)

    def is_processing(self, key: K) -> bool:
        return key in self._processing

    def due_at(self, key: K) -> float | None:
        """When a delayed key is due (monotonic clock), for tests and `status`."""
        return self._due.get(key)
