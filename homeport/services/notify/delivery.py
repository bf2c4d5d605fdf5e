"""One sink's delivery: a bounded queue drained by its own task, rate-limited, retried with
exponential backoff. A sink that is down only ever delays its own queue: reconciles only
write events to the store, and the other sinks have queues of their own.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass

from homeport.clients.errors import ClientError
from homeport.clients.notify import Message, Sender
from homeport.controller.clock import Clock
from homeport.controller.config import NotifySettings
from homeport.controller.store import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Pending:
    message: Message
    record: int
    """The row in ``store.notifications``."""


class SinkQueue:
    def __init__(
        self, sender: Sender, settings: NotifySettings, store: Store, clock: Clock
    ) -> None:
        self.sender = sender
        self.settings = settings
        self.store = store
        self.clock = clock
        self._queue: deque[Pending] = deque()
        self._ready = asyncio.Event()
        self._sent_at: deque[float] = deque()

    def offer(self, item: Pending) -> None:
        if len(self._queue) >= self.settings.queue_size:
            dropped = self._queue.popleft()
            self._finish(dropped, "dropped", 0, "the queue was full")
            log.warning("notify sink %s: queue full, dropped the oldest", self.sender.name)
        self._queue.append(item)
        self._ready.set()

    @property
    def waiting(self) -> int:
        return len(self._queue)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            if not self._queue:
                self._ready.clear()
                await _first(self._ready.wait(), stop.wait())
                continue
            await self._rate_limit()
            item = self._queue.popleft()
            await self._deliver(item)

    async def _rate_limit(self) -> None:
        """At most ``rate_per_minute`` deliveries in any minute."""
        while len(self._sent_at) >= self.settings.rate_per_minute:
            wait = self._sent_at[0] + 60.0 - self.clock.monotonic()
            if wait <= 0:
                self._sent_at.popleft()
                continue
            await self.clock.sleep(wait)

    async def _deliver(self, item: Pending) -> None:
        error = ""
        for attempt in range(1, self.settings.retries + 2):
            self._sent_at.append(self.clock.monotonic())
            try:
                await self.sender.send(item.message)
                self._finish(item, "sent", attempt)
                return
            except ClientError as exc:
                error = str(exc)
            if attempt <= self.settings.retries:
                delay = min(self.settings.retry_max, self.settings.retry_base * 2 ** (attempt - 1))
                await self.clock.sleep(delay)
        log.warning("notify sink %s gave up on %s: %s", self.sender.name, item.message.title, error)
        self._finish(item, "failed", self.settings.retries + 1, error)

    def _finish(self, item: Pending, state: str, attempts: int, error: str = "") -> None:
        self.store.notifications.finished(
            item.record, state=state, attempts=attempts, now=self.clock.now(), error=error
        )


async def _first(*waits: object) -> None:
    tasks = [asyncio.ensure_future(w) for w in waits]  # type: ignore[call-overload]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
